"""The `TOKENS_RESOURCE` settings of a service that accepts the auth server's tokens, read live."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # The auth server's JWK Set, e.g. "https://auth.example.com/api/auth/jwks". Required.
    "JWKS_URL": None,
    # How long a fetched JWK Set is used before it is fetched again (seconds).
    "JWKS_CACHE_SECONDS": 300,
    # A token with a kid the cached set lacks fetches the set again (a key that has just
    # started to sign), at most this often per process (seconds): a flood of made-up kids
    # costs the auth server one cheap GET per second per process, and a real new key is
    # picked up within a second whatever fetched the set last.
    "JWKS_MIN_REFETCH_SECONDS": 1,
    # Timeout of every call to the auth server (JWKS, introspection), in seconds.
    "HTTP_TIMEOUT": 2.0,
    # The `iss` every token must carry: None is the origin of JWKS_URL
    # ("https://auth.example.com" for "https://auth.example.com/api/auth/jwks"), which is the
    # auth server's own default issuer (its origin); set it to SIMPLE_JWT["ISSUER"] when the
    # auth server sets one, or when this service reaches it at another address.
    "ISSUER": None,
    # The `aud` this service requires a token to carry (one of the auth server's
    # SIMPLE_JWT["AUDIENCE"] entries); None: not checked.
    "AUDIENCE": None,
    # The leeway on exp/iat (seconds).
    "LEEWAY": 0,
    # The auth server's SIMPLE_JWT claim names.
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "AUTH_HEADER_TYPES": ("Bearer",),
    # How a session is known to be live: "store" (the auth server's Redis, shared: one round
    # trip, ended sessions refused at once) or "introspection" (RFC 7662, each session's
    # answer cached for INTROSPECTION_CACHE_SECONDS: an ended session is refused within it).
    "LIVENESS": "store",
    # "store": the django-redis cache alias of the auth server's Redis, and its KEY_PREFIX.
    "CACHE_ALIAS": "default",
    "KEY_PREFIX": "tokens",
    # "introspection": the endpoint and this service's client credentials (tokens_clients add).
    "INTROSPECTION_URL": None,
    "CLIENT_ID": None,
    "CLIENT_SECRET": None,
    "INTROSPECTION_CACHE_SECONDS": 5,
    # Where `manage.py tokens_listen` hears ended sessions (the auth server's EVENTS_CHANNEL),
    # and the django-redis alias to subscribe through (None: CACHE_ALIAS).
    "EVENTS_CHANNEL": "tokens:events",
    "EVENTS_CACHE_ALIAS": None,
}


class ResourceSettings:
    """Attribute access to `settings.TOKENS_RESOURCE`, falling back to `DEFAULTS`."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown TOKENS_RESOURCE setting: {name!r}")
        user_settings = getattr(django_settings, "TOKENS_RESOURCE", None) or {}
        return user_settings.get(name, DEFAULTS[name])

    def required(self, name: str) -> Any:
        """Return a setting that has no usable default, or raise `ImproperlyConfigured`."""
        value = getattr(self, name)
        if not value:
            raise ImproperlyConfigured(f'TOKENS_RESOURCE["{name}"] must be set.')
        return value


def expected_issuer() -> str:
    """Return the `iss` tokens must carry: `ISSUER`, else the origin of `JWKS_URL`."""
    configured = resource_settings.ISSUER
    if configured:
        return str(configured)
    parts = urlsplit(str(resource_settings.required("JWKS_URL")))
    return f"{parts.scheme}://{parts.netloc}"


resource_settings = ResourceSettings()
