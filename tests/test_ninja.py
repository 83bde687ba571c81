"""Django Ninja: `tokens.contrib.ninja`'s bearers answer as the DRF class does, sync and async.

In process, through the demo's API at /api/ninja/ (`accounts/ninja_api.py`): the sync view
through Django's test client, the async view through Django's `AsyncClient` (the ASGI handler,
an event loop). The stores' `ais_live()` on every store and topology. tests/test_ninja_live.py
serves the same views from gunicorn and uvicorn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import AsyncClient

from tests.conftest import (
    bearer,
    cluster_cache,
    login,
    sentinel_cache,
    use_redis_store_on,
)
from tests.harness import free_port
from tokens import services
from tokens.jwt import SessionAccessToken, decode
from tokens.stores import get_store
from tokens.stores.redis import aclose_async_clients

T = TypeVar("T")

SYNC, ASYNC = "/api/ninja/me", "/api/ninja/async/me"
BOTH = pytest.mark.parametrize("path", [SYNC, ASYNC], ids=["sync", "async"])


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a new event loop; close the loop's Redis clients before it ends."""

    async def main() -> T:
        try:
            return await make()
        finally:
            await aclose_async_clients()

    return asyncio.run(main())


def get(api: Any, path: str, **headers: str) -> Any:
    """GET `path` from the sync view (test client) or the async one (AsyncClient, an event loop)."""
    if path == SYNC:
        return api.get(
            path, **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        )
    return run(lambda: AsyncClient().get(path, headers=headers))


def token_headers(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def assert_401(response: Any, code: str, *, token_sent: bool = True) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    challenge = 'Bearer realm="api"' + (', error="invalid_token"' if token_sent else "")
    assert response["WWW-Authenticate"] == challenge


# transactional_db: the async view reads the user and the database store in Django's thread for
# sync code, on a connection of its own, which sees only what was committed.
pytestmark = pytest.mark.usefixtures("transactional_db")


@BOTH
def test_a_live_session_gets_the_user(api, user, path):
    body = login(api)
    response = get(api, path, **token_headers(body["access_token"]))
    assert response.status_code == 200, response.content
    assert response.json() == {"id": user.pk, "username": "alice"}


@BOTH
def test_no_token_is_401_not_authenticated(api, user, path):
    assert_401(get(api, path), "not_authenticated", token_sent=False)


@BOTH
@pytest.mark.parametrize(
    "header", ["Bearer not-a-jwt", "Bearer a b", "Bearer"], ids=["garbage", "three", "bare"]
)
def test_a_bad_token_is_401_access_token_invalid(api, user, path, header):
    assert_401(get(api, path, Authorization=header), "access_token_invalid")


@BOTH
def test_a_refresh_token_is_not_an_access_token(api, user, path):
    body = login(api)
    assert_401(get(api, path, **token_headers(body["refresh_token"])), "access_token_invalid")


@BOTH
def test_another_scheme_is_not_ours(api, user, path):
    # Basic credentials are another auth's business: not a token of ours, and no user.
    assert_401(get(api, path, Authorization="Basic YWxpY2U6eA=="), "not_authenticated")


@BOTH
def test_an_expired_token_is_401_access_token_expired(api, user, path, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=-5)}
    body = login(api)
    assert_401(get(api, path, **token_headers(body["access_token"])), "access_token_expired")


@BOTH
def test_logout_ends_the_access_token_at_once(api, user, path):
    body = login(api)
    assert get(api, path, **token_headers(body["access_token"])).status_code == 200
    assert api.post("/api/auth/logout", **bearer(body["access_token"])).status_code == 200
    assert_401(get(api, path, **token_headers(body["access_token"])), "session_revoked")


