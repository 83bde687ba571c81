"""Test settings: the site's settings on a Redis that pytest-redis starts, and a shared SQLite file.

The Redis port and database path are chosen once per test run and passed through the
environment, so gunicorn workers started by the tests use the same Redis and database.
Variables named TEST_* let a test start a server with short lifetimes or other TOKENS values.
"""

import atexit
import os
import tempfile
from datetime import timedelta

from tests.harness import RedisCluster, RedisSentinel, free_port

# config/settings.py reads ACCESS_TOKEN_SECONDS (`make run ACCESS_TOKEN_SECONDS=30`); one left in
# the developer's shell must not change the lifetimes the suite relies on. The process that
# starts a run (pytest, soak) drops it before anything reads it and marks the environment, which
# the servers it starts inherit: in them, only a test that passes ACCESS_TOKEN_SECONDS on purpose
# (tests/test_browser.py) sets it.
if "TOKENS_TEST_RUN" not in os.environ:
    os.environ.pop("ACCESS_TOKEN_SECONDS", None)
    os.environ["TOKENS_TEST_RUN"] = str(os.getpid())

# pytest-xdist (`make test-fast` runs on four workers): each worker is a run of its own, with its
# own Redis and database file, not the ones the controller chose (the workers inherit its
# environment, and two runs flushing one Redis would wipe each other's sessions). A server a
# worker starts inherits the worker's choices as usual.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _xdist_worker and os.environ.get("TOKENS_TEST_WORKER") != _xdist_worker:
    os.environ["TOKENS_TEST_WORKER"] = _xdist_worker
    # The database URL the controller made of its own file (below) goes with that file; one the
    # developer set (a run on PostgreSQL) stays.
    if os.environ.get("DATABASE_URL") == f"sqlite:///{os.environ.get('TOKENS_TEST_DB')}":
        os.environ.pop("DATABASE_URL")
    for _name in ("TOKENS_TEST_REDIS_PORT", "TOKENS_TEST_DB", "TOKENS_TEST_POSTGRES_DB"):
        os.environ.pop(_name, None)

TEST_REDIS_PORT = int(os.environ.setdefault("TOKENS_TEST_REDIS_PORT", str(free_port())))
os.environ["REDIS_URL"] = f"redis://127.0.0.1:{TEST_REDIS_PORT}/0"

# TOKENS_TEST_STORE=sentinel or cluster: the site (sessions and throttles) runs on a Redis
# Sentinel or a Redis Cluster of the run's own, started here by the process that starts the
# run, before anything reads the settings, and stopped when it exits; the servers the tests
# start inherit its addresses through the environment (config/settings.py reads them).
TEST_SENTINEL: RedisSentinel | None = None
TEST_CLUSTER: RedisCluster | None = None
_topology = os.environ.get("TOKENS_TEST_STORE", "redis")
if _topology == "sentinel":
    if not os.environ.get("REDIS_SENTINELS"):
        TEST_SENTINEL = RedisSentinel(tempfile.mkdtemp(prefix="tokens-sentinel-")).start()
        atexit.register(TEST_SENTINEL.stop)
        os.environ["REDIS_SENTINELS"] = ",".join(f"{h}:{p}" for h, p in TEST_SENTINEL.sentinels)
        os.environ["REDIS_SENTINEL_MASTER"] = TEST_SENTINEL.master_name
    os.environ.pop("REDIS_URL", None)
elif _topology == "cluster":
    if not os.environ.get("REDIS_CLUSTER_URL"):
        TEST_CLUSTER = RedisCluster(tempfile.mkdtemp(prefix="tokens-cluster-")).start()
        atexit.register(TEST_CLUSTER.stop)
        os.environ["REDIS_CLUSTER_URL"] = TEST_CLUSTER.url
    os.environ.pop("REDIS_URL", None)
TEST_DB_PATH = os.environ.setdefault(
    "TOKENS_TEST_DB", os.path.join(tempfile.mkdtemp(prefix="tokens-test-"), "db.sqlite3")
)
if not os.environ.get("DATABASE_URL"):
    # The servers a run starts use its test database: under pytest-xdist, pytest-django names
    # a worker's after the worker (`<TEST NAME>_gw0`).
    _suffix = f"_{_xdist_worker}" if _xdist_worker else ""
    os.environ["DATABASE_URL"] = f"sqlite:///{TEST_DB_PATH}{_suffix}"

import dj_database_url  # noqa: E402

from config.settings import *  # noqa: E402, F403
from config.settings import DATABASES, SIMPLE_JWT, TOKENS  # noqa: E402

