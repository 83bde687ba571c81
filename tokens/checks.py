"""System checks for the tokens settings, the store, the throttles' cache and the cookies.

The store is judged by its class, never by its dotted path: a subclass of `RedisStore` gets the
Redis checks, and a store that is not a Redis store gets none of them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, tokens_settings


def store_class() -> type | None:
    """Return the class `TOKENS["STORE"]` names, or None if it cannot be imported."""
    try:
        loaded = import_string(tokens_settings.STORE)
    except ImportError:
        return None
    return loaded if isinstance(loaded, type) else None


def is_redis_store(store: type | None) -> bool:
    """Return whether a store class is the Redis store or a subclass of it."""
    if store is None:
        return False
    # Imported here: the Redis store needs redis-py and django-redis, a database store does not.
    from .stores.redis import RedisStore

    return issubclass(store, RedisStore)


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Check the TOKENS settings: known keys, sane types, a store, usable caches."""
    messages: list[Error | Warning] = []
    user_settings = getattr(settings, "TOKENS", None) or {}
    unknown = sorted(set(user_settings) - set(DEFAULTS))
    if unknown:
        messages.append(
            Error(
                f"Unknown TOKENS settings: {', '.join(unknown)}.",
                hint=f"Use only these keys: {', '.join(sorted(DEFAULTS))}.",
                id="tokens.E001",
            )
        )
    for name in ("ROTATION_GRACE_PERIOD", "SESSION_MAX_AGE"):
        value = getattr(tokens_settings, name)
        if not isinstance(value, timedelta) or value.total_seconds() < 0:
            messages.append(
                Error(
                    f"TOKENS['{name}'] must be a non-negative timedelta, not {value!r}.",
                    hint=f"Set it to, for example, {DEFAULTS[name]!r}.",
                    id="tokens.E002",
                )
            )
    limit = tokens_settings.MAX_SESSIONS_PER_USER
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        messages.append(
            Error(
                f"TOKENS['MAX_SESSIONS_PER_USER'] must be None or a positive integer, "
                f"not {limit!r}.",
                hint="Use None for no limit, or 1 for one session per user.",
                id="tokens.E003",
            )
        )
    replays = tokens_settings.ROTATION_MAX_REPLAYS
    if not isinstance(replays, int) or isinstance(replays, bool) or replays < 1:
        messages.append(
            Error(
                f"TOKENS['ROTATION_MAX_REPLAYS'] must be a positive integer, not {replays!r}.",
                hint="Set it to at least the number of refreshes one client may send at once "
                "(its tabs, threads, retries), for example 16; past it a replay ends the "
                f"session as reuse. The default is {DEFAULTS['ROTATION_MAX_REPLAYS']}. For no "
                "replay at all, set ROTATION_GRACE_PERIOD to timedelta(0).",
                id="tokens.E008",
            )
        )
    store = store_class()
    if store is None:
        messages.append(
            Error(
                f"TOKENS['STORE'] is {tokens_settings.STORE!r}, which is not an importable class.",
                hint=f"Name a store class by its dotted path, such as {DEFAULTS['STORE']!r}.",
                id="tokens.E005",
            )
        )
    elif is_redis_store(store):
        messages.extend(_redis_cache_alias())
    messages.extend(_throttle_cache())
    messages.extend(_csrf_cookie())
    messages.extend(_access_claims())
    return messages


def _access_claims() -> list[Error]:
    """Refuse an `ACCESS_CLAIMS` that names no callable (what it returns is checked per token)."""
    if not tokens_settings.ACCESS_CLAIMS:
        return []
    # Imported here: tokens.jwt reads simplejwt's settings, which read Django's when imported.
    from django.core.exceptions import ImproperlyConfigured

    from .jwt import claims_callable

    try:
        claims_callable()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Name a function that takes the user and returns a dict of claims, such "
                "as 'myproject.auth.access_claims' (docs/integrations.md, 'Custom claims in the "
                "access token').",
                id="tokens.E010",
            )
        ]
    return []


