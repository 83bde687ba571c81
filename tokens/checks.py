"""System checks for the tokens settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import DEFAULTS, tokens_settings


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Check the TOKENS settings: known keys, sane types, a usable cache alias."""
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
    alias = tokens_settings.CACHE_ALIAS
    backend = str(settings.CACHES.get(alias, {}).get("BACKEND", ""))
    if DEFAULTS["STORE"] == tokens_settings.STORE and not backend.startswith("django_redis."):
        messages.append(
            Error(
                f"TOKENS['CACHE_ALIAS'] is {alias!r}, which is not a django-redis cache.",
                hint="Configure CACHES[alias] with BACKEND 'django_redis.cache.RedisCache'.",
                id="tokens.E004",
            )
        )
    return messages


@register(Tags.caches)
def check_eviction_policy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the store's Redis may evict any key under memory pressure (`allkeys-*`).

    Say nothing when Redis cannot be reached or hides its CONFIG command (some managed
    services): the site answers 503 at run time, and a check must not fail `migrate`.
    """
    if DEFAULTS["STORE"] != tokens_settings.STORE:
        return []
    # Imported here: django_redis and redis-py are needed by the Redis store only.
    from django_redis import get_redis_connection
    from redis import exceptions as redis_errors

    try:
        client = get_redis_connection(tokens_settings.CACHE_ALIAS)
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
    except (redis_errors.RedisError, OSError, NotImplementedError, KeyError):
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


# --- simplejwt settings the app does not honour (tokens.W010-W013) -------------------------
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
        "Only the app's own access tokens (tokens.tokens.SessionAccessToken, which carry a "
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
