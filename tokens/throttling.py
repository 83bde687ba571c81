"""DRF throttles for password attempts: per client address and per username, kept in Redis.

Both count only requests that try a password (the login endpoint, and the RFC 6749 token
endpoint's password grant): a refresh token cannot be guessed, so refreshing is never slowed.

Rates are DRF's: `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` under the scopes
`tokens_login_address` and `tokens_login_username`, read on every request (DRF's own
`SimpleRateThrottle` copies them into a class attribute at import time, so overrides would not
take effect). A scope the site does not name uses `DEFAULT_RATES`; a rate of None turns it off.

The count lives in the django-redis cache `TOKENS["CACHE_ALIAS"]`, shared by every worker, and is
taken atomically (SET NX, then INCR), so parallel guesses cannot slip past the limit. A window
starts with the first attempt and lasts the rate's period; `Retry-After` says when it ends. Redis
being down answers 503 `store_unavailable`, as everywhere else.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import caches
from django_redis.exceptions import ConnectionInterrupted
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .conf import tokens_settings
from .exceptions import StoreUnavailable
from .stores.redis import UNAVAILABLE_ERRORS

DEFAULT_RATES: dict[str, str | None] = {
    # Generous enough for an office behind one NAT address, tight enough to stop a spray.
    "tokens_login_address": "60/min",
    # A person mistyping needs a few tries; a guesser needs millions.
    "tokens_login_username": "10/min",
}


class PasswordAttemptThrottle(SimpleRateThrottle):
    """Base class: an atomic counter of password attempts per `ident()` and window."""

    scope: str
    wait_seconds: float | None = None

    def get_rate(self) -> str | None:
        """Return the scope's rate from the current settings (never a copy made at import)."""
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates[self.scope] if self.scope in rates else DEFAULT_RATES[self.scope]
        return None if rate is None else str(rate)

    def ident(self, request: Request) -> str | None:
        """Return what this throttle counts by, or None to let the request through uncounted."""
        raise NotImplementedError("subclasses of PasswordAttemptThrottle must provide ident()")

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not _tries_a_password(request):
            return None
        ident = self.ident(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: APIView) -> bool:
        limit, duration = self.parse_rate(self.rate)
        if limit is None or duration is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        cache = caches[tokens_settings.CACHE_ALIAS]
        try:
            # The window starts with the first attempt. SET NX then INCR: two atomic commands,
            # so workers counting at the same moment never lose a count.
            cache.add(key, 0, timeout=duration)
            try:
                count = cache.incr(key)
            except ValueError:  # the window ended between the two commands
                return True
            if count <= limit:
                return True
            ttl = cache.ttl(key)  # type: ignore[attr-defined]
        except (*UNAVAILABLE_ERRORS, ConnectionInterrupted) as exc:
            raise StoreUnavailable(str(exc)) from exc
        self.wait_seconds = float(ttl if ttl and ttl > 0 else duration)
        return False

    def wait(self) -> float | None:
        """Return the whole seconds (at least 1) until the current window ends."""
        return max(1.0, self.wait_seconds or 0.0)


class LoginAddressThrottle(PasswordAttemptThrottle):
    """Limit password attempts per client address.

    The address is DRF's `get_ident()`: REMOTE_ADDR, or the X-Forwarded-For entry that
    `REST_FRAMEWORK["NUM_PROXIES"]` trusted proxies vouch for. Leaving NUM_PROXIES unset lets a
    client name any address it likes; the site sets it.
    """

    scope = "tokens_login_address"

    def ident(self, request: Request) -> str | None:
        return self.get_ident(request) or None


class LoginUsernameThrottle(PasswordAttemptThrottle):
    """Limit password attempts per username, whichever addresses they come from.

    The username is normalized as Django does and case-folded, then hashed, so "Alice" and
    "alice" share a budget and no username is written to Redis.
    """

    scope = "tokens_login_username"

    def ident(self, request: Request) -> str | None:
        username = _data(request).get("username")
        if not isinstance(username, str) or not username:
            return None
        normalized = AbstractBaseUser.normalize_username(username).casefold()
        return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


LOGIN_THROTTLES = [LoginAddressThrottle, LoginUsernameThrottle]
"""The throttles of the login and token endpoints, in the order they are checked."""


def _data(request: Request) -> Any:
    data = request.data
    return data if hasattr(data, "get") else {}


def _tries_a_password(request: Request) -> bool:
    return "password" in _data(request)
