"""The store contract suite's fixtures: `store` is each store in turn, on a real server.

- `redis`: the Redis store on the run's redis-server (tests/conftest.py);
- `redis-sentinel`, `redis-cluster`: the Redis store on the run's Sentinel (a primary, 2
  replicas, 3 sentinels) and Cluster (3 primaries, a replica each), started on first use;
- `database-sqlite`: the database store on the test database of the default alias (a file, so
  that threads have connections of their own and really run at once);
- `database-postgresql`: the database store on PostgreSQL (the `postgres` alias of
  tests/settings.py; TOKENS_TEST_POSTGRES names the server), with every model routed there.

A test runs inside a transaction rolled back at its end, except those marked `concurrent`, which
commit for real: their threads, each with its own connection, see only what is committed.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections

from tests.conftest import cluster_cache, sentinel_cache, use_redis_store_on
from tokens.jwt import new_jti
from tokens.stores import BaseStore, Rotation, SessionRecord, get_store

STORE_PATHS = {
    "redis": "tokens.stores.redis.RedisStore",
    "redis-sentinel": "tokens.stores.redis.RedisStore",
    "redis-cluster": "tokens.stores.redis.RedisStore",
    "database-sqlite": "tokens.stores.db.DatabaseStore",
    "database-postgresql": "tokens.stores.db.DatabaseStore",
}


class EverythingOnPostgres:
    """A database router that sends every model to the `postgres` alias."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "postgres"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "postgres"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True


class TokensOnPostgres(EverythingOnPostgres):
    """A database router that sends the tokens app's models to `postgres`, the rest to default."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:  # type: ignore[override]
        return "postgres" if model._meta.app_label == "tokens" else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:  # type: ignore[override]
        return "postgres" if model._meta.app_label == "tokens" else None


HAS_POSTGRES = "postgres" in django_settings.DATABASES


def database_params(*, transaction: bool = False) -> list[Any]:
    """Return the params of the database store: SQLite, and PostgreSQL unless turned off."""
    params = [pytest.param("database-sqlite", marks=pytest.mark.django_db(transaction=transaction))]
    if HAS_POSTGRES:
        databases = ["default", "postgres"]
        params.append(
            pytest.param(
                "database-postgresql",
                marks=pytest.mark.django_db(transaction=transaction, databases=databases),
            )
        )
    return params


def store_params(*, transaction: bool = False) -> list[Any]:
    """Return the params of every store."""
    return [
        pytest.param("redis", marks=pytest.mark.django_db(transaction=transaction)),
        pytest.param("redis-sentinel", marks=pytest.mark.django_db(transaction=transaction)),
        pytest.param("redis-cluster", marks=pytest.mark.django_db(transaction=transaction)),
        *database_params(transaction=transaction),
    ]


# For a test whose threads must see each other's writes, as requests do: each thread has its
# own connection, which sees only what is committed (slower: the tables are emptied after).
concurrent = pytest.mark.parametrize("store_kind", store_params(transaction=True), indirect=True)


@pytest.fixture(params=store_params())
def store_kind(request: pytest.FixtureRequest, settings: Any) -> str:
    """Configure the store (and, for PostgreSQL, the database router) of this test's param."""
    kind: str = request.param
    if kind == "database-sqlite":
        assert connections["default"].vendor == "sqlite"
    if kind == "database-postgresql":
        settings.DATABASE_ROUTERS = ["tests.contract.conftest.EverythingOnPostgres"]
    settings.TOKENS = {**settings.TOKENS, "STORE": STORE_PATHS[kind]}
    if kind in ("redis-sentinel", "redis-cluster"):
        # The session-scoped servers start the first time a test asks for them.
        topology = request.getfixturevalue(kind.replace("-", "_"))
        topology.flushall()
        # The contract is about the rules, not about failing fast: a generous timeout keeps a
        # loaded machine (a dozen threads racing, pytest-xdist's other worker) from turning a
        # slow answer, or a slow Sentinel lookup, into StoreUnavailable.
        make_cache = sentinel_cache if kind == "redis-sentinel" else cluster_cache
        cache = make_cache(topology, timeout=5)
        use_redis_store_on(settings, kind, cache)
    return kind


@pytest.fixture
def store(store_kind: str) -> BaseStore:
    """Return the store under test."""
    store = get_store()
    if store_kind.startswith("database-"):
        # The store really is on the database this param names.
        assert "database-" + connections[store.alias].vendor == store_kind  # type: ignore[attr-defined]
    return store


def make_record(
    user_id: str = "7",
    *,
    now: float | None = None,
    lifetime: int = 3600,
    **fields: Any,
) -> SessionRecord:
    """Return a new session's record, as `tokens.services.login` builds it."""
    now = time.time() if now is None else now
    fields.setdefault("session_id", secrets.token_urlsafe(12))
    fields.setdefault("ip", "192.0.2.1")
    fields.setdefault("user_agent", "contract-suite/1.0")
    return SessionRecord(
        user_id=user_id,
        created_at=now,
        last_used_at=now,
        expires_at=int(now) + lifetime,
        current_jti=new_jti(),
        **fields,
    )


def create(
    store: BaseStore, user_id: str = "7", *, max_sessions: int | None = None, **fields: Any
) -> SessionRecord:
    """Create a session in `store` and return its record."""
    record = make_record(user_id, **fields)
    store.create(record, max_sessions=max_sessions)
    return record


def rotate(
    store: BaseStore,
    record: SessionRecord,
    presented_jti: str,
    *,
    now: float | None = None,
    grace: float = 10,
    max_replays: int = 32,
    lifetime: int = 3600,
    max_age: int = 30 * 86400,
) -> Rotation:
    """Present `presented_jti` to refresh `record`'s session, as `tokens.services.rotate` does."""
    return store.rotate(
        record.user_id,
        record.session_id,
        presented_jti,
        new_jti=new_jti(),
        now=time.time() if now is None else now,
        lifetime=lifetime,
        grace=grace,
        max_age=max_age,
        max_replays=max_replays,
    )


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; return the results in order.

    Each thread closes its database connections when done (a test database cannot be dropped
    while they are open).
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