def _redis_cache_alias() -> list[Error]:
    alias = tokens_settings.CACHE_ALIAS
    # Imported here: only a Redis store needs django-redis.
    from django_redis.cache import RedisCache

    try:
        is_django_redis = isinstance(caches[alias], RedisCache)
    except InvalidCacheBackendError:
        is_django_redis = False
    if is_django_redis:
        return []
    return [
        Error(
            f"TOKENS['CACHE_ALIAS'] is {alias!r}, which is not a django-redis cache, and the "
            "Redis store takes its connection from it.",
            hint="Configure CACHES[alias] with BACKEND 'django_redis.cache.RedisCache'.",
            id="tokens.E004",
        )
    ]


def _throttle_cache() -> list[Error | Warning]:
    alias = tokens_settings.THROTTLE_CACHE_ALIAS or tokens_settings.CACHE_ALIAS
    try:
        cache = caches[alias]
    except InvalidCacheBackendError:
        return [
            Error(
                f"The login throttles count in the cache {alias!r}, which CACHES does not define.",
                hint="Set TOKENS['THROTTLE_CACHE_ALIAS'] to a cache every worker shares (Redis, "
                "Memcached, or Django's database cache).",
                id="tokens.E006",
            )
        ]
    if isinstance(cache, DummyCache):
        return [
            Error(
                f"The login throttles count in the cache {alias!r}, a DummyCache, which keeps "
                "nothing: every password attempt would answer 503.",
                hint="Set TOKENS['THROTTLE_CACHE_ALIAS'] to a cache every worker shares.",
                id="tokens.E007",
            )
        ]
    if isinstance(cache, LocMemCache):
        return [
            Warning(
                f"The login throttles count in the cache {alias!r}, a LocMemCache, which each "
                "process keeps for itself: the password budgets are multiplied by the number of "
                "workers, and a restart resets them.",
                hint="Set TOKENS['THROTTLE_CACHE_ALIAS'] to a cache every worker shares (Redis, "
                "Memcached, or Django's database cache).",
                id="tokens.W002",
            )
        ]
    from django.core.cache.backends.filebased import FileBasedCache

    if isinstance(cache, FileBasedCache):
        return [
            Error(
                f"The login throttles count in the cache {alias!r}, a FileBasedCache, whose "
                "incr() reads a file and then writes it: attempts made at the same time are "
                "counted once, and a guesser gets more than the budget.",
                hint="Set TOKENS['THROTTLE_CACHE_ALIAS'] to a Redis, Memcached or database "
                "cache (docs/operations.md, 'Where the counts live').",
                id="tokens.E011",
            )
        ]
    return []


def _csrf_cookie() -> list[Warning]:
    secure = tokens_settings.REFRESH_COOKIE_SECURE
    # None: Secure unless the request is plain HTTP while DEBUG is on (tokens.views).
    refresh_always_secure = secure is True or (secure is None and not settings.DEBUG)
    if not refresh_always_secure or settings.CSRF_COOKIE_SECURE:
        return []
    return [
        Warning(
            "The refresh-token cookie is Secure but the csrftoken cookie is not: a network "
            "attacker who sees or plants the csrftoken cookie over plain HTTP can forge the "
            "X-CSRFToken header that refreshing with the cookie requires.",
            hint="Set CSRF_COOKIE_SECURE = True (the demo sets it whenever DEBUG is off).",
            id="tokens.W003",
        )
    ]


