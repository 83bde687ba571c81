"""tokens.client against the real site under gunicorn (3 workers, real Redis, short tokens).

Refreshes are counted with a counting transport on the client the auth uses for the token
endpoints; the traffic itself goes to the real server. The servers run with no rotation grace,
so a second refresh with a rotated token would end the session, not pass unnoticed.

Tests that must see a token expire in real time use 3 s access tokens. Bursts of hundreds of
requests can outlast such a token on a busy machine (a refreshed token would expire before the
burst is through), so they run against 30 s tokens and start from a token the client already
holds as expiring, or one the server refuses.
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.client_helpers import AsyncCountingTransport, CountingTransport
from tests.conftest import PASSWORD, ROOT
from tests.harness import RedisServer, free_port
from tokens.client import (
    AuthUnavailable,
    FileTokenStore,
    LoginFailed,
    SessionExpired,
    TokenAuth,
    Tokens,
)
from tokens.client.stores import TokenStore

pytestmark = pytest.mark.live


def stored(holder: TokenAuth | TokenStore) -> Tokens:
    """Return the pair a client or store holds, which the test expects to be there."""
    tokens = (holder.store if isinstance(holder, TokenAuth) else holder).load()
    assert tokens is not None
    return tokens


SHORT_SECONDS = 3
SHORT_ENV = {"TEST_ACCESS_SECONDS": str(SHORT_SECONDS), "TEST_GRACE_SECONDS": "0"}
LONG_SECONDS = 30
LONG_ENV = {
    "TEST_ACCESS_SECONDS": str(LONG_SECONDS),
    "TEST_GRACE_SECONDS": "0",
    "TEST_URLCONF": "tests.echo_urls",
}


@pytest.fixture
def alice(transactional_db, make_user):
    """Create alice where the gunicorn servers see her."""
    return make_user("alice")


@pytest.fixture
def short_api(gunicorn_servers, alice):
    """Return the API root of a server with 3 s access tokens."""
    return gunicorn_servers(**SHORT_ENV).url + "/api"


@pytest.fixture
def api(gunicorn_servers, alice):
    """Return the API root of a server with 30 s access tokens and the echo endpoint."""
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


def stale_tokens(short_api):
    """Log in, then wait until the server expired the access token the client believes valid.

    The client is told the token lives an hour, so only the server's 401 can reveal expiry.
    """
    body = login_body(short_api)
    time.sleep(SHORT_SECONDS + 0.1)
    return {**body, "expires_in": 3600}


def refused_tokens(api):
    """Return a live session's pair with an access token the server refuses (401) at once."""
    return {**login_body(api), "access_token": "refused", "expires_in": 3600}


def expiring_tokens(api):
    """Return a fresh pair as if received a lifetime ago: the client finds it due for refresh."""
    return Tokens.from_response(login_body(api), received_at=time.monotonic() - LONG_SECONDS)


def wait_until_due(auth, margin):
    """Sleep until the auth's access token is within `margin` seconds of expiring."""
    time.sleep(max(0.0, stored(auth).remaining - margin) + 0.05)


@pytest.fixture
def spawn():
    """Return a function starting `python <args>` without Django settings; kill leftovers."""
    started = []

    def start(*args, **env):
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
                "PYTHONPATH": str(ROOT),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def finish(process):
    """Wait for a process started by `spawn`; return its exit code and output."""
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


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


def test_fifty_threads_across_an_expiry_refresh_once(short_api, counting):
    api = short_api
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


def test_fifty_threads_answered_401_after_expiry_refresh_once_and_replay(short_api, counting):
    api = short_api
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


@pytest.mark.parametrize("start", [expiring_tokens, refused_tokens])
def test_two_hundred_tasks_on_one_async_client_refresh_once(api, start):
    tokens = start(api)

    async def main():
        transport = AsyncCountingTransport()
        async with httpx.AsyncClient(transport=transport) as token_client:
            auth = TokenAuth(api, tokens=tokens, async_token_client=token_client)
            async with httpx.AsyncClient(auth=auth, timeout=30) as client:
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
        tokens=refused_tokens(api),
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


def test_two_processes_sharing_a_file_store_stay_signed_in(short_api, tmp_path, spawn):
    api = short_api
    path = tmp_path / "session.json"
    auth = TokenAuth(api, store=FileTokenStore(path))
    auth.login("alice", PASSWORD)
    auth.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    seconds = 1.5 * SHORT_SECONDS
    workers = [spawn("-m", "tests.client_helpers", api, str(path), str(seconds)) for _ in range(2)]
    reports = []
    for worker in workers:
        code, out, err = finish(worker)
        assert code == 0, err
        reports.append(json.loads(out))
    for report in reports:
        assert report["errors"] == []
        assert set(report["statuses"]) == {"200"}
    # The access token is refreshed every 2.25 s (a quarter of 3 s early): over 4.5 s that is
    # one or two refreshes between the two processes, not that many each.
    assert 1 <= sum(r["refreshes"] for r in reports) <= 3
    later = TokenAuth(api, store=FileTokenStore(path))
    with httpx.Client(auth=later) as client:
        assert client.get(f"{api}/user/info").status_code == 200
    later.close()


def test_file_store_round_trips_a_pair_and_removes_it(tmp_path):
    path = tmp_path / "nested" / "session.json"
    store = FileTokenStore(path)
    tokens = Tokens("secret-a", "secret-r", 300.0, time.monotonic() + 120, 86400.0)
    store.save(tokens)
    loaded = stored(FileTokenStore(path))
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
    expired: list[SessionExpired] = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        token_client=counting.client,
        on_session_expired=expired.append,
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").status_code == 200
        revoked = httpx.post(f"{api}/auth/revoke", json={"token": stored(auth).refresh_token})
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
                        json={"refresh_token": stored(auth).refresh_token},
                    )
                    assert revoked.status_code == 200
                return await run_tasks(100, lambda: client.get(f"{api}/user/info"))

    results = asyncio.run(main())
    assert all(isinstance(r, SessionExpired) for r in results), results
    assert calls == ["session_revoked"]
    assert transport.refreshes == 1


