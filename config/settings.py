"""Settings for the demo site, read from the environment.

SECRET_KEY, DEBUG, ALLOWED_HOSTS, DATABASE_URL (default: a SQLite file beside manage.py) and
where Redis is: REDIS_URL (one server, for example redis://127.0.0.1:6379/0), or REDIS_SENTINELS
(comma-separated host:port of the sentinels) with REDIS_SENTINEL_MASTER (the primary's service
name), or REDIS_CLUSTER_URL (redis://host:port of any node of a Redis Cluster). With one of them,
sessions live in that Redis (the Redis store) and so does the cache; without any, sessions live
in the database (the database store) and the cache is Django's database cache (`manage.py
createcachetable`).
ACCESS_TOKEN_SECONDS (default 3600), VUE_APP_DIR (the Vue example's build), SIGNING_KEY_FILE and
VERIFYING_KEY_FILES (asymmetric signing and key rotation; see docs/sso.md).
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG")
# The fallback key is for local development only; production sets SECRET_KEY.
SECRET_KEY = os.environ.get(
    "SECRET_KEY", "insecure-dev-key-set-SECRET_KEY-in-production-0123456789abcdef"
)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]

INSTALLED_APPS = [
    # First: its `changepassword` command (a store outage is an error message, not a traceback)
    # replaces django.contrib.auth's.
    "tokens",
    # django.contrib.admin, whose login draws on the login throttles' budgets.
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    # Sign-up, email verification, password reset, two-factor and OpenID Connect logins through
    # django-allauth's headless API at /_allauth/, ending in the app's sessions (see below).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.headless",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (the JS client, the demo page's files) under gunicorn, DEBUG or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Error details in the client's language (Accept-Language); codes never change.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After CsrfViewMiddleware: sets the refresh cookie for allauth flows that ask for it.
    "tokens.contrib.allauth.RefreshCookieMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections; no per-request health check, whose SELECT 1 would double the
        # database round trips of a refresh (Django's default is off too).
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Without Redis the throttles count in Django's database cache, which reads and then writes
    # inside one transaction. SQLite's default (DEFERRED) transaction starts as a reader, and a
    # reader that must become a writer while another connection writes fails at once with
    # "database is locked" (SQLite's deadlock rule: it does not wait), which the app answers
    # with 503 store_unavailable. IMMEDIATE takes the write lock when the transaction begins,
    # so concurrent requests wait their turn, up to `timeout` seconds.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

# Where the sessions and the cache live: one Redis (REDIS_URL), a Redis Sentinel
# (REDIS_SENTINELS: comma-separated host:port of the sentinels, REDIS_SENTINEL_MASTER: the
# primary's service name), a Redis Cluster (REDIS_CLUSTER_URL: redis://host:port of any node),
# or, with none of them, the database. See docs/operations.md.
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_CLUSTER_URL = os.environ.get("REDIS_CLUSTER_URL", "")


def redis_cache(
    url: str = "", sentinels: str = "", sentinel_master: str = "mymaster", cluster_url: str = ""
) -> dict[str, Any] | None:
    """Return the django-redis cache for one Redis, a Sentinel or a Cluster (None: no Redis).

    `sentinels` is comma-separated host:port; it takes precedence, then `cluster_url`, then
    `url`. The bench builds its topologies' caches with it too.
    """
    # Short timeouts: a dead Redis answers 503 within a second, never hangs a worker.
    timeouts = {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    if sentinels:
        addresses = [entry.strip().rpartition(":") for entry in sentinels.split(",")]
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            # One URL, the primary's (is_master=1): reads go to the primary too, so that a
            # throttle never counts on a replica that lags.
            "LOCATION": [f"redis://{sentinel_master}/0?is_master=1"],
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [(host, int(port)) for host, _, port in addresses],
                "SENTINEL_KWARGS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
                **timeouts,
            },
        }
    if cluster_url:
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": cluster_url,
            # redis-py's cluster client under django-redis (docs/settings.md).
            "OPTIONS": {
                "CONNECTION_FACTORY": "tokens.stores.redis.ClusterConnectionFactory",
                **timeouts,
            },
        }
    if url:
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {**timeouts, "CONNECTION_POOL_KWARGS": {"health_check_interval": 30}},
        }
    return None


_REDIS_CACHE = redis_cache(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_CLUSTER_URL)
if _REDIS_CACHE is not None:
    TOKENS_STORE = "tokens.stores.redis.RedisStore"
    CACHES = {"default": _REDIS_CACHE}
else:
    # No Redis: sessions in the database, and the throttles' counts in a cache that every
    # worker shares (a per-process cache would multiply each budget by the number of workers).
    TOKENS_STORE = "tokens.stores.db.DatabaseStore"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
# Serve static files straight from the apps and STATICFILES_DIRS, so the site works without a
# collectstatic step; a deployment that runs collectstatic is served from STATIC_ROOT as usual.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The Vue example's Vite build (`make vue`), served under /vue/ by config/urls.py.
VUE_APP_DIR = Path(os.environ.get("VUE_APP_DIR", BASE_DIR / "examples" / "vue" / "dist"))

# The csrftoken cookie guards the refresh-token cookie, so it is Secure whenever that one is
# (always, unless DEBUG serves plain HTTP); the system check tokens.W003 holds sites to it.
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

# Bound what one request may make the server hold in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokens.authentication.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["tokens.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "tokens.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Password attempts on login and the token endpoint (see tokens/throttling.py and
    # docs/operations.md). Counts live in the default cache, shared by every worker.
    "DEFAULT_THROTTLE_RATES": {
        "tokens_login_address": os.environ.get("THROTTLE_LOGIN_ADDRESS", "60/min"),
        "tokens_login_username": os.environ.get("THROTTLE_LOGIN_USERNAME", "10/min"),
    },
    # How many proxies in front of the site append to X-Forwarded-For. 0: the client address is
    # REMOTE_ADDR; left unset, DRF would believe whatever address a client writes there.
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tokens API",
    "DESCRIPTION": "Short-lived access tokens, rotating refresh tokens, silent refresh.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# ACCESS_TOKEN_SECONDS shortens the access lifetime to watch the demo page refresh before expiry
# (`make run ACCESS_TOKEN_SECONDS=30`).
ACCESS_TOKEN_SECONDS = float(os.environ.get("ACCESS_TOKEN_SECONDS", "3600"))
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS_TOKEN_SECONDS),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "SIGNING_KEY": SECRET_KEY,
}

TOKENS: dict[str, object] = {
    "ROTATION_GRACE_PERIOD": timedelta(seconds=10),
    "SESSION_MAX_AGE": timedelta(days=30),
    "STORE": TOKENS_STORE,
    # An account with a second factor (allauth's TOTP, below) signs in through allauth only.
    "PASSWORD_LOGIN_ALLOWED": "tokens.contrib.allauth.without_second_factor",
}

# SIGNING_KEY_FILE names a PEM private key to sign with instead of SECRET_KEY (other services
# then verify tokens from /api/auth/jwks); the algorithm follows the key's type: RSA -> RS256,
# P-256 -> ES256, Ed25519 -> EdDSA. VERIFYING_KEY_FILES lists more PEM keys (separated by
# os.pathsep; a private key file is reduced to its public half) tokens may be verified with:
# the next key, and retired keys until their last tokens expire (docs/sso.md).
if os.environ.get("SIGNING_KEY_FILE"):
    from tokens.keys import public_pem, signing_settings

    SIMPLE_JWT.update(signing_settings(Path(os.environ["SIGNING_KEY_FILE"]).read_text()))
    TOKENS["VERIFYING_KEYS"] = [
        public_pem(Path(name).read_text())
        for name in os.environ.get("VERIFYING_KEY_FILES", "").split(os.pathsep)
        if name
    ]

# django-allauth headless (docs/integrations.md): its app client at /_allauth/app/v1/, whose
# sign-ins start the app's sessions. Log in with the username or the email; users made with
# create_user (no allauth email row) log in by username. Sign-up verifies the email by a code;
# passwords are reset by a code; TOTP, recovery codes and passkeys (WebAuthn) are on. A passkey
# signs in on its own (MFA_PASSKEY_LOGIN_ENABLED) or as the second factor after a password.
# WebAuthn's RP ID is the request's host: passkeys work over https, or over http on localhost
# (http://localhost:8000 with `make run`), never at http://127.0.0.1:8000. Leave
# MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN off: it accepts an assertion made for any origin.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
HEADLESS_ONLY = True
HEADLESS_CLIENTS = ("app",)
HEADLESS_TOKEN_STRATEGY = "tokens.contrib.allauth.TokenStrategy"
HEADLESS_FRONTEND_URLS: dict[str, str] = {}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
# OIDC_SERVER_URL (the provider's issuer), OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: log in with an
# OpenID Connect provider (allauth's openid_connect provider, id "oidc").
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {"openid_connect": {"APPS": []}}
if os.environ.get("OIDC_SERVER_URL"):
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": "oidc",
            "name": os.environ.get("OIDC_NAME", "OpenID Connect"),
            "client_id": os.environ.get("OIDC_CLIENT_ID", ""),
            "secret": os.environ.get("OIDC_CLIENT_SECRET", ""),
            "settings": {"server_url": os.environ["OIDC_SERVER_URL"]},
        }
    )
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
# Email (verification and reset codes): files in EMAIL_FILE_PATH when it is set, else the console.
# Django 6.1 configures mail in MAILERS and deprecates EMAIL_BACKEND and EMAIL_FILE_PATH.
_MAIL_FILES = os.environ.get("EMAIL_FILE_PATH")
_MAIL_BACKEND = "filebased" if _MAIL_FILES else "console"
if django.VERSION >= (6, 1):
    MAILERS = {
        "default": {
            "BACKEND": f"django.core.mail.backends.{_MAIL_BACKEND}.EmailBackend",
            "OPTIONS": {"file_path": _MAIL_FILES} if _MAIL_FILES else {},
        }
    }
else:
    EMAIL_BACKEND = f"django.core.mail.backends.{_MAIL_BACKEND}.EmailBackend"
    if _MAIL_FILES:
        EMAIL_FILE_PATH = _MAIL_FILES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.security": {"handlers": ["console"], "level": "WARNING"},
        "tokens": {"handlers": ["console"], "level": "WARNING"},
    },
}
