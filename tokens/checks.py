"""System checks for the tokens settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

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
