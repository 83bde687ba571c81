"""RFC 7662 token introspection: what a service client learns about a token."""

from __future__ import annotations

import time
from typing import Any

from .. import services
from ..jwt import (
    SessionAccessToken,
    SessionRefreshToken,
    SessionToken,
    decode_either,
    jwt_api_settings,
)
from ..stores import get_store

INACTIVE: dict[str, Any] = {"active": False}


def introspect(raw: str, hint: str | None = None) -> dict[str, Any]:
    """Return the RFC 7662 answer for a token: its claims while its session is live.

    Anything else (badly signed, expired, another site's, a session that has ended, a refresh
    token its session has rotated away, a user deleted or deactivated) is `{"active": false}`,
    with nothing more, as §2.2 asks. A store that cannot answer raises `StoreUnavailable`.
    """
    first = SessionRefreshToken if hint == "refresh_token" else SessionAccessToken
    token = decode_either(raw, try_first=first)
    return dict(INACTIVE) if token is None else _describe(token)


def _describe(token: SessionToken) -> dict[str, Any]:
    if isinstance(token, SessionRefreshToken):
        # Active exactly when a refresh with it would succeed: the session's own refresh token
        # (or its predecessor inside the grace window); a rotated-away one is a replay.
        live = services.refresh_outcome(token) in ("rotated", "grace")
    else:
        live = get_store().is_live(token.user_id, token.session_id, time.time())
    if not live:
        return dict(INACTIVE)
    user = services.token_user(token[jwt_api_settings().USER_ID_CLAIM])
    if user is None or not getattr(user, "is_active", True):
        return dict(INACTIVE)
    answer: dict[str, Any] = {
        "active": True,
        "sub": token.user_id,
        "username": user.get_username(),
        "exp": token["exp"],
        "iat": token["iat"],
        "sid": token.session_id,
        # The RFC 7009 token type hint's vocabulary: which of the pair this token is.
        "token_type": f"{token.token_type}_token",
        "jti": token.jti,
    }
    # The token's own: with a key pair and no ISSUER, the origin its request came to.
    issuer = token.payload.get("iss") or jwt_api_settings().ISSUER
    if issuer:
        answer["iss"] = issuer
    return answer
