"""simplejwt token classes that carry the session id (`sid`), and the one place that mints them.

simplejwt freezes `lifetime` and its token backend at import time; these subclasses read
`SIMPLE_JWT` live instead, so a settings override (tests, RS256 sites) takes effect at once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.utils import timezone
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import Token

from .exceptions import TokenExpired, TokenInvalid

SESSION_ID_CLAIM = "sid"

# (settings object, backend built from it). Holding the settings object itself, not its id(),
# means a replaced SIMPLE_JWT can never be mistaken for the cached one.
_backend_cache: list[tuple[Any, TokenBackend]] = []


def jwt_api_settings() -> Any:
    """Return simplejwt's current settings object (replaced whenever SIMPLE_JWT changes)."""
    return jwt_settings.api_settings


def token_backend() -> TokenBackend:
    """Return a simplejwt `TokenBackend` built from the current `SIMPLE_JWT` settings."""
    api = jwt_api_settings()
    if _backend_cache and _backend_cache[0][0] is api:
        return _backend_cache[0][1]
    backend = TokenBackend(
        api.ALGORITHM,
        api.SIGNING_KEY,
        api.VERIFYING_KEY,
        api.AUDIENCE,
        api.ISSUER,
        api.JWK_URL,
        api.LEEWAY,
        api.JSON_ENCODER,
    )
    _backend_cache[:] = [(api, backend)]
    return backend


class SessionToken(Token):
    """A simplejwt token bound to a session through its `sid` claim."""

    lifetime_setting: ClassVar[str]

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return getattr(jwt_api_settings(), self.lifetime_setting)

    @property
    def token_backend(self) -> TokenBackend:
        return token_backend()

    def set_jti(self) -> None:
        self.payload[jwt_api_settings().JTI_CLAIM] = new_jti()

    def verify_token_type(self) -> None:
        claim = jwt_api_settings().TOKEN_TYPE_CLAIM
        if self.payload.get(claim) != self.token_type:
            raise TokenError("Token has wrong type")

    def verify(self) -> None:
        super().verify()
        if not isinstance(self.payload.get(SESSION_ID_CLAIM), str):
            raise TokenError("Token has no session")
        if self.payload.get(jwt_api_settings().USER_ID_CLAIM) is None:
            raise TokenError("Token has no user")

    @property
    def session_id(self) -> str:
        """Return the id of the session this token belongs to."""
        return str(self.payload[SESSION_ID_CLAIM])

    @property
    def user_id(self) -> str:
        """Return the user id claim, as a string (the store's key part)."""
        return str(self.payload[jwt_api_settings().USER_ID_CLAIM])

    @property
    def jti(self) -> str:
        """Return the token id."""
        return str(self.payload[jwt_api_settings().JTI_CLAIM])


class SessionAccessToken(SessionToken):
    """Short-lived bearer token; valid only while its session is live."""

    token_type = "access"  # noqa: S105 (a claim value, not a secret)
    lifetime_setting = "ACCESS_TOKEN_LIFETIME"


class SessionRefreshToken(SessionToken):
    """Long-lived token traded for a new pair at `/api/auth/refresh`; rotates on every use."""

    token_type = "refresh"  # noqa: S105 (a claim value, not a secret)
    lifetime_setting = "REFRESH_TOKEN_LIFETIME"


def new_jti() -> str:
    """Return a fresh token id: 128 random bits in 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def decode(raw: str | bytes, token_class: type[SessionToken]) -> SessionToken:
    """Validate a raw token of the given class, raising `TokenExpired` or `TokenInvalid`."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("ascii")
        except UnicodeEncodeError as exc:
            raise TokenInvalid("Token is not ASCII") from exc
    try:
        return token_class(raw)  # type: ignore[arg-type]
    except ExpiredTokenError as exc:
        raise TokenExpired(str(exc)) from exc
    except TokenError as exc:
        raise TokenInvalid(str(exc)) from exc


def mint_access(user_id: Any, session_id: str) -> SessionAccessToken:
    """Mint a fresh access token for a session."""
    token = SessionAccessToken()
    _bind(token, user_id, session_id)
    return token


def mint_refresh(
    user_id: Any,
    session_id: str,
    *,
    jti: str | None = None,
    issued_at: int | None = None,
    expires_at: int | None = None,
) -> SessionRefreshToken:
    """Mint a refresh token; given the same jti, iat and exp it is byte-for-byte the same token.

    Re-minting is how the grace window hands concurrent refreshes the SAME successor without
    the store ever holding a raw token.
    """
    token = SessionRefreshToken()
    api = jwt_api_settings()
    if jti is not None:
        token[api.JTI_CLAIM] = jti
    if issued_at is not None:
        token["iat"] = issued_at
    if expires_at is not None:
        token["exp"] = expires_at
    _bind(token, user_id, session_id)
    return token


def _bind(token: SessionToken, user_id: Any, session_id: str) -> None:
    token[jwt_api_settings().USER_ID_CLAIM] = user_id
    token[SESSION_ID_CLAIM] = session_id


def epoch(moment: datetime | None = None) -> int:
    """Return a moment (default: now) as whole seconds since the epoch."""
    return int((moment or timezone.now()).timestamp())
