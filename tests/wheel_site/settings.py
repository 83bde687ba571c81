"""Settings of the throwaway site, shaped as the README's install section tells a reader.

Except in one thing: it keeps DRF's own defaults for authentication, permissions and the
exception handler (session and basic authentication, AllowAny, DRF's `{"detail"}` errors), as a
site with an API of its own may. The app's endpoints must not depend on them; the site's own
bearer view (`/me`) names what it needs.

The environment gives what a test run decides: WHEEL_SITE_DIR (where the SQLite file goes)
and WHEEL_SITE_REDIS_URL (the test Redis, a database of its own).
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(os.environ["WHEEL_SITE_DIR"])
SECRET_KEY = "wheel-site-throwaway-key-not-secret-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "wheel_site.users",
]
# The README's lines:
INSTALLED_APPS.insert(INSTALLED_APPS.index("django.contrib.auth"), "tokens")
INSTALLED_APPS += ["rest_framework", "drf_spectacular"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

# The README's line: the refresh cookie is Secure, so its CSRF partner must be too (tokens.W003).
CSRF_COOKIE_SECURE = True

ROOT_URLCONF = "wheel_site.urls"
WSGI_APPLICATION = "wheel_site.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 30},
    }
}
AUTH_USER_MODEL = "users.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {  # the store uses this django-redis alias (TOKENS["CACHE_ALIAS"])
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["WHEEL_SITE_REDIS_URL"],
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The test logs in many times from one address.
    "DEFAULT_THROTTLE_RATES": {
        "tokens_login_address": "10000/min",
        "tokens_login_username": "10000/min",
    },
}

SIMPLE_JWT = {  # lifetimes and signing: simplejwt's own settings
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
}

TOKENS = {
    # Short, so that the test sees both a replay inside the window and one after it.
    "ROTATION_GRACE_PERIOD": timedelta(seconds=1),
    "SESSION_MAX_AGE": timedelta(days=30),
}
