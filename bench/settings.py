"""Bench settings: the site's own settings, plus simplejwt's views and blacklist app beside ours.

Both implementations are served by the same gunicorn workers, from the same database and with
the same middleware, so the machine's noise cancels out in the ratios. What differs from the
site's settings is said here:

- simplejwt's `token_blacklist` app is installed and its refresh view rotates and blacklists
  (`ROTATE_REFRESH_TOKENS`, `BLACKLIST_AFTER_ROTATION`): the baseline users compare us with.
- The login throttles are raised out of the way: wrk logs in from one address, as one of a few
  users, many times a second (they still count, in Redis, on every login).
- SQLite runs in WAL mode with IMMEDIATE transactions, as a site serving two workers from SQLite
  would set it up; without it simplejwt's writes fail with "database is locked".

DATABASE_URL, REDIS_URL and BENCH_STORE come from the environment (bench/run.py sets them);
persistent database connections (`CONN_MAX_AGE`, 60 s by default) are the site's own setting.
"""

import os
import warnings

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS, REST_FRAMEWORK, SIMPLE_JWT, TOKENS

# BENCH_STORE=database measures the database store (bench/run.py --db-store); Redis otherwise.
if os.environ.get("BENCH_STORE") == "database":
    TOKENS = {**TOKENS, "STORE": "tokens.stores.db.DatabaseStore"}

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
]
ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

SIMPLE_JWT = {
    **SIMPLE_JWT,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "tokens_login_address": "1000000/min",
        "tokens_login_username": "1000000/min",
    },
}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# WhiteNoise warns when `collectstatic` has not run; the bench serves no static files.
warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")

# Quiet: one log line per request would cost more than some of the endpoints measured.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BENCH_LOG_LEVEL", "ERROR")},
}
