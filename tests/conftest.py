"""Fixtures: a real redis-server per test run, API clients, users, and real gunicorn servers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from pytest_redis import factories
from rest_framework.test import APIClient

from tests import harness

ROOT = harness.ROOT
PASSWORD = "correct-horse-battery"

redis_proc = factories.redis_proc(port=int(os.environ["TOKENS_TEST_REDIS_PORT"]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "redis_store: about the Redis store itself (its keys, its outages); left out of a run "
        "on another store (TOKENS_TEST_STORE=db), whose own such tests are in tests/contract/",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the database store, deselect the tests about the Redis store itself."""
    if os.environ.get("TOKENS_TEST_STORE", "redis") == "redis":
        return
    kept = [item for item in items if item.get_closest_marker("redis_store") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(autouse=True)
def redis_server(redis_proc: Any) -> Iterator[redis.Redis]:
    """Give every test an empty Redis (the run's own server, never the machine's)."""
    client = redis.Redis(host="127.0.0.1", port=redis_proc.port)
    client.flushall()
    from tests import settings as test_settings

    # A run on Sentinel or Cluster (TOKENS_TEST_STORE): the site's Redis is that one.
    for topology in (test_settings.TEST_SENTINEL, test_settings.TEST_CLUSTER):
        if topology is not None:
            topology.flushall()
    yield client
    client.close()


# Redis Sentinel and Redis Cluster: started once per run, and only when a test asks for them
# (the contract suite's `redis-sentinel` and `redis-cluster` params, the failover tests), so a
# run that needs neither does not pay for them. A run on one of them (TOKENS_TEST_STORE=sentinel
# or cluster) has it started by tests/settings.py instead, before any server reads the settings.


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RedisSentinel]:
    """A Redis Sentinel of the run's own: a primary, 2 replicas, 3 sentinels."""
    from tests import settings as test_settings

    running = test_settings.TEST_SENTINEL
    if running is not None:
        yield running
        return
    with harness.RedisSentinel(tmp_path_factory.mktemp("sentinel")) as sentinel:
        yield sentinel


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RedisCluster]:
    """A Redis Cluster of the run's own: 3 primaries with a replica each."""
    from tests import settings as test_settings

    running = test_settings.TEST_CLUSTER
    if running is not None:
        yield running
        return
    with harness.RedisCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


def sentinel_cache(sentinel: harness.RedisSentinel, timeout: float = 0.5) -> dict[str, Any]:
    """Return a django-redis cache configuration on a Sentinel's primary (as config/settings.py)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        # One URL (the primary, is_master=1): every read and write goes to the primary.
        "LOCATION": [f"redis://{sentinel.master_name}/0?is_master=1"],
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": sentinel.sentinels,
            "SENTINEL_KWARGS": {"socket_timeout": timeout, "socket_connect_timeout": timeout},
            "SOCKET_CONNECT_TIMEOUT": timeout,
            "SOCKET_TIMEOUT": timeout,
        },
    }


def cluster_cache(cluster: harness.RedisCluster, timeout: float = 0.5) -> dict[str, Any]:
    """Return a django-redis cache configuration on a Cluster (as config/settings.py)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": cluster.url,
        "OPTIONS": {
            "CONNECTION_FACTORY": "tokens.stores.redis.ClusterConnectionFactory",
            "SOCKET_CONNECT_TIMEOUT": timeout,
            "SOCKET_TIMEOUT": timeout,
        },
    }


def use_redis_store_on(settings: Any, alias: str, cache: dict[str, Any]) -> None:
    """Keep the sessions in the Redis store on `cache`, added to CACHES as `alias`."""
    settings.CACHES = {**settings.CACHES, alias: cache}
    settings.TOKENS = {
        **settings.TOKENS,
        "STORE": "tokens.stores.redis.RedisStore",
        "CACHE_ALIAS": alias,
    }


@pytest.fixture
def api() -> APIClient:
    """Return a DRF test client."""
    return APIClient()


@pytest.fixture
def make_user(django_user_model: type[AbstractUser]) -> Callable[..., AbstractBaseUser]:
    """Return a function that creates a user with the test password."""

    def make(username: str = "alice", **fields: Any) -> AbstractBaseUser:
        fields.setdefault("email", f"{username}@example.com")
        return django_user_model.objects.create_user(username=username, password=PASSWORD, **fields)

    return make


@pytest.fixture
def user(db: None, make_user: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    """Return a user named alice whose password is `PASSWORD`."""
    return make_user()


def login(
    client: APIClient, username: str = "alice", password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    """Log in through the API and return the token response body."""
    response = client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json", **extra
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access_token: str) -> dict[str, Any]:
    """Return test-client keyword arguments that send a bearer token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}


def sessions_of(client: APIClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Return `GET /api/auth/sessions` as the session of a token response sees it."""
    response = client.get("/api/auth/sessions", **bearer(body["access_token"]))
    assert response.status_code == 200, response.content
    return response.json()


def current_id(client: APIClient, body: dict[str, Any]) -> str:
    """Return the id of the session a token response belongs to."""
    return next(s["id"] for s in sessions_of(client, body) if s["current"])


class LiveServer(harness.Gunicorn):
    """A gunicorn server running the site with the test settings on a loopback port."""

    def __init__(self, env: dict[str, str], workers: int = 3) -> None:
        super().__init__(
            {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}, workers=workers
        )


@pytest.fixture(scope="session")
def gunicorn_servers(
    django_db_setup: Any, django_db_blocker: Any, redis_proc: Any
) -> Iterator[Callable[..., LiveServer]]:
    """Return a function that starts (or reuses) a gunicorn server for the given TEST_* env."""
    servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}

    def start(workers: int = 3, **env: str) -> LiveServer:
        key = (("workers", str(workers)), *sorted(env.items()))
        if key not in servers:
            servers[key] = LiveServer(env, workers)
        return servers[key]

    yield start
    # Stopped together: a run starts dozens, and one after another they took about 15 s to end.
    with ThreadPoolExecutor(max(len(servers), 1)) as pool:
        list(pool.map(LiveServer.stop, servers.values()))


@pytest.fixture
def gunicorn_server(
    gunicorn_servers: Callable[..., LiveServer], transactional_db: None
) -> LiveServer:
    """A 3-worker gunicorn server with the default test settings."""
    return gunicorn_servers()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse to run a test that starts gunicorn unless it is marked `live`.

    `make test-fast` deselects `live`; a test that starts a server without saying so would slip
    into it. The mark stays written on the test, where a reader sees it, and this check keeps
    it honest: it looks at what is about to run, after `-m` and `-k` have deselected.
    """
    unmarked = {
        item.nodeid: None
        for item in session.items
        if "gunicorn_servers" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("live") is None
    }
    if unmarked:
        raise pytest.UsageError(
            "these tests start gunicorn (through the gunicorn_servers fixture) but are not "
            "marked @pytest.mark.live:\n  " + "\n  ".join(unmarked)
        )
