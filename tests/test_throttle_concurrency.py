"""The login throttles count exactly under concurrency, on every cache the docs allow.

Issue 26, defect 4: on Django's database cache (the demo's cache without Redis) `incr` reads
then writes, so concurrent logins lost counts, and with a rate above 64 per window legitimate
logins got 503. Here bursts of logins run against real gunicorn workers with the counts in the
database cache on SQLite and on PostgreSQL, and threads spend one budget on every backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.db import connections

from tests.conftest import PASSWORD
from tests.settings import TEST_REDIS_PORT, CacheTableRouter

LOGIN = "/api/auth/login"
TABLE = "tokens_throttle_cache"
HAS_POSTGRES = "postgres" in connections.settings


def database_cache_table(alias: str) -> None:
    """Create the throttles' cache table on `alias` (if missing) and empty it."""
    call_command("createcachetable", TABLE, database=alias, verbosity=0)
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 (a constant name)


DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not HAS_POSTGRES, reason="TOKENS_TEST_POSTGRES is empty"),
    ),
]


@pytest.mark.live
@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
@pytest.mark.parametrize("database", DATABASES)
def test_bursts_of_logins_on_the_database_cache_get_exactly_the_budget(
    gunicorn_servers: Any, make_user: Any, database: str
) -> None:
    username = f"burst-{database}"
    make_user(username)
    # Only the username's budget, so that its counter is most of the table (below).
    env = {
        "TEST_THROTTLE_CACHE": "database",
        "TEST_THROTTLE_USERNAME": "400/day",
        "TEST_THROTTLE_ADDRESS": "",
    }
    if database == "postgresql":
        alias = "postgres"
        name = connections["postgres"].settings_dict["NAME"]
        env["TEST_THROTTLE_CACHE_DATABASE"] = "postgres"
        env["TOKENS_TEST_POSTGRES"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        alias = "default"
    database_cache_table(alias)
    server = gunicorn_servers(workers=8, **env)

    def log_in(_: int) -> int:
        return httpx.post(
            f"{server.url}{LOGIN}",
            json={"username": username, "password": PASSWORD},
            timeout=60,
        ).status_code

    bursts = []
    with ThreadPoolExecutor(20) as pool:
        for _burst in range(24):
            bursts.append(list(pool.map(log_in, range(20))))
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")  # noqa: S608 (a constant name)
        assert cursor.fetchone()[0] > 0  # the workers counted in this database's table
    # Eight workers, twenty at a time: the first 400 logins (20 bursts) are all within the
    # budget and log in; every one after them is refused. None fails with a 503, and the
    # cache's culling (the table has Django's default MAX_ENTRIES, 300) forgets no count.
    assert [Counter(burst) for burst in bursts] == [Counter({200: 20})] * 20 + [
        Counter({429: 20})
    ] * 4


# --- Threads spending one budget, on every backend -------------------------------------------

BACKENDS: dict[str, dict[str, Any]] = {
    "django-redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{TEST_REDIS_PORT}/3",
    },
    "django-redis-cache": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{TEST_REDIS_PORT}/4",
    },
    "database-sqlite": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": TABLE,
    },
    "database-postgresql": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": TABLE,
    },
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.skipif(not HAS_POSTGRES, reason="no PostgreSQL"))
        if name.endswith("postgresql")
        else name
        for name in BACKENDS
    ]
)
def counting_cache(request: Any, settings: Any) -> Iterator[str]:
    """Count the throttles in the param's cache (a database cache's table made and emptied)."""
    name = request.param
    settings.CACHES = {**settings.CACHES, "throttles": BACKENDS[name]}
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttles"}
    if name == "database-postgresql":
        settings.DATABASE_ROUTERS = [CacheTableRouter("postgres")]
    if name.startswith("database"):
        database_cache_table("postgres" if name.endswith("postgresql") else "default")
    yield name
    from django.core.cache import caches

    caches["throttles"].clear()


@pytest.mark.django_db(transaction=True, databases=["default", "postgres"])
def test_threads_spending_one_budget_get_exactly_the_budget(settings: Any, counting_cache: str):
    from tokens.throttling import USERNAME_SCOPE, spend

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "tokens_login_address": None,
            "tokens_login_username": "150/day",
        },
    }

    def attempt(_: int) -> str:
        try:
            return "admitted" if spend(USERNAME_SCOPE, "carol") is None else "refused"
        except Exception as exc:  # any failure is reported as an outcome
            return type(exc).__name__
        finally:
            connections.close_all()  # this thread's own connections

    with ThreadPoolExecutor(16) as pool:
        outcomes = Counter(pool.map(attempt, range(200)))
    assert outcomes == Counter({"admitted": 150, "refused": 50})
