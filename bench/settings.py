"""Bench settings: the site's own settings, with what the comparison with the anchor needs.

simplejwt + its blacklist app is measured as a project of its own (the anchor, bench/anchor.py),
in its own virtualenv and gunicorn; these settings serve this app. What differs from the site's
settings is said here:

- The anchor's two middleware (SecurityMiddleware, CommonMiddleware), so that both projects do
  the same work around a request; the API needs no other (it keeps no Django session, and its
  cookie transport checks its own CSRF header).
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
from config.settings import DATABASES, INSTALLED_APPS, REST_FRAMEWORK, TOKENS

# The site asks allauth whether a password alone may sign a user in; allauth is left out here,
# and the anchor asks nothing.
TOKENS = {**TOKENS, "PASSWORD_LOGIN_ALLOWED": None}
# BENCH_STORE=database measures the database store (bench/run.py --db-store); Redis otherwise.
if os.environ.get("BENCH_STORE") == "database":
    TOKENS = {**TOKENS, "STORE": "tokens.stores.db.DatabaseStore"}

# The bench serves the API, not the site's sign-up flows: allauth, which requires its own
# middleware, stays out (bench/urls.py mounts only the API).
INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("allauth")]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]  # the anchor's
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

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
