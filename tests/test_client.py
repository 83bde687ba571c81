"""tokens.client against the real site under gunicorn (3 workers, real Redis, 2 s access tokens).

Refreshes are counted with a counting transport on the client the auth uses for the token
endpoints; the traffic itself goes to the real server. The server runs with no rotation grace,
so a second refresh with a rotated token would end the session, not pass unnoticed.
"""

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.client_helpers import AsyncCountingTransport, CountingTransport
from tests.conftest import PASSWORD, ROOT, free_port
from tokens.client import (
    AuthUnavailable,
    FileTokenStore,
    LoginFailed,
    SessionExpired,
    TokenAuth,
    Tokens,
)

pytestmark = pytest.mark.live

ACCESS_SECONDS = 2
SERVER_ENV = {
    "TEST_ACCESS_SECONDS": str(ACCESS_SECONDS),
    "TEST_GRACE_SECONDS": "0",
    "TEST_URLCONF": "tests.echo_urls",
}
# 200 concurrent requests take more than a second on three workers: bursts that large run
# against 5 s access tokens, so a fresh token outlives the burst it was refreshed for.
LONG_ENV = {"TEST_ACCESS_SECONDS": "5", "TEST_GRACE_SECONDS": "0"}


@pytest.fixture
def api(gunicorn_servers, transactional_db, make_user):
    """Return the API root of a server with 2 s access tokens, and create alice."""
    make_user("alice")
    return gunicorn_servers(**SERVER_ENV).url + "/api"


@pytest.fixture
def long_api(gunicorn_servers, transactional_db, make_user):
    """Return the API root of a server with 5 s access tokens, and create alice."""
    make_user("alice")
    return gunicorn_servers(**LONG_ENV).url + "/api"


@pytest.fixture
def counting():
    """Return a counting transport and a client on it for the auth's token endpoint calls."""
    transport = CountingTransport()
    with httpx.Client(transport=transport) as client:
        transport.client = client
        yield transport


