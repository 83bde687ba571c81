"""Django Ninja authentication: a bearer access token whose session is still live, sync and async.

    from ninja import NinjaAPI
    from tokens.contrib.ninja import AsyncSessionBearer, SessionBearer, add_error_handlers

    api = NinjaAPI(auth=SessionBearer())
    add_error_handlers(api)

    @api.get("/me")
    def me(request):
        return {"id": request.auth.pk, "username": request.auth.username}

    @api.get("/async/me", auth=AsyncSessionBearer())
    async def async_me(request):
        return {"id": request.auth.pk, "username": request.auth.username}

The rules and codes are those of the DRF class (`tokens.authentication`): a missing token
answers 401 `not_authenticated`, a bad one `access_token_invalid`, an expired one
`access_token_expired`, one whose session has ended (logout, revocation, reuse, a password
change, a user deleted or deactivated) `session_revoked` at once, all with
`WWW-Authenticate: Bearer`; a store that cannot answer 503 `store_unavailable` with
`Retry-After`. The bearer raises the errors below; `add_error_handlers(api)` renders them as
`{"code", "detail"}`. Without it they still answer 401 and 503, in Ninja's `{"detail"}` shape.

`request.auth` and `request.user` are the user, loaded by its key (one query, the async ORM's
thread for the async class) and refused when it is missing or inactive: deleted or deactivated
behind the site's back (raw SQL, a queryset update), it answers 401 `session_revoked`, as the
DRF class does. `AsyncSessionBearer` checks the session without blocking the event loop: through
redis-py's asyncio client on the Redis store, the async ORM on the database store
(`BaseStore.ais_live()`).

It uses `tokens.services`, `tokens.answers`, `tokens.jwt`, `tokens.stores`, `tokens.errors`
and `tokens.conf` only: nothing of the app's views or of DRF's request handling.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import Promise
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer

from .. import services
from ..answers import (
    NOT_AUTHENTICATED,
    RETRY_AFTER_SECONDS,
    STORE_UNAVAILABLE,
    access_failure,
    bearer_token,
    header_types,
    session_ended,
)
from ..errors import StoreUnavailable, TokenInvalid, TokensError
from ..jwt import SessionAccessToken, decode, jwt_api_settings
from ..stores import get_store

__all__ = [
    "AsyncSessionBearer",
    "BearerError",
    "SessionBearer",
    "StoreUnavailableError",
    "add_error_handlers",
]


class BearerError(AuthenticationError):
    """401: the access token is invalid or expired, or its session has ended.

    `code` is the stable code of the JSON body. It is Ninja's `AuthenticationError`, so an API
    without `add_error_handlers()` still answers 401.
    """

    def __init__(self, code: str, detail: Promise | str) -> None:
        super().__init__(401, str(detail))
        self.code = code
        self.detail = detail

    @classmethod
    def of(cls, error: TokensError) -> BearerError:
        """Return the 401 a domain error met while authenticating stands for."""
        return cls(*access_failure(error))


class StoreUnavailableError(HttpError):
    """503 `store_unavailable`: the session store cannot answer; retry after `retry_after` s.

    Nothing was applied: the client sends the same request again.
    """

    code, detail = STORE_UNAVAILABLE
    retry_after = RETRY_AFTER_SECONDS

    def __init__(self) -> None:
        super().__init__(503, str(self.detail))


class _SessionBearerBase(HttpBearer):
    """Read `SIMPLE_JWT["AUTH_HEADER_NAME"]` as the DRF class does, with its types read live."""

    def __call__(self, request: HttpRequest) -> Any:
        try:
            token = bearer_token(request.META)
        except TokenInvalid as exc:
            raise BearerError(*access_failure(exc)) from exc
        if token is None:
            # No header, or another scheme (Basic, an API key): not ours. The next auth of the
            # list may take it, or Ninja answers 401 not_authenticated.
            return None
        return self.authenticate(request, token)

    def _token(self, raw: str) -> SessionAccessToken:
        try:
            return decode(raw, SessionAccessToken)  # type: ignore[return-value]
        except TokensError as exc:
            raise BearerError.of(exc) from exc


class SessionBearer(_SessionBearerBase):
    """Authenticate a bearer access token and check its session is live (sync views)."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        """Return the token's user (also set as `request.user`); raise a 401 or 503 error."""
        try:
            # With the database store the user comes with the session check, in one query.
            access, user = services.authenticate_access_user(token)
        except StoreUnavailable as exc:
            raise StoreUnavailableError() from exc
        except TokensError as exc:
            raise BearerError.of(exc) from exc
        if user is None:
            user = services.token_user(_claim(access))
        return _signed_in(request, user)


class AsyncSessionBearer(_SessionBearerBase):
    """Authenticate a bearer access token and check its session is live, for async views.

    Nothing blocks the event loop: the session is checked through the store's `ais_live()`
    and the user read through Django's async ORM thread.
    """

    async def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        """Return the token's user (also set as `request.user`); raise a 401 or 503 error."""
        access = self._token(token)
        try:
            live = await get_store().ais_live(access.user_id, access.session_id, time.time())
        except StoreUnavailable as exc:
            raise StoreUnavailableError() from exc
        if not live:
            raise BearerError(*session_ended())
        # What the async ORM's aget() does: the sync query in Django's thread for sync code.
        user = await sync_to_async(services.token_user)(_claim(access))
        return _signed_in(request, user)


def _claim(access: SessionAccessToken) -> Any:
    return access[jwt_api_settings().USER_ID_CLAIM]


def _signed_in(request: HttpRequest, user: AbstractBaseUser | None) -> AbstractBaseUser:
    # A live session implies an existing, active user: deletion and deactivation end the
    # user's sessions. A user changed behind the site's back (raw SQL, a queryset update)
    # sends no signal, so the row is asked too.
    if user is None or not user.is_active:
        raise BearerError(*session_ended())
    # Django annotates request.user with its own User; the site's model is any AbstractBaseUser.
    request.user = user  # type: ignore[assignment]
    return user


def add_error_handlers(api: NinjaAPI) -> None:
    """Make `api` answer the bearers' errors as the app's API does: `{"code", "detail"}`.

    401s carry `WWW-Authenticate` (the first of `SIMPLE_JWT["AUTH_HEADER_TYPES"]`, with
    `error="invalid_token"` when a token was sent), 503s `Retry-After`. It also renders Ninja's
    own 401 (no credentials: `not_authenticated`) and a `tokens.errors.StoreUnavailable`
    raised by a view that calls the services (503).
    """

    def unauthorized(request: HttpRequest, exc: Any) -> HttpResponse:
        code, detail = (exc.code, exc.detail) if isinstance(exc, BearerError) else NOT_AUTHENTICATED
        response = api.create_response(request, {"code": code, "detail": str(detail)}, status=401)
        challenge = f'{header_types()[0]} realm="api"'
        if request.META.get(jwt_api_settings().AUTH_HEADER_NAME):
            challenge += ', error="invalid_token"'
        response["WWW-Authenticate"] = challenge
        return response

    def unavailable(request: HttpRequest, exc: Any) -> HttpResponse:
        body = {"code": StoreUnavailableError.code, "detail": str(StoreUnavailableError.detail)}
        response = api.create_response(request, body, status=503)
        response["Retry-After"] = str(StoreUnavailableError.retry_after)
        return response

    api.add_exception_handler(AuthenticationError, unauthorized)
    api.add_exception_handler(StoreUnavailableError, unavailable)
    api.add_exception_handler(StoreUnavailable, unavailable)
