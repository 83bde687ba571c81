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
