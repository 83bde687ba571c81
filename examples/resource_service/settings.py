"""Settings of the example resource service, read from the environment.

It installs `tokens.resource` only: no database, no user table, none of the auth server's
models. AUTH_SERVER_URL (default http://127.0.0.1:8000) is the demo site; REDIS_URL its Redis
(the shared session store); LIVENESS "store" (default) or "introspection", with CLIENT_ID and
CLIENT_SECRET from `manage.py tokens_clients add NAME` at the auth server, and
INTROSPECTION_CACHE_SECONDS (default 5).
"""

import os

AUTH_SERVER_URL = os.environ.get("AUTH_SERVER_URL", "http://127.0.0.1:8000").rstrip("/")

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "resource-service-dev-key-0123456789abcdefghijklmnop")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["rest_framework", "tokens.resource"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "resource_service.urls"
WSGI_APPLICATION = "resource_service.wsgi.application"
# No database at all: the service keeps nothing of its own here.
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tokens.resource.authentication.ResourceTokenAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "tokens.exceptions.exception_handler",
    # No django.contrib.auth here: anonymous requests have no user object.
    "UNAUTHENTICATED_USER": None,
}

TOKENS_RESOURCE = {
    "JWKS_URL": f"{AUTH_SERVER_URL}/api/auth/jwks",
    "LIVENESS": os.environ.get("LIVENESS", "store"),
    "CACHE_ALIAS": "default",
    "INTROSPECTION_URL": f"{AUTH_SERVER_URL}/api/auth/introspect",
    "CLIENT_ID": os.environ.get("CLIENT_ID"),
    "CLIENT_SECRET": os.environ.get("CLIENT_SECRET"),
    "INTROSPECTION_CACHE_SECONDS": float(os.environ.get("INTROSPECTION_CACHE_SECONDS", "5")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"tokens": {"handlers": ["console"], "level": "WARNING"}},
}