@register(Tags.caches)
def check_eviction_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when a Redis store's Redis may evict any key under memory pressure (`allkeys-*`).

    Only for Redis stores. Say nothing when Redis cannot be reached or hides its CONFIG command
    (some managed services): the site answers 503 at run time, and a check must not fail
    `migrate`.
    """
    if not is_redis_store(store_class()):
        return []
    # Imported here: django_redis and redis-py are needed by the Redis store only.
    from django_redis import get_redis_connection
    from redis import exceptions as redis_errors

    try:
        client = get_redis_connection(tokens_settings.CACHE_ALIAS)
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
    except (redis_errors.RedisError, OSError, NotImplementedError, KeyError, ValueError):
        return []
    except InvalidCacheBackendError:
        return []
    policy = policy.decode() if isinstance(policy, bytes) else str(policy)
    if not policy.startswith("allkeys-"):
        return []
    return [
        Warning(
            f"The Redis of TOKENS['CACHE_ALIAS'] uses maxmemory-policy {policy}: when its "
            "memory fills, it evicts live sessions (logging users out at random) and login "
            "throttle counts, without an error anywhere.",
            hint="Set maxmemory-policy noeviction on a Redis of its own (a full Redis then "
            "answers 503, which you can see and alert on), or volatile-ttl / volatile-lru when "
            "it is shared with a cache. See docs/operations.md.",
            id="tokens.W001",
        )
    ]


@register(Tags.caches)
def check_replicated_writes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when a Sentinel or Cluster primary accepts writes with no replica in sync.

    Only for Redis stores on a topology that fails over (Sentinel, Cluster): a primary without
    `min-replicas-to-write` keeps acknowledging rotations and logouts while cut off from its
    replicas, and a failover then loses all of them. Say nothing when Redis cannot be reached or
    hides `CONFIG`, as `check_eviction_policy` does.
    """
    if not is_redis_store(store_class()):
        return []
    from django_redis import get_redis_connection
    from redis import RedisCluster
    from redis import exceptions as redis_errors

    from .stores.redis import _has_replicas

    try:
        client = get_redis_connection(tokens_settings.CACHE_ALIAS)
        if not _has_replicas(client):
            return []
        if isinstance(client, RedisCluster):
            primaries = [client.get_redis_connection(node) for node in client.get_primaries()]
        else:
            primaries = [client]
        values = [
            primary.config_get("min-replicas-to-write").get("min-replicas-to-write", "0")
            for primary in primaries
        ]
    except (redis_errors.RedisError, OSError, NotImplementedError, KeyError, ValueError):
        return []
    except InvalidCacheBackendError:
        return []
    if all(int(value or 0) > 0 for value in values):
        return []
    return [
        Warning(
            "A Redis primary of TOKENS['CACHE_ALIAS'] accepts writes with no replica in sync "
            "(min-replicas-to-write 0): cut off from its replicas, it keeps acknowledging "
            "rotations and logouts that a failover then loses.",
            hint="Set min-replicas-to-write 1 and min-replicas-max-lag 10 on every primary. "
            "See docs/operations.md, 'What an operator configures'.",
            id="tokens.W004",
        )
    ]


# --- simplejwt settings the app does not honour (tokens.W010-W014) -------------------------
# Kept apart from the TOKENS checks above. Each warns only about a key the site itself sets in
# SIMPLE_JWT to a value the app ignores; docs/settings.md lists every SIMPLE_JWT key it reads.

_IGNORED_SIMPLE_JWT: list[tuple[str, str, str]] = [
    (
        "CHECK_USER_IS_ACTIVE",
        "tokens.W010",
        "An inactive user's sessions end when the user is deactivated, and their tokens are "
        "refused, whatever CHECK_USER_IS_ACTIVE says (the app fails safe).",
    ),
    (
        "AUTH_TOKEN_CLASSES",
        "tokens.W011",
        "Only the app's own access tokens (tokens.jwt.SessionAccessToken, which carry a "
        "session id) authenticate; AUTH_TOKEN_CLASSES is not read.",
    ),
    (
        "TOKEN_USER_CLASS",
        "tokens.W012",
        "SessionJWTAuthentication gives views the site's user model (loaded lazily), never a "
        "stateless TokenUser; TOKEN_USER_CLASS is not read.",
    ),
    (
        "UPDATE_LAST_LOGIN",
        "tokens.W013",
        "Every login sends Django's user_logged_in, on which django.contrib.auth updates "
        "last_login, as django.contrib.auth.login() does; UPDATE_LAST_LOGIN=False cannot stop it.",
    ),
    *(
        (
            name,
            "tokens.W014",
            "The app's login, refresh, logout and introspection endpoints use their own "
            f"serializers; {name} is not read, and a custom serializer's get_token() claims "
            "never reach a token. To put claims in the access token, set TOKENS['ACCESS_CLAIMS'] "
            "to a callable(user) -> dict (docs/integrations.md, 'Custom claims in the access "
            "token').",
        )
        for name in (
            "TOKEN_OBTAIN_SERIALIZER",
            "TOKEN_REFRESH_SERIALIZER",
            "TOKEN_VERIFY_SERIALIZER",
            "TOKEN_BLACKLIST_SERIALIZER",
            "SLIDING_TOKEN_OBTAIN_SERIALIZER",
            "SLIDING_TOKEN_REFRESH_SERIALIZER",
        )
    ),
]


