"""DRF authentication: a simplejwt bearer token whose session is still live."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from . import services
from .exceptions import SessionRevoked, TokenInvalid, TokensError, access_error
from .tokens import SessionToken, jwt_api_settings


class SessionJWTAuthentication(JWTAuthentication):
    """Authenticate `Authorization: Bearer <access token>` and check its session in one round trip.

    Failures answer 401 with `WWW-Authenticate: Bearer` and a code: `access_token_invalid`,
    `access_token_expired` or `session_revoked`; Redis being down answers 503.
    """

    def authenticate(self, request: Request) -> tuple[Any, SessionToken] | None:
        header = self.get_header(request)
        if header is None:
            return None
        try:
            raw = self.get_raw_token(header)
        except AuthenticationFailed as exc:
            raise access_error(TokenInvalid()) from exc
        if raw is None:
            return None
        try:
            token = services.authenticate_access(raw)
        except TokensError as exc:
            raise access_error(exc) from exc
        return self.get_user(token), token

    def get_user(self, validated_token: Any) -> Any:
        """Return the token's user; a missing or inactive user means the session is over."""
        api = jwt_api_settings()
        model = get_user_model()
        try:
            user = model._default_manager.get(
                **{api.USER_ID_FIELD: validated_token[api.USER_ID_CLAIM]}
            )
        except (model.DoesNotExist, ValueError, TypeError) as exc:
            raise access_error(SessionRevoked()) from exc
        if not user.is_active:
            raise access_error(SessionRevoked())
        return user

    def authenticate_header(self, request: Request) -> str:
        """Return the `WWW-Authenticate` value; RFC 6750 adds `error` when a token was sent."""
        value = 'Bearer realm="api"'
        if request.META.get("HTTP_AUTHORIZATION"):
            value += ', error="invalid_token"'
        return value
