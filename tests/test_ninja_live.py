"""Django Ninja served for real: the sync bearer under gunicorn, the async one under uvicorn.

Under uvicorn (one worker, one event loop), 50 requests at once, some of ended sessions, each
get their own answer; and while a request waits on a stalled Redis, the same event loop keeps
answering other requests.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import PASSWORD
from tests.harness import RedisServer, Uvicorn

pytestmark = pytest.mark.live


def log_in(url: str, username: str) -> dict[str, Any]:
    """Log in through the server's API; return the token response."""
    response = httpx.post(
        f"{url}/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def auth(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_the_sync_bearer_under_gunicorn(gunicorn_server, user):
    url = gunicorn_server.url
    body = log_in(url, "alice")
    me = httpx.get(f"{url}/api/ninja/me", headers=auth(body))
    assert me.status_code == 200, me.text
    assert me.json() == {"id": user.pk, "username": "alice"}

    missing = httpx.get(f"{url}/api/ninja/me")
    assert (missing.status_code, missing.json()["code"]) == (401, "not_authenticated")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'

    # Logged out in one worker, refused by every worker at once (3 workers, 6 requests).
    assert httpx.post(f"{url}/api/auth/logout", headers=auth(body)).status_code == 200
    for _ in range(6):
        ended = httpx.get(f"{url}/api/ninja/me", headers=auth(body))
        assert (ended.status_code, ended.json()["code"]) == (401, "session_revoked")
        assert ended.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.fixture(scope="module")
def debug_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The uvicorn server's Redis: its own, which accepts DEBUG SLEEP (the suite's does not)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start(options=("--enable-debug-command", "yes"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def uvicorn_server(django_db_setup: Any, debug_redis: RedisServer) -> Iterator[Uvicorn]:
    """The site under uvicorn (tests.ninja_settings), on `debug_redis`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.ninja_settings",
        "TOKENS_TEST_REDIS_PORT": str(debug_redis.port),
    }
    with Uvicorn(env) as server:
        yield server


@pytest.fixture
def users(transactional_db, make_user, debug_redis):
    """Five users; the server's Redis emptied first."""
    debug_redis.flushall()
    return [make_user(f"user{n}") for n in range(5)]


def test_fifty_concurrent_requests_under_uvicorn_each_get_their_answer(uvicorn_server, users):
    url = uvicorn_server.url
    # Ten sessions per user; every third one logged out.
    sessions = [(u, log_in(url, u.username)) for u in users for _ in range(10)]
    ended = set(range(0, len(sessions), 3))
    for n in ended:
        response = httpx.post(f"{url}/api/auth/logout", headers=auth(sessions[n][1]))
        assert response.status_code == 200, response.text

    async def all_at_once() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(sessions))
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.get(f"{url}/api/ninja/async/me", headers=auth(body))
                    for _, body in sessions
                )
            )

    for _ in range(2):
        responses = asyncio.run(all_at_once())
        for n, ((user, _), response) in enumerate(zip(sessions, responses, strict=True)):
            if n in ended:
                assert response.status_code == 401, response.text
                assert response.json()["code"] == "session_revoked"
            else:
                assert response.status_code == 200, response.text
                assert response.json() == {"id": user.pk, "username": user.username}


@pytest.mark.redis_store
def test_a_stalled_redis_does_not_block_the_event_loop(uvicorn_server, users, debug_redis):
    url = uvicorn_server.url
    body = log_in(url, "user0")
    # No retries: redis-py retries a timeout by default, past the stall.
    probe = redis.Redis(
        port=debug_redis.port, socket_timeout=0.2, retry=Retry(NoBackoff(), retries=0)
    )

    def redis_asleep() -> bool:
        try:
            probe.ping()
        except redis.exceptions.TimeoutError:
            return True
        return False

    async def scenario() -> tuple[httpx.Response, int, bool, bool]:
        async with httpx.AsyncClient(timeout=60) as client:
            with debug_redis.stalled(6):
                # This request's session check waits on Redis for the whole stall.
                held = asyncio.create_task(
                    client.get(f"{url}/api/ninja/async/me", headers=auth(body))
                )
                # Meanwhile the server's one event loop answers a view that needs no Redis,
                # again and again for half the stall: had the held request blocked the loop,
                # the first of these would have waited for Redis to wake.
                answered = 0
                until = time.monotonic() + 3
                while time.monotonic() < until:
                    ping = await client.get(f"{url}/tests/ninja/async/ping")
                    assert ping.status_code == 200, ping.text
                    answered += 1
                asleep, pending = await asyncio.to_thread(redis_asleep), not held.done()
            return await held, answered, asleep, pending

    try:
        held, answered, asleep, pending = asyncio.run(scenario())
    finally:
        probe.close()
    assert answered > 0
    # The pings were answered while Redis still slept and the held request still waited...
    assert asleep
    assert pending
    # ...which, once Redis woke, got its answer.
    assert held.status_code == 200, held.text
    assert held.json()["username"] == "user0"