@register(Tags.compatibility)
def check_simplejwt_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about each SIMPLE_JWT key the site sets to a value the app does not honour."""
    # Imported here: simplejwt's settings module reads Django's settings when imported.
    from rest_framework_simplejwt.settings import DEFAULTS as SIMPLE_JWT_DEFAULTS

    site = getattr(settings, "SIMPLE_JWT", None) or {}
    messages: list[CheckMessage] = []
    for name, check_id, what_happens in _IGNORED_SIMPLE_JWT:
        if name not in site:
            continue
        value = site[name]
        if name in ("CHECK_USER_IS_ACTIVE", "UPDATE_LAST_LOGIN"):
            # The app behaves as if both were True.
            ignored = not value
        else:
            ignored = _as_tuple(value) != _as_tuple(SIMPLE_JWT_DEFAULTS[name])
        if ignored:
            messages.append(
                Warning(
                    f"SIMPLE_JWT[{name!r}] = {value!r} is not honoured by the tokens app.",
                    hint=f"{what_happens} Remove the key (docs/settings.md).",
                    id=check_id,
                )
            )
    return messages


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


# --- The signing and verifying keys (tokens.E009) ------------------------------------------


@register(Tags.security)
def check_signing_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse, at startup, keys that would fail the first token with a 500.

    `SIMPLE_JWT["ALGORITHM"]`, `SIGNING_KEY` and `VERIFYING_KEY` and every entry of
    `TOKENS["VERIFYING_KEYS"]` are prepared as a token would prepare them (tokens.keys, PyJWT):
    an unknown algorithm, an empty HMAC secret, a public key given as an HMAC secret, or a PEM
    that does not load is an error here instead of at the first login.
    """
    # Imported here: simplejwt's settings module reads Django's settings when imported.
    from jwt.algorithms import get_default_algorithms
    from jwt.exceptions import InvalidKeyError, PyJWKError

    from .jwt import jwt_api_settings
    from .keys import KeyConfigurationError, build_keyring

    api = jwt_api_settings()
    try:
        build_keyring(
            api.ALGORITHM, api.SIGNING_KEY, api.VERIFYING_KEY, tokens_settings.VERIFYING_KEYS or ()
        )
        # build_keyring leaves a signing key PyJWT refuses for PyJWT to refuse at signing time.
        get_default_algorithms()[api.ALGORITHM].prepare_key(api.SIGNING_KEY)
    except (KeyConfigurationError, InvalidKeyError, PyJWKError, ValueError, TypeError) as exc:
        return [
            Error(
                f"The token signing settings cannot sign or verify a token: {exc}",
                hint="Check SIMPLE_JWT's ALGORITHM, SIGNING_KEY and VERIFYING_KEY and "
                "TOKENS['VERIFYING_KEYS'] (docs/sso.md, 'Signing keys').",
                id="tokens.E009",
            )
        ]
    return []


