"""DRF authentication: a simplejwt bearer token whose session is still live."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.functional import SimpleLazyObject, empty
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from . import services
from .answers import bearer_token
from .errors import TokenInvalid, TokensError
from .exceptions import UserGoneError, access_error, header_types
from .jwt import SessionToken, jwt_api_settings


class SessionJWTAuthentication(JWTAuthentication):
    """Authenticate `Authorization: Bearer <access token>` and check its session in one round trip.

    Failures answer 401 with `WWW-Authenticate: Bearer` and a code: `access_token_invalid`,
    `access_token_expired` or `session_revoked`; Redis being down answers 503.
    """

    # simplejwt annotates the user with a type variable that none of the arguments binds, which
    # no concrete return type can match; the user returned is the model's.
    def authenticate(  # type: ignore[override]
        self, request: Request
    ) -> tuple[AbstractBaseUser, SessionToken] | None:
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
            token, user = services.authenticate_access_user(raw)
        except TokensError as exc:
            raise access_error(exc) from exc
        # The database store reads the user with the session check, in one query.
        return (self.get_user(token) if user is None else user), token

    def get_user(self, validated_token: Any) -> AbstractBaseUser:  # type: ignore[override]
        """Return the token's user, read from the database only when the view needs the row.

        The session was just found live, and a live session implies an existing, active user:
        deactivation and deletion end the user's sessions (`tokens.receivers`). So a view that
        needs only the user's id, `is_authenticated` or truthiness costs no query. The first
        read of anything else loads the row; a missing or inactive user (deleted or deactivated
        behind the site's back, by raw SQL or a queryset update, which send no signal) then
        still answers 401 `session_revoked`. Read first after the view (a middleware, a
        template), outside DRF's handling, it is Django's `PermissionDenied`: a 403, never a
        500 (`tokens.exceptions.UserGoneError`).
        """
        api = jwt_api_settings()
        model = get_user_model()
        claim = validated_token[api.USER_ID_CLAIM]
        load = partial(_load_user, claim)
        # A proxy that stands in for the model's user (Django's request.user is one too).
        return cast(
            "AbstractBaseUser", LazyUser(load, _known_attributes(model, api.USER_ID_FIELD, claim))
        )

    def get_header(self, request: Request) -> bytes | None:  # type: ignore[override]
        """Return the header `SIMPLE_JWT["AUTH_HEADER_NAME"]` names, read live, as bytes."""
        header = request.META.get(jwt_api_settings().AUTH_HEADER_NAME)
        if isinstance(header, str):
            header = header.encode(HTTP_HEADER_ENCODING)
        return header

    def get_raw_token(self, header: bytes) -> bytes | None:
        """Return the token of `<type> <token>` when `<type>` is one of `AUTH_HEADER_TYPES`.

        simplejwt freezes the accepted types when its module is imported; they are read live
        here (`tokens.answers.bearer_token`, the reader every integration shares), so a
        settings override (or a site that imports simplejwt early) is honoured. Another scheme
        (for example `Basic`) is not ours: None, as simplejwt answers.
        """
        name = jwt_api_settings().AUTH_HEADER_NAME
        try:
            token = bearer_token({name: header})
        except TokenInvalid as exc:
            # `authenticate` answers it as 401 access_token_invalid.
            raise AuthenticationFailed() from exc
        return None if token is None else token.encode(HTTP_HEADER_ENCODING)

    def authenticate_header(self, request: Request) -> str:
        """Return the `WWW-Authenticate` value; RFC 6750 adds `error` when a token was sent.

        The scheme is the first of `SIMPLE_JWT["AUTH_HEADER_TYPES"]` (`Bearer` by default).
        """
        value = f'{header_types()[0]} realm="api"'
        if request.META.get(jwt_api_settings().AUTH_HEADER_NAME):
            value += ', error="invalid_token"'
        return value


class LazyUser(SimpleLazyObject):
    """A user that loads itself on first use of anything but the attributes it already knows."""

    def __init__(self, load: Callable[[], Any], known: dict[str, Any]) -> None:
        self.__dict__["_tokens_known"] = known
        super().__init__(load)

    def __getattr__(self, name: str) -> Any:
        known = self.__dict__["_tokens_known"]
        if self._wrapped is empty and name in known:
            return known[name]
        return super().__getattr__(name)

    def __bool__(self) -> bool:
        # `request.user and ...` (DRF's IsAuthenticated) must not cost a query.
        if self._wrapped is empty and "__bool__" in self.__dict__["_tokens_known"]:
            return True
        return super().__bool__()


def _load_user(claim: Any) -> AbstractBaseUser:
    """Return the token's user; a missing or inactive user means the session is over."""
    user = services.token_user(claim)
    if user is None or not user.is_active:
        # 401 session_revoked in a DRF view; Django's 403 when first read after one.
        raise UserGoneError()
    return user


def _known_attributes(model: type[models.Model], field_name: str, claim: Any) -> dict[str, Any]:
    """Return what a user of this model answers without its row: its id, and that it is one.

    Only what is certain: the id when the claim converts exactly to the stored value (integer
    and UUID fields), and `is_authenticated` / `is_anonymous` / truthiness when the model keeps
    Django's own definitions.
    """
    known, field = _model_knowledge(model, field_name)
    known = dict(known)
    if field is None:
        return known
    try:
        value = field.to_python(claim)
    except ValidationError:
        return known
    known[field.name] = known[field.attname] = value
    if field.primary_key:
        known["pk"] = value
    return known


@functools.lru_cache(maxsize=32)
def _model_knowledge(
    model: type[models.Model], field_name: str
) -> tuple[dict[str, Any], models.Field[Any, Any] | None]:
    """Return what every user of the model answers without its row, and the id field to read.

    Asked on every authenticated request; a model's fields and methods do not change while it
    runs. The field is None when the claim cannot be trusted to equal the stored value.
    """
    known: dict[str, Any] = {}
    base = AbstractBaseUser.__dict__
    if (
        getattr(model, "is_authenticated", None) is base["is_authenticated"]
        and getattr(model, "is_anonymous", None) is base["is_anonymous"]
    ):
        known.update(is_authenticated=True, is_anonymous=False)
    if not hasattr(model, "__bool__") and not hasattr(model, "__len__"):
        known["__bool__"] = True
    try:
        field = model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return known, None
    if isinstance(field, models.IntegerField | models.UUIDField) and not field.is_relation:
        return known, cast("models.Field[Any, Any]", field)
    return known, None