@BOTH
def test_reuse_of_a_refresh_token_ends_the_access_token(api, user, path, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    body = login(api)
    assert (
        api.post(
            "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
        ).status_code
        == 200
    )
    reused = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert reused.json()["code"] == "refresh_token_reused"
    assert_401(get(api, path, **token_headers(body["access_token"])), "session_revoked")


@BOTH
@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_user_changed_behind_the_sites_back_does_not_pass(api, user, path, change):
    body = login(api)
    model = get_user_model()
    # A queryset update and raw SQL send no signal: the session is still live in the store.
    if change == "deactivated":
        model.objects.filter(pk=user.pk).update(is_active=False)
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = %s", [user.pk])  # noqa: S608
    session_id = decode(body["access_token"], SessionAccessToken).session_id
    assert get_store().is_live(str(user.pk), session_id, time.time())
    assert_401(get(api, path, **token_headers(body["access_token"])), "session_revoked")


@BOTH
@pytest.mark.redis_store
def test_redis_down_is_503_with_retry_after(api, user, path, settings):
    body = login(api)
    # A port nothing listens on: the store cannot answer.
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    response = get(api, path, **token_headers(body["access_token"]))
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "store_unavailable"
    assert response["Retry-After"] == "1"


@pytest.mark.urls("tests.ninja_urls")
@pytest.mark.parametrize("path", ["/tests/ninja/who", "/tests/ninja/async/who"])
def test_request_user_is_the_user_too(api, user, path):
    body = login(api)
    response = get(api, path, **token_headers(body["access_token"]))
    assert response.json() == {"auth": user.pk, "user": user.pk}


@pytest.mark.urls("tests.ninja_urls")
def test_without_the_error_handlers_a_failure_is_still_401(api, user):
    # A site that forgot add_error_handlers(): Ninja's own shape, but never a 200 or a 500.
    body = login(api)
    services.logout_everywhere(user)
    response = api.get("/tests/ninja-bare/who", **bearer(body["access_token"]))
    assert response.status_code == 401
    assert response.json() == {"detail": "The session has ended. Log in again."}


@pytest.mark.urls("tests.ninja_urls")
def test_a_store_outage_raised_by_a_view_is_503(api, settings):
    # A Ninja view that calls the services on a Redis store that cannot answer.
    settings.TOKENS = {**settings.TOKENS, "STORE": "tokens.stores.redis.RedisStore"}
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"},
    }
    response = api.get("/tests/ninja/live-sessions")
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert response["Retry-After"] == "1"


def test_the_header_name_and_types_are_read_live(api, user, settings):
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        "AUTH_HEADER_NAME": "HTTP_X_ACCESS",
        "AUTH_HEADER_TYPES": ("JWT",),
    }
    body = login(api)
    assert get(api, SYNC, X_Access=f"JWT {body['access_token']}").status_code == 200
    assert get(api, ASYNC, **{"X-Access": f"JWT {body['access_token']}"}).status_code == 200
    # The standard header is no longer read: no credentials, and the challenge names JWT.
    refused = get(api, SYNC, **token_headers(body["access_token"]))
    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
    assert refused["WWW-Authenticate"] == 'JWT realm="api"'


# --- ais_live() on every store -----------------------------------------------------------------


STORES = ["redis", "db", "redis-sentinel", "redis-cluster"]


@pytest.fixture(params=STORES)
def store_kind(request, settings):
    """Put the sessions in each store and topology in turn (the async client built from it)."""
    kind = request.param
    if kind == "db":
        settings.TOKENS = {**settings.TOKENS, "STORE": "tokens.stores.db.DatabaseStore"}
    elif kind == "redis":
        use_redis_store_on(settings, "default", settings.CACHES["default"])
    elif kind == "redis-sentinel":
        use_redis_store_on(
            settings, "sessions", sentinel_cache(request.getfixturevalue("redis_sentinel"))
        )
    else:
        use_redis_store_on(
            settings, "sessions", cluster_cache(request.getfixturevalue("redis_cluster"))
        )
    return kind


def test_ais_live_answers_as_is_live(user, store_kind):
    store = get_store()
    live = services.login(user)
    ended = services.login(user)
    services.end_session(str(user.pk), ended.session_id, reason="logout")
    now = time.time()
    cases = [
        (str(user.pk), live.session_id, now),
        (str(user.pk), ended.session_id, now),
        (str(user.pk), "no-such-session", now),
        ("999999", live.session_id, now),
        # Past its expiry: not live, whatever the store still holds.
        (str(user.pk), live.session_id, now + 30 * 86400),
    ]

    async def ask() -> list[bool]:
        return [await store.ais_live(*case) for case in cases]

    expected = [store.is_live(*case) for case in cases]
    assert expected == [True, False, False, False, False]
    assert run(ask) == expected


def test_ais_live_works_on_a_second_event_loop(user):
    # A redis.asyncio connection belongs to the loop that opened it: each loop gets its own.
    pair = services.login(user)
    args = (str(user.pk), pair.session_id, time.time())
    assert run(lambda: get_store().ais_live(*args))
    assert run(lambda: get_store().ais_live(*args))