# A second database for the store contract suite (tests/contract/), which runs the database
# store on it as well as on the default SQLite file. pytest-django creates its test database
# (a name of this run's own) only when a collected test asks for the alias.
TEST_POSTGRES_URL = os.environ.get(
    "TOKENS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
)
if TEST_POSTGRES_URL:
    DATABASES["postgres"] = dj_database_url.parse(TEST_POSTGRES_URL)
    DATABASES["postgres"]["TEST"] = {
        "NAME": os.environ.setdefault("TOKENS_TEST_POSTGRES_DB", f"test_tokens_{os.getpid()}")
    }

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The test database is a file so that gunicorn workers see what the tests write.
    DATABASES["default"]["TEST"] = {"NAME": TEST_DB_PATH}
    DATABASES["default"]["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], "timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# Fast hashing: tests log in thousands of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests run no collectstatic: WhiteNoise serves the apps' files through the finders, and an
# empty STATIC_ROOT would only make it warn (warnings are errors here).
STATIC_ROOT = None  # type: ignore[assignment]  # the site's is a Path; Django takes None


def _seconds(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


# The lifetimes the suite relies on (tests/test_auth_flow.py), pinned here rather than left to
# config/settings.py's defaults; TEST_* variables (below) change them for a server.
SIMPLE_JWT = {
    **SIMPLE_JWT,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("ACCESS_TOKEN_SECONDS", 3600))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
}
TOKENS = {**TOKENS}
# TOKENS_TEST_STORE=db runs the tests on the database store (`make test` runs the HTTP tests on
# both stores). The caches stay on the test Redis either way.
TEST_STORE = os.environ.get("TOKENS_TEST_STORE", "redis")
TOKENS["STORE"] = {
    "redis": "tokens.stores.redis.RedisStore",
    "sentinel": "tokens.stores.redis.RedisStore",
    "cluster": "tokens.stores.redis.RedisStore",
    "db": "tokens.stores.db.DatabaseStore",
}[TEST_STORE]
if (access := _seconds("TEST_ACCESS_SECONDS")) is not None:
    SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] = timedelta(seconds=access)
if (refresh := _seconds("TEST_REFRESH_SECONDS")) is not None:
    SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] = timedelta(seconds=refresh)
if (grace := _seconds("TEST_GRACE_SECONDS")) is not None:
    TOKENS["ROTATION_GRACE_PERIOD"] = timedelta(seconds=grace)
if os.environ.get("TEST_MAX_SESSIONS"):
    TOKENS["MAX_SESSIONS_PER_USER"] = int(os.environ["TEST_MAX_SESSIONS"])
if os.environ.get("TEST_URLCONF"):
    ROOT_URLCONF = os.environ["TEST_URLCONF"]

# The suite logs in thousands of times from 127.0.0.1: keep the login throttles out of its way
# (they still count, in Redis, on every login). Throttle tests lower them with `settings`;
# TEST_THROTTLE_* lower them for a gunicorn server (empty: that scope off).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        "tokens_login_address": os.environ.get("TEST_THROTTLE_ADDRESS", "100000/min") or None,
        "tokens_login_username": os.environ.get("TEST_THROTTLE_USERNAME", "100000/min") or None,
    },
}


class CacheTableRouter:
    """Send Django's database cache (its `django_cache` models) to one database alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: type, **hints: object) -> str | None:
        """Return the alias for the cache's models, no opinion on any other."""
        return self.alias if model._meta.app_label == "django_cache" else None  # type: ignore[attr-defined]

    db_for_write = db_for_read


# TEST_THROTTLE_CACHE=database: the throttles count in Django's database cache (its table made
# by `createcachetable`) instead of the Redis cache, as a site without Redis would.
if os.environ.get("TEST_THROTTLE_CACHE") == "database":
    CACHES = {
        **CACHES,  # noqa: F405
        "throttles": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "tokens_throttle_cache",
            # The demo's database cache: Django's default MAX_ENTRIES (300), culling and all.
        },
    }
    TOKENS["THROTTLE_CACHE_ALIAS"] = "throttles"

    # TEST_THROTTLE_CACHE_DATABASE=postgres: that table is on the `postgres` alias (the server
    # TOKENS_TEST_POSTGRES names), as on a site whose database is PostgreSQL.
    if os.environ.get("TEST_THROTTLE_CACHE_DATABASE"):
        DATABASE_ROUTERS = [CacheTableRouter(os.environ["TEST_THROTTLE_CACHE_DATABASE"])]

# TEST_SITE_DRF_DEFAULTS=1: a site whose REST_FRAMEWORK sets the policies its own views want
# (DRF's standard throttles at 1 a minute, versioning, no metadata class): the app's endpoints
# must keep their own (tests/test_site_drf_defaults.py). DRF reads these when the view classes
# are defined, so only a server started with them shows what a site sees.
if os.environ.get("TEST_SITE_DRF_DEFAULTS"):
    _rates: dict[str, str] = REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # type: ignore[assignment]
    REST_FRAMEWORK = {
        **REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [
            "rest_framework.throttling.AnonRateThrottle",
            "rest_framework.throttling.UserRateThrottle",
        ],
        "DEFAULT_THROTTLE_RATES": {
            **_rates,
            "anon": "1/min",
            "user": "1/min",
        },
        "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.AcceptHeaderVersioning",
        "ALLOWED_VERSIONS": ["9"],
        "DEFAULT_METADATA_CLASS": None,
    }
