"""What a client is told when a token is refused: one code and one message per failure.

Every API the app answers through (the DRF endpoints and authentication class in
`tokens.exceptions`, Django Ninja in `tokens.contrib.ninja`, allauth's headless API in
`tokens.contrib.allauth`) reads them here, so a client sees the same `code`, the same
(translated) `detail` and the same challenge whichever it called; and each reads the bearer
token from the same header, the same way (`bearer_token()`).
No DRF import: an integration that runs without DRF's request machinery imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt import settings as jwt_settings

from .errors import SessionRevoked, TokenExpired, TokenInvalid, TokenReused, TokensError

if TYPE_CHECKING:
    # What gettext_lazy returns, as django-stubs (and DRF's stubs) name it.
    from django.utils.functional import _StrPromise

Answer = tuple[str, "_StrPromise"]

NOT_AUTHENTICATED: Answer = (
    "not_authenticated",
    _("Authentication credentials were not provided."),
)
STORE_UNAVAILABLE: Answer = (
    "store_unavailable",
    _("The session store is unavailable. Try again shortly."),
)
# Seconds a 503 asks the client to wait: long enough for a stalled Redis or a failover to
# pass, short enough that a user barely notices.
RETRY_AFTER_SECONDS = 1

_SESSION_ENDED: Answer = ("session_revoked", _("The session has ended. Log in again."))

# 401s: what authenticating an access token can meet.
_ACCESS: dict[type[TokensError], Answer] = {
    TokenInvalid: ("access_token_invalid", _("The access token is invalid.")),
    TokenExpired: ("access_token_expired", _("The access token has expired.")),
    TokenReused: _SESSION_ENDED,
    SessionRevoked: _SESSION_ENDED,
}

# 403s: what presenting a refresh token can meet.
_REFRESH: dict[type[TokensError], Answer] = {
    TokenInvalid: ("refresh_token_invalid", _("The refresh token is invalid.")),
    TokenExpired: ("refresh_token_expired", _("The refresh token has expired.")),
    TokenReused: (
        "refresh_token_reused",
        _("The refresh token was already used; the session has been ended."),
    ),
    SessionRevoked: _SESSION_ENDED,
}


def access_failure(exc: TokensError) -> Answer:
    """Return the code and detail of a domain error met while authenticating an access token."""
    return _ACCESS.get(type(exc), _ACCESS[TokenInvalid])


def refresh_failure(exc: TokensError) -> Answer:
    """Return the code and detail of a domain error met while refreshing."""
    return _REFRESH.get(type(exc), _REFRESH[TokenInvalid])


def session_ended() -> Answer:
    """Return the answer for a session that has ended (or a user gone behind the site's back)."""
    return _SESSION_ENDED


def header_types() -> tuple[str, ...]:
    """Return `SIMPLE_JWT["AUTH_HEADER_TYPES"]` as a tuple (simplejwt also takes one string).

    The first names the scheme of every `WWW-Authenticate` challenge the app sends.
    """
    # simplejwt replaces its settings object whenever SIMPLE_JWT changes: read it each time.
    types = jwt_settings.api_settings.AUTH_HEADER_TYPES
    return tuple(types) if isinstance(types, list | tuple) else (str(types),)


def bearer_token(meta: Mapping[str, Any]) -> str | None:
    """Return the token of a request's bearer header (`request.META`), or None if it has none.

    The header is `SIMPLE_JWT["AUTH_HEADER_NAME"]`, read as `<type> <token>` with `<type>` one
    of `AUTH_HEADER_TYPES` (case-sensitive, as simplejwt reads it); both settings are read live.
    A missing header, or one of another scheme (Basic, an API key), is not ours: None, so that
    another authentication may take it. One of ours that is not exactly two words raises
    `TokenInvalid`.
    """
    header = meta.get(jwt_settings.api_settings.AUTH_HEADER_NAME)
    if isinstance(header, bytes):
        # HTTP headers are Latin-1 (RFC 9110; DRF's HTTP_HEADER_ENCODING).
        header = header.decode("iso-8859-1")
    if not header:
        return None
    parts = header.split()
    if not parts or parts[0] not in header_types():
        return None
    if len(parts) != 2:
        raise TokenInvalid("The authorization header must be '<type> <token>'.")
    return str(parts[1])
