"""DRF authentication for a service that accepts the auth server's access tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt
from django.utils.translation import gettext_lazy as _
from jwt.exceptions import ExpiredSignatureError, InvalidTokenError
from rest_framework import HTTP_HEADER_ENCODING, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ..errors import SessionRevoked, StoreUnavailable, TokenExpired, TokenInvalid
from ..exceptions import AccessTokenError, ServiceUnavailable, TokensAPIException, access_error
from .conf import expected_issuer, resource_settings
from .jwks import KeysUnavailable, jwks_cache
from .liveness import LivenessUnavailable, session_is_live


class AuthServerUnavailable(TokensAPIException):
    """503: the auth server's keys or its introspection endpoint could not be reached."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The authentication server is unavailable. Try again shortly.")
    default_code = "auth_server_unavailable"


@dataclass(frozen=True)
class ServiceUser:
    """The user an access token names, as a service without the auth server's users sees it.

    `id` is the token's user id claim (a string), `session_id` its session, `claims` the whole
    verified payload: the site's custom claims too (`TOKENS["ACCESS_CLAIMS"]` at the auth
    server), as `user.claims["role"]` (DRF's `request.auth` is the same dict).
    """

    id: str
    session_id: str
    claims: dict[str, Any] = field(default_factory=dict, repr=False)
    is_active = True
    is_staff = False
    is_superuser = False
    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> str:
        """Return the user id."""
        return self.id

    def get_username(self) -> str:
        """Return the user id (the service does not know the username)."""
        return self.id


class ResourceTokenAuthentication(BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>` issued by the auth server.

    The token is verified offline with the JWKS key its `kid` names, with that key's own
    algorithm (an HS256 header, or any other, is refused); then its session is checked live
    (`TOKENS_RESOURCE["LIVENESS"]`). Failures answer 401 with `WWW-Authenticate: Bearer` and
    the auth server's codes: `access_token_invalid` (also an unknown `kid`),
    `access_token_expired`, `session_revoked`; 503 `store_unavailable` or
    `auth_server_unavailable` when the check cannot be made.
    """

    def authenticate(self, request: Request) -> tuple[ServiceUser, dict[str, Any]] | None:
        """Return (user, claims) for a valid bearer token, None when none is sent."""
        raw = self._raw_token(request)
        if raw is None:
            return None
        claims = self._verified_claims(raw)
        user_id = claims.get(resource_settings.USER_ID_CLAIM)
        session_id = claims.get("sid")
        if (
            claims.get(resource_settings.TOKEN_TYPE_CLAIM) != "access"
            or not isinstance(session_id, str)
            or user_id is None
        ):
            raise access_error(TokenInvalid())
        try:
            live = session_is_live(raw, str(user_id), session_id)
        except StoreUnavailable as exc:
            raise ServiceUnavailable() from exc
        except LivenessUnavailable as exc:
            raise AuthServerUnavailable() from exc
        if not live:
            raise access_error(SessionRevoked())
        return ServiceUser(id=str(user_id), session_id=session_id, claims=claims), claims

    def authenticate_header(self, request: Request) -> str:
        """Return the `WWW-Authenticate` value (RFC 6750)."""
        value = f'{resource_settings.AUTH_HEADER_TYPES[0]} realm="api"'
        if request.META.get("HTTP_AUTHORIZATION"):
            value += ', error="invalid_token"'
        return value

    def _raw_token(self, request: Request) -> str | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        if isinstance(header, bytes):
            header = header.decode(HTTP_HEADER_ENCODING)
        parts = header.split()
        if not parts or parts[0] not in resource_settings.AUTH_HEADER_TYPES:
            return None
        if len(parts) != 2:
            raise access_error(TokenInvalid())
        return str(parts[1])

    def _verified_claims(self, raw: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(raw).get("kid")
        except InvalidTokenError as exc:
            raise access_error(TokenInvalid()) from exc
        if not isinstance(kid, str):
            raise access_error(TokenInvalid())
        try:
            key = jwks_cache.key_for(kid)
        except KeysUnavailable as exc:
            raise AuthServerUnavailable() from exc
        if key is None:
            raise AccessTokenError(
                _("The access token is signed with an unknown key."), "access_token_invalid"
            )
        audience = resource_settings.AUDIENCE
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                key,
                algorithms=[key.algorithm_name],
                audience=audience,
                issuer=expected_issuer(),
                leeway=float(resource_settings.LEEWAY),
                options={"require": ["exp", "iat", "iss"], "verify_aud": audience is not None},
            )
        except ExpiredSignatureError as exc:
            raise access_error(TokenExpired()) from exc
        except InvalidTokenError as exc:
            raise access_error(TokenInvalid()) from exc
        return claims