def test_logout_ends_the_server_session_and_clears_the_store(api, counting):
    updates: list[Tokens | None] = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        token_client=counting.client,
        on_tokens_updated=updates.append,
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api}/user/info").status_code == 200
        old = stored(auth)
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


def test_bearer_token_is_never_sent_to_another_origin(api, short_api, counting):
    # The other server shares the signing key and Redis: a token sent there would work.
    other = short_api.removesuffix("/api")
    auth = TokenAuth(api, tokens=login_body(api), token_client=counting.client)
    with httpx.Client(auth=auth) as client:
        response = client.get(f"{other}/api/user/info")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert client.get(f"{api}/user/info").status_code == 200


# --- Replays -----------------------------------------------------------------------------------


def test_post_with_json_body_replayed_after_401_arrives_intact(api, counting):
    auth = TokenAuth(api, tokens=refused_tokens(api), token_client=counting.client)
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
    auth = TokenAuth(api, tokens=refused_tokens(api), token_client=counting.client)
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
    """A redis-server of this test's own; with AOF on, a restart brings the sessions back."""
    server = RedisServer(tmp_path)
    server.start(aof=True)
    yield server
    server.stop()


def test_redis_down_during_refresh_raises_auth_unavailable_and_keeps_the_session(
    gunicorn_servers, alice, own_redis, counting
):
    api = gunicorn_servers(**LONG_ENV, TOKENS_TEST_REDIS_PORT=str(own_redis.port)).url + "/api"
    expired: list[SessionExpired] = []
    auth = TokenAuth(
        api,
        username="alice",
        password=PASSWORD,
        refresh_margin=LONG_SECONDS - 0.5,
        token_client=counting.client,
        on_session_expired=expired.append,
    )
    # A second session whose client believes its token good for an hour: it never refreshes.
    patient = TokenAuth(api, tokens={**login_body(api), "expires_in": 3600})
    with httpx.Client(auth=auth) as client, httpx.Client(auth=patient) as other:
        assert client.get(f"{api}/user/info").status_code == 200
        before = stored(auth)
        own_redis.stop()
        # An API answer that needs no refresh reaches the caller as it is.
        down = other.get(f"{api}/user/info")
        assert (down.status_code, down.json()["code"]) == (503, "store_unavailable")
        wait_until_due(auth, LONG_SECONDS - 0.5)
        results = run_threads(10, lambda: client.get(f"{api}/user/info"))
        assert all(isinstance(r, AuthUnavailable) for r in results), results
        assert {(r.status_code, r.code) for r in results} == {(503, "store_unavailable")}
        assert expired == []
        assert auth.store.load() == before
        own_redis.start(aof=True)
        # The kept tokens carry the session through: the next request refreshes and succeeds.
        assert client.get(f"{api}/user/info").status_code == 200
    assert stored(auth).refresh_token != before.refresh_token
    assert expired == []


def test_unreachable_server_raises_auth_unavailable(counting):
    api = f"http://127.0.0.1:{free_port()}/api"
    auth = TokenAuth(api, refresh_token="some-token", token_client=counting.client)
    with httpx.Client(auth=auth) as client, pytest.raises(AuthUnavailable) as caught:
        client.get(f"{api}/user/info")
    assert caught.value.code == "network_error"
    assert stored(auth).refresh_token == "some-token"


# --- The documented examples -------------------------------------------------------------------

EXAMPLES = ROOT / "examples"
DEMO_PASSWORD = "demo-password-123"


@pytest.fixture
def example(spawn):
    """Return a function starting an example script as the docs say to run it, against `api`."""

    def start(api, name, *args, **env):
        return spawn(str(EXAMPLES / name), *args, TOKENS_API=api, **env)

    return start


def test_examples_run_as_documented(api, django_user_model, tmp_path, example):
    django_user_model.objects.create_user("demo", password=DEMO_PASSWORD)
    doc = (ROOT / "docs" / "python-client.md").read_text()
    for path in EXAMPLES.glob("client_*.py"):
        assert path.read_text() in doc, f"docs/python-client.md lost {path.name}"

    # Alone, so that the session count it prints is its own.
    assert finish(example(api, "client_script.py"))[:2] == (
        0,
        "signed in as demo\nlive sessions: 1\n",
    )
    threads, tasks = example(api, "client_threads.py"), example(api, "client_asyncio.py")
    assert finish(threads)[:2] == (0, "100 of 100 requests succeeded\n")
    assert finish(tasks)[:2] == (0, "100 of 100 requests succeeded\n")

    cli = {"TOKENS_SESSION_FILE": str(tmp_path / "session"), "TOKENS_PASSWORD": DEMO_PASSWORD}
    assert finish(example(api, "client_cli.py", "login", "demo", **cli))[:2] == (0, "logged in\n")
    runs = [example(api, "client_cli.py", "whoami", **cli) for _ in range(3)]
    assert [finish(run)[:2] for run in runs] == [(0, "demo\n")] * 3
    assert finish(example(api, "client_cli.py", "logout", **cli))[:2] == (0, "logged out\n")
    code, _, err = finish(example(api, "client_cli.py", "whoami", **cli))
    assert (code, err) == (1, "not logged in: run `login <username>` first\n")