@register(Tags.security)
def check_issuer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when tokens other services verify name an issuer that follows the request's Host.

    With asymmetric signing and no `SIMPLE_JWT["ISSUER"]`, an access token's `iss` is the
    origin its login or refresh came to (`tokens.jwt.access_issuer()`): behind a proxy that
    does not pass the public host on, that is an internal address, and the services, which
    require their issuer, refuse every token.
    """
    from .jwt import jwt_api_settings, signs_asymmetrically

    if jwt_api_settings().ISSUER or not signs_asymmetrically():
        return []
    return [
        Warning(
            "Tokens are signed with a key pair but SIMPLE_JWT['ISSUER'] is not set: each access "
            "token names as its issuer the origin its request came to, which behind a proxy may "
            "be an internal address, and services refuse tokens of another issuer.",
            hint="Set SIMPLE_JWT['ISSUER'] to the auth server's public origin, such as "
            "'https://auth.example.com', and the same as TOKENS_RESOURCE['ISSUER'] on each "
            "service (docs/sso.md, 'Issuer and audience').",
            id="tokens.W005",
        )
    ]


# --- django-allauth ending in the app's sessions (tokens.W030, W031) --------------------------

ALLAUTH_STRATEGY = "tokens.contrib.allauth.TokenStrategy"


@register(Tags.security)
def check_allauth_integration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about what a site using `tokens.contrib.allauth.TokenStrategy` left out.

    Read from the settings alone (allauth is an optional extra): the cookie transport's
    middleware, and the password login that would skip allauth's second factor.
    """
    if getattr(settings, "HEADLESS_TOKEN_STRATEGY", None) != ALLAUTH_STRATEGY:
        return []
    messages: list[CheckMessage] = []
    if "tokens.contrib.allauth.RefreshCookieMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            Warning(
                "HEADLESS_TOKEN_STRATEGY is the app's, but its RefreshCookieMiddleware is not in "
                "MIDDLEWARE: a browser flow sent with 'X-Tokens-Transport: cookie' is refused.",
                hint="Add 'tokens.contrib.allauth.RefreshCookieMiddleware' to MIDDLEWARE, after "
                "'django.middleware.csrf.CsrfViewMiddleware' (docs/integrations.md).",
                id="tokens.W030",
            )
        )
    if "allauth.mfa" in settings.INSTALLED_APPS and tokens_settings.PASSWORD_LOGIN_ALLOWED is None:
        messages.append(
            Warning(
                "allauth.mfa is installed, but the app's own password login (POST auth/login, "
                "the password grant) signs in any correct password: an account with a second "
                "factor can skip it there.",
                hint="Set TOKENS['PASSWORD_LOGIN_ALLOWED'] = "
                "'tokens.contrib.allauth.without_second_factor'.",
                id="tokens.W031",
            )
        )
    return messages


# --- The refresh cookie's path (tokens.W020) ------------------------------------------------


@register(Tags.urls)
def check_refresh_cookie_path(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when `TOKENS["REFRESH_COOKIE_PATH"]` does not cover the app's refresh or logout URL.

    The browser would not send the cookie there: every cookie refresh would answer 403
    `refresh_token_invalid`. Nothing to check when the path is left to follow the mount point
    (None), or when the app's URLs are not mounted under the `tokens` namespace.
    """
    configured = tokens_settings.REFRESH_COOKIE_PATH
    if configured is None:
        return []
    # Imported here: the URLconf imports the views, which need the apps loaded.
    from django.urls import NoReverseMatch, reverse

    uncovered = []
    for name in ("refresh", "logout"):
        try:
            url = reverse(f"tokens:{name}")
        except NoReverseMatch:
            continue
        if not cookie_path_covers(str(configured), url):
            uncovered.append(url)
    if not uncovered:
        return []
    return [
        Warning(
            f"TOKENS['REFRESH_COOKIE_PATH'] is {configured!r}, which does not cover "
            f"{' or '.join(uncovered)}: browsers will not send the refresh cookie there, and "
            "every refresh through the cookie will answer 403.",
            hint="Remove the setting (the path then follows where the app is mounted) or set it "
            "to a prefix of those URLs.",
            id="tokens.W020",
        )
    ]


def cookie_path_covers(cookie_path: str, url_path: str) -> bool:
    """Return whether a browser sends a cookie of `cookie_path` to `url_path` (RFC 6265 5.1.4)."""
    if url_path == cookie_path:
        return True
    return url_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or url_path[len(cookie_path)] == "/"
    )