def login_body(api):
    response = httpx.post(f"{api}/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return response.json()


def stale_tokens(api):
    """Log in, then wait until the server expired the access token the client believes valid.

    The client is told the token lives an hour, so only the server's 401 can reveal expiry.
    """
    body = login_body(api)
    time.sleep(ACCESS_SECONDS + 0.1)
    return {**body, "expires_in": 3600}


def wait_until_due(auth, margin):
    """Sleep until the auth's access token is within `margin` seconds of expiring."""
    time.sleep(max(0.0, auth.store.load().remaining - margin) + 0.05)


def run_threads(count, work):
    """Run `work()` in `count` threads released together; return results or raised errors."""
    barrier = threading.Barrier(count)

    def one(_):
        barrier.wait()
        try:
            return work()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_client_imports_nothing_from_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, tokens.client; "
        "loaded = [m for m in ('django', 'rest_framework') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --- One refresh across threads and tasks -----------------------------------------------------


def test_fifty_threads_across_an_expiry_refresh_once(api, counting):
    auth = TokenAuth(
        api, username="alice", password=PASSWORD, refresh_margin=0.5, token_client=counting.client
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").json()["username"] == "alice"
        assert (counting.logins, counting.refreshes) == (1, 0)
        wait_until_due(auth, 0.5)
        results = run_threads(50, lambda: client.get(f"{api}/user/info"))
    assert [r.status_code for r in results] == [200] * 50
    assert {r.json()["username"] for r in results} == {"alice"}
    assert (counting.logins, counting.refreshes) == (1, 1)


def test_fifty_threads_answered_401_refresh_once_and_replay(api, counting):
    auth = TokenAuth(api, tokens=stale_tokens(api), token_client=counting.client)
    app = CountingTransport()
    with httpx.Client(auth=auth, transport=app) as client:
        results = run_threads(50, lambda: client.get(f"{api}/user/info"))
    assert [r.status_code for r in results] == [200] * 50
    assert counting.refreshes == 1
    # Each request that met a 401 was sent again once, with the refreshed token.
    assert 50 < app.count("/user/info") <= 100


async def run_tasks(count, work):
    start = asyncio.Event()

    async def one():
        await start.wait()
        try:
            return await work()
        except Exception as exc:
            return exc

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


@pytest.mark.parametrize("trigger", ["expiry", "401"])
def test_two_hundred_tasks_on_one_async_client_refresh_once(long_api, trigger):
    api = long_api
    # For the 401 case the client holds an access token the server refuses and believes good
    # for an hour (the threaded test above uses one the server expired).
    tokens = (
        {**login_body(api), "access_token": "refused", "expires_in": 3600}
        if trigger == "401"
        else None
    )

    async def main():
        transport = AsyncCountingTransport()
        async with httpx.AsyncClient(transport=transport) as token_client:
            if tokens is None:
                auth = TokenAuth(
                    api, username="alice", password=PASSWORD, async_token_client=token_client
                )
            else:
                auth = TokenAuth(api, tokens=tokens, async_token_client=token_client)
            async with httpx.AsyncClient(auth=auth, timeout=20) as client:
                if tokens is None:
                    assert (await client.get(f"{api}/user/info")).status_code == 200
                    # Default margin: a quarter of the 5 s lifetime before expiry.
                    await asyncio.sleep(max(0.0, auth.store.load().remaining - 1.25) + 0.05)
                results = await run_tasks(200, lambda: client.get(f"{api}/user/info"))
        return results, transport.refreshes

    results, refreshes = asyncio.run(main())
    assert [getattr(r, "status_code", r) for r in results] == [200] * 200
    assert refreshes == 1


def test_sync_and_async_clients_sharing_one_auth_refresh_once(api, counting):
    transport = AsyncCountingTransport()
    async_token_client = httpx.AsyncClient(transport=transport)
    auth = TokenAuth(
        api,
        tokens=stale_tokens(api),
        token_client=counting.client,
        async_token_client=async_token_client,
    )

    async def async_side():
        async with async_token_client, httpx.AsyncClient(auth=auth, timeout=20) as client:
            return await asyncio.gather(*(client.get(f"{api}/user/info") for _ in range(20)))

    with ThreadPoolExecutor(1) as pool, httpx.Client(auth=auth) as client:
        future = pool.submit(asyncio.run, async_side())
        sync_results = run_threads(20, lambda: client.get(f"{api}/user/info"))
        async_results = future.result()
    assert [r.status_code for r in [*sync_results, *async_results]] == [200] * 40
    assert counting.refreshes + transport.refreshes == 1


# --- Processes sharing a file store ------------------------------------------------------------


def test_two_processes_sharing_a_file_store_stay_signed_in(api, tmp_path):
    path = tmp_path / "session.json"
    auth = TokenAuth(api, store=FileTokenStore(path))
    auth.login("alice", PASSWORD)
    auth.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    seconds = 2.5 * ACCESS_SECONDS
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.client_helpers", api, str(path), str(seconds)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))
    for report in reports:
        assert report["errors"] == []
        assert set(report["statuses"]) == {"200"}
    # The access token is refreshed every 1.5 s (a quarter of 2 s early): over 5 s that is
    # about three refreshes between the two processes, not three each.
    assert 2 <= sum(r["refreshes"] for r in reports) <= 4
    later = TokenAuth(api, store=FileTokenStore(path))
    with httpx.Client(auth=later) as client:
        assert client.get(f"{api}/user/info").status_code == 200
    later.close()


def test_file_store_round_trips_a_pair_and_removes_it(tmp_path):
    path = tmp_path / "nested" / "session.json"
    store = FileTokenStore(path)
    tokens = Tokens("secret-a", "secret-r", 300.0, time.monotonic() + 120, 86400.0)
    store.save(tokens)
    loaded = FileTokenStore(path).load()
    assert (loaded.access_token, loaded.refresh_token, loaded.expires_in) == (
        "secret-a",
        "secret-r",
        300.0,
    )
    assert abs(loaded.remaining - tokens.remaining) < 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "secret" not in repr(loaded)
    store.save(None)
    assert not path.exists()
    assert FileTokenStore(path).load() is None


# --- Ended sessions ----------------------------------------------------------------------------


def test_revoked_session_makes_every_waiter_raise_session_expired_and_calls_back_once(
    api, counting
):
    expired = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        token_client=counting.client,
        on_session_expired=expired.append,
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").status_code == 200
        revoked = httpx.post(f"{api}/auth/revoke", json={"token": auth.store.load().refresh_token})
        assert revoked.status_code == 200
        results = run_threads(30, lambda: client.get(f"{api}/user/info"))
        assert all(isinstance(r, SessionExpired) for r in results), results
        assert len(expired) == 1
        assert expired[0].code == "session_revoked"
        assert {r.code for r in results} == {"session_revoked"}
        assert counting.refreshes == 1
        assert auth.store.load() is None
        # The session stays over: no silent login with the stored password, no more refreshes.
        with pytest.raises(SessionExpired):
            client.get(f"{api}/user/info")
        assert (counting.logins, counting.refreshes, len(expired)) == (1, 1, 1)
        # Until the program logs in again.
        auth.login()
        assert client.get(f"{api}/user/info").status_code == 200


def test_revoked_session_makes_every_task_raise_session_expired_and_calls_back_once(api):
    calls = []

    async def on_expired(exc):
        await asyncio.sleep(0)
        calls.append(exc.code)

    transport = AsyncCountingTransport()

    async def main():
        async with httpx.AsyncClient(transport=transport) as token_client:
            auth = TokenAuth(
                api,
                username="alice",
                password=PASSWORD,
                async_token_client=token_client,
                on_session_expired=on_expired,
            )
            async with httpx.AsyncClient(auth=auth, timeout=20) as client:
                assert (await client.get(f"{api}/user/info")).status_code == 200
                async with httpx.AsyncClient() as plain:
                    revoked = await plain.post(
                        f"{api}/auth/logout",
                        json={"refresh_token": auth.store.load().refresh_token},
                    )
                    assert revoked.status_code == 200
                return await run_tasks(100, lambda: client.get(f"{api}/user/info"))

    results = asyncio.run(main())
    assert all(isinstance(r, SessionExpired) for r in results), results
    assert calls == ["session_revoked"]
    assert transport.refreshes == 1


def test_logout_ends_the_server_session_and_clears_the_store(api, counting):
    updates = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        token_client=counting.client,
        on_tokens_updated=updates.append,
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").status_code == 200
        old = auth.store.load()
        auth.logout()
        assert auth.store.load() is None
        assert [type(u).__name__ for u in updates] == ["Tokens", "NoneType"]
        # The server forgot the session: neither token works any more.
        refused = httpx.post(f"{api}/auth/refresh", json={"refresh_token": old.refresh_token})
        assert refused.status_code == 403
        stale = httpx.get(
            f"{api}/user/info", headers={"Authorization": f"Bearer {old.access_token}"}
        )
        assert stale.status_code == 401
        with pytest.raises(SessionExpired):
            client.get(f"{api}/user/info")


def test_wrong_password_raises_login_failed(api):
    auth = TokenAuth(api, username="alice", password="wrong")
    with httpx.Client(auth=auth) as client, pytest.raises(LoginFailed) as caught:
        client.get(f"{api}/user/info")
    assert caught.value.code == "invalid_credentials"
    auth.close()


def test_a_refresh_token_alone_starts_the_session(api, counting):
    auth = TokenAuth(
        api, refresh_token=login_body(api)["refresh_token"], token_client=counting.client
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").status_code == 200
    assert (counting.logins, counting.refreshes) == (0, 1)


def test_bearer_token_is_never_sent_to_another_origin(api, gunicorn_servers, counting):
    # The other server shares the signing key and Redis: a token sent there would work.
    other = gunicorn_servers().url
    auth = TokenAuth(api, tokens=login_body(api), token_client=counting.client)
    with httpx.Client(auth=auth) as client:
        response = client.get(f"{other}/api/user/info")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert client.get(f"{api}/user/info").status_code == 200


# --- Replays -----------------------------------------------------------------------------------


def test_post_with_json_body_replayed_after_401_arrives_intact(api, counting):
    auth = TokenAuth(api, tokens=stale_tokens(api), token_client=counting.client)
    payload = {"note": "héllo ✓", "items": [1, 2.5, None, True], "nested": {"a": "b" * 5000}}
    app = CountingTransport()
    with httpx.Client(auth=auth, transport=app) as client:
        response = client.post(f"{api}/test/echo", json=payload)
    assert response.status_code == 200
    sent = httpx.Request("POST", "http://x", json=payload).content
    echoed = response.json()
    assert base64.b64decode(echoed["body"]) == sent
    assert echoed["content_type"] == "application/json"
    assert echoed["user"] == "alice"
    # The first attempt met the 401; the second carried the same bytes.
    assert app.count("/test/echo") == 2
    assert counting.refreshes == 1


def test_streaming_body_is_not_replayed_but_the_next_request_works(api, counting):
    auth = TokenAuth(api, tokens=stale_tokens(api), token_client=counting.client)
    app = CountingTransport()

    def chunks():
        yield b'{"streamed": '
        yield b"true}"

    # A length, so the WSGI server reads the streamed body (it does not take chunked uploads).
    headers = {"Content-Type": "application/json", "Content-Length": "18"}
    with httpx.Client(auth=auth, transport=app) as client:
        first = client.post(f"{api}/test/echo", content=chunks(), headers=headers)
        assert first.status_code == 401
        assert app.count("/test/echo") == 1
        # The 401 still refreshed the session: sending the body again now succeeds.
        second = client.post(f"{api}/test/echo", content=chunks(), headers=headers)
    assert second.status_code == 200
    assert base64.b64decode(second.json()["body"]) == b'{"streamed": true}'
    assert counting.refreshes == 1


# --- Redis down --------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path):
    """Start a redis-server of this test's own; return its port and a function restarting it."""
    port = free_port()
    command = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    processes = []

    def start():
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop():
        # SHUTDOWN SAVE writes the data to --dir, so a restart brings the sessions back.
        client = redis.Redis(port=port)
        client.shutdown(save=True)
        client.close()
        processes[-1].wait(10)

    start()
    yield port, start, stop
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def test_redis_down_during_refresh_raises_auth_unavailable_and_keeps_the_session(
    gunicorn_servers, transactional_db, make_user, own_redis, counting
):
    port, start_redis, stop_redis = own_redis
    make_user("alice")
    api = gunicorn_servers(**LONG_ENV, TOKENS_TEST_REDIS_PORT=str(port)).url + "/api"
    expired = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        refresh_margin=4.5,
        token_client=counting.client,
        on_session_expired=expired.append,
    )
    # A second session whose client believes its token good for an hour: it never refreshes.
    patient = TokenAuth(api, tokens={**login_body(api), "expires_in": 3600})
    with httpx.Client(auth=auth) as client, httpx.Client(auth=patient) as other:
        assert client.get(f"{api}/user/info").status_code == 200
        before = auth.store.load()
        stop_redis()
        # An API answer that needs no refresh reaches the caller as it is.
        down = other.get(f"{api}/user/info")
        assert (down.status_code, down.json()["code"]) == (503, "store_unavailable")
        wait_until_due(auth, 4.5)
        results = run_threads(10, lambda: client.get(f"{api}/user/info"))
        assert all(isinstance(r, AuthUnavailable) for r in results), results
        assert {(r.status_code, r.code) for r in results} == {(503, "store_unavailable")}
        assert expired == []
        assert auth.store.load() == before
        start_redis()
        # The kept tokens carry the session through: the next request refreshes and succeeds.
        assert client.get(f"{api}/user/info").status_code == 200
    assert auth.store.load().refresh_token != before.refresh_token
    assert expired == []


def test_unreachable_server_raises_auth_unavailable(counting):
    api = f"http://127.0.0.1:{free_port()}/api"
    auth = TokenAuth(api, refresh_token="some-token", token_client=counting.client)
    with httpx.Client(auth=auth) as client, pytest.raises(AuthUnavailable) as caught:
        client.get(f"{api}/user/info")
    assert caught.value.code == "network_error"
    assert auth.store.load().refresh_token == "some-token"
