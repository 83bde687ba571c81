"""Redis stopped, frozen, restarted, evicting or losing keys: the site fails fast and safe.

The outage tests run their own redis-server on a free port (never the machine's, never the
run's shared one) and a gunicorn server pointed at it, then stop and start that Redis under it.
"""

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import redis
from django.core.checks import run_checks

from tests.conftest import PASSWORD, bearer, login
from tests.harness import RedisServer, free_port
from tokens.checks import check_eviction_policy

LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
INFO = "/api/user/info"
LOGOUT = "/api/auth/logout"
# The promise: every call answers within about a second (one 0.5 s socket timeout) while Redis
# is down. The bound is twice that, so that a busy 2-core machine does not fail it; a hang
# (gunicorn's 30 s) or a retry loop around the timeout still does.
DEADLINE = 2.0


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.thaw()
    server.stop()


@pytest.fixture
def site(own_redis, gunicorn_servers, transactional_db, make_user):
    """A fresh Redis of our own, alice, and a 3-worker gunicorn server that uses that Redis."""
    own_redis.wipe()
    make_user("alice")
    server = gunicorn_servers(TOKENS_TEST_REDIS_PORT=str(own_redis.port))
    yield server
    own_redis.thaw()


# One client for the module: building one per request costs more than the calls measured. It
# keeps no connection open (gunicorn's sync workers close each one), so it needs no closing.
http = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def call(method: str, url: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.request(method, url, **kwargs)
    return response, time.monotonic() - started


def log_in(site) -> dict:
    response, _ = call(
        "POST", f"{site.url}{LOGIN}", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def every_kind_of_call(site, pair: dict) -> list[tuple[str, str, dict]]:
    return [
        ("POST", f"{site.url}{LOGIN}", {"json": {"username": "alice", "password": PASSWORD}}),
        ("POST", f"{site.url}{REFRESH}", {"json": {"refresh_token": pair["refresh_token"]}}),
        ("GET", f"{site.url}{INFO}", {"headers": auth(pair["access_token"])}),
        ("POST", f"{site.url}{LOGOUT}", {"headers": auth(pair["access_token"])}),
    ]


def assert_fast_503s(site, pair: dict) -> None:
    """Send every kind of call, one per worker at a time: each is a quick 503."""
    calls = every_kind_of_call(site, pair) * 6
    # As many clients as workers: more would wait in gunicorn's queue, which measures the queue.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda c: call(c[0], c[1], **c[2]), calls))
    for (method, url, _), (response, elapsed) in zip(calls, results, strict=True):
        assert response.status_code == 503, (method, url, response.text)
        assert response.json()["code"] == "store_unavailable"
        assert elapsed < DEADLINE, (method, url, elapsed)


def works(site, pair: dict) -> dict:
    """Use the session (call, refresh, call) and return the new pair."""
    response, _ = call("GET", f"{site.url}{INFO}", headers=auth(pair["access_token"]))
    assert response.status_code == 200, response.text
    response, _ = call(
        "POST", f"{site.url}{REFRESH}", json={"refresh_token": pair["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    response, _ = call("GET", f"{site.url}{INFO}", headers=auth(fresh["access_token"]))
    assert response.status_code == 200, response.text
    return fresh


@pytest.mark.live
def test_redis_stopped_answers_503_fast_and_the_site_recovers_by_itself(site, own_redis):
    own_redis.start()
    pair = log_in(site)
    own_redis.stop()
    assert_fast_503s(site, pair)
    # Started again, empty (no persistence): old sessions are gone, which only logs people
    # out; new logins work at once, with no restart of the site.
    own_redis.start()
    response, _ = call("GET", f"{site.url}{INFO}", headers=auth(pair["access_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    works(site, log_in(site))


@pytest.mark.live
def test_redis_frozen_answers_503_within_the_deadline_and_recovers(site, own_redis):
    own_redis.start()
    pair = log_in(site)
    # SIGSTOP: connections are accepted by the kernel but nothing answers (a hung Redis or a
    # network black hole), the slow failure that socket timeouts exist for.
    own_redis.freeze()
    assert_fast_503s(site, pair)
    own_redis.thaw()
    works(site, pair)


@pytest.mark.live
def test_a_refresh_answered_503_by_a_stalled_redis_costs_the_client_nothing(
    site, own_redis, gunicorn_servers
):
    # DEBUG SLEEP stalls Redis itself: the refresh answers 503 at the socket timeout, and Redis
    # runs the script it was sent when it wakes. That script must apply nothing: a client that
    # retries the same token, even after the grace window, gets a working pair (before, the
    # rotation was applied and the retry ended the session as reuse).
    own_redis.start(options=("--enable-debug-command", "yes"))
    # One worker, warmed up: its connection to Redis is open and Redis knows the scripts, so the
    # refresh is really sent (a fresh connection would time out in its handshake instead).
    server = gunicorn_servers(
        workers=1, TOKENS_TEST_REDIS_PORT=str(own_redis.port), TEST_GRACE_SECONDS="1"
    )
    pair = works(server, log_in(server))
    with own_redis.stalled(2):
        response, _ = call(
            "POST", f"{server.url}{REFRESH}", json={"refresh_token": pair["refresh_token"]}
        )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "store_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    time.sleep(1.5)  # past the grace window
    works(server, pair)


@pytest.mark.live
def test_sessions_survive_a_crash_of_redis_with_aof(site, own_redis):
    own_redis.start(aof=True)
    kept = log_in(site)
    ended = log_in(site)
    response, _ = call("POST", f"{site.url}{LOGOUT}", headers=auth(ended["access_token"]))
    assert response.status_code == 200
    kept = works(site, kept)
    own_redis.stop(signal.SIGKILL)  # a crash: no shutdown save, only what appendfsync wrote
    own_redis.start(aof=True)
    works(site, kept)
    # The session that ended before the crash did not come back.
    response, _ = call(
        "POST", f"{site.url}{REFRESH}", json={"refresh_token": ended["refresh_token"]}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "session_revoked"


# --- Keys lost under the site (in-process, on the run's Redis) -----------------------------


@pytest.mark.django_db
def test_a_deleted_session_key_stops_its_tokens_and_nothing_comes_back(
    api, user, redis_server, settings
):
    settings.TOKENS = {
        **settings.TOKENS,
        "ROTATION_GRACE_PERIOD": timedelta(0),
    }
    revoked = login(api)
    assert api.post(LOGOUT, **bearer(revoked["access_token"])).status_code == 200
    live = login(api)
    rotated_away = live["refresh_token"]
    live = api.post(REFRESH, {"refresh_token": rotated_away}, format="json").json()
    keys = [k for k in redis_server.keys("tokens:{u:*") if b"index" not in k]
    assert keys
    redis_server.delete(*keys)
    for pair in (live, revoked):
        response = api.get(INFO, **bearer(pair["access_token"]))
        assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
    for token in (live["refresh_token"], rotated_away, revoked["refresh_token"]):
        response = api.post(REFRESH, {"refresh_token": token}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "session_revoked")
    # Logging in again starts a new session; none of the old tokens rides on it.
    fresh = login(api)
    assert api.get(INFO, **bearer(fresh["access_token"])).status_code == 200
    for pair in (live, revoked):
        assert api.get(INFO, **bearer(pair["access_token"])).status_code == 401
        response = api.post(REFRESH, {"refresh_token": pair["refresh_token"]}, format="json")
        assert response.status_code == 403


@pytest.fixture
def redis_config(redis_server):
    """Let a test change the run's Redis configuration; put it back afterwards."""
    saved = redis_server.config_get("maxmemory*")
    yield redis_server
    redis_server.config_set("maxmemory", saved["maxmemory"])
    redis_server.config_set("maxmemory-policy", saved["maxmemory-policy"])


@pytest.mark.django_db
def test_sessions_evicted_under_memory_pressure_stop_working(api, user, redis_config):
    pairs = [login(api) for _ in range(3)]
    redis_config.config_set("maxmemory-policy", "allkeys-random")
    # Any limit below what is in use makes Redis evict on the next write until it fits.
    used = int(redis_config.info("memory")["used_memory"])
    redis_config.config_set("maxmemory", str(used // 2))
    for i in range(200):
        try:
            redis_config.set(f"filler:{i}", "x" * 1000)
        except redis.exceptions.OutOfMemoryError:
            break
    redis_config.config_set("maxmemory", "0")
    assert redis_config.info("stats")["evicted_keys"] > 0
    assert not redis_config.keys("tokens:{u:*")
    for pair in pairs:
        response = api.get(INFO, **bearer(pair["access_token"]))
        assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
        response = api.post(REFRESH, {"refresh_token": pair["refresh_token"]}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "session_revoked")


# --- The eviction-policy check ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "warned"),
    [
        ("allkeys-lru", True),
        ("allkeys-lfu", True),
        ("allkeys-random", True),
        ("noeviction", False),
        ("volatile-lru", False),
        ("volatile-ttl", False),
    ],
)
def test_check_warns_about_allkeys_eviction(redis_config, policy, warned):
    redis_config.config_set("maxmemory-policy", policy)
    messages = check_eviction_policy()
    assert [m.id for m in messages] == (["tokens.W001"] if warned else [])
    assert all(policy in m.msg and "noeviction" in (m.hint or "") for m in messages)


def test_check_is_registered_and_silent_when_redis_is_down(redis_config, settings):
    redis_config.config_set("maxmemory-policy", "allkeys-lru")
    assert "tokens.W001" in {m.id for m in run_checks()}
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    assert check_eviction_policy() == []


@pytest.mark.live
def test_a_login_while_the_database_is_unreachable_answers_503_not_500(
    gunicorn_servers, transactional_db, caplog
):
    # With the database store the database is the session store; with either store it is
    # where the password is checked. A closed port stands for a database that is down.
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/tokens"
    server = gunicorn_servers(workers=1, DATABASE_URL=closed)
    for body in (
        {"username": "alice", "password": PASSWORD},
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
    ):
        path = LOGIN if "grant_type" not in body else "/api/auth/token"
        response = httpx.post(server.url + path, json=body, timeout=10)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "store_unavailable"
        assert response.headers["Retry-After"]
