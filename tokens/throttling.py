"""One budget of password attempts per username (and one per client address), on Django's cache.

Every place that checks a password draws on the same per-username budget: the login endpoint,
the RFC 6749 token endpoint's password grant (both through the DRF throttles below), the
password change (`check_password_budget`, before the old password is checked) and Django's
admin login (`tokens.admin_site.ThrottledAdminSite`).
A refresh token cannot be guessed, so refreshing is never counted.

The username counted is the one the backend authenticates: trimmed and turned into a string as
the login serializers do (`tokens.serializers.UsernameField`), normalised by the user model's
`normalize_username()` (NFKC), then case-folded and hashed, so " bob", "BOB", fullwidth "bob" and
"bob" share a budget and no username is written to the cache.

Rates are DRF's: `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` under the scopes
`tokens_login_address` and `tokens_login_username`, read on every request. A scope the site does
not name uses `DEFAULT_RATES`; a rate of None turns it off.

Counts live in the Django cache `TOKENS["THROTTLE_CACHE_ALIAS"]` (default: `CACHE_ALIAS`),
through the cache API every backend has (Redis, Memcached, the database cache), so every worker
shares one budget. Each username's windows are fixed (offset per username, so that budgets do
not all reset at the same second), and `Retry-After` says when the current one ends. A cache
that fails in any way answers 503 `store_unavailable` (logged once, at ERROR, with its cause),
never a 500 and never an uncounted attempt.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.cache import BaseCache, caches
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .conf import tokens_settings
from .errors import StoreUnavailable
from .serializers import UsernameField, login_name

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger(__name__)

DEFAULT_RATES: dict[str, str | None] = {
    # Generous enough for an office behind one NAT address, tight enough to stop a spray.
    "tokens_login_address": "60/min",
    # A person mistyping needs a few tries; a guesser needs millions.
    "tokens_login_username": "10/min",
}
ADDRESS_SCOPE = "tokens_login_address"
USERNAME_SCOPE = "tokens_login_username"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# How many numbers past the suggested one an attempt tries before calling the cache broken.
MAX_PROBES = 64


def rate(scope: str) -> tuple[int, int] | None:
    """Return the scope's (attempts, seconds) from the current settings, or None when off."""
    rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
    value = rates[scope] if scope in rates else DEFAULT_RATES[scope]
    if value is None:
        return None
    count, period = str(value).split("/")
    return int(count), _PERIODS[period[0]]


def throttle_cache() -> BaseCache:
    """Return the cache the budgets are counted in."""
    return caches[tokens_settings.THROTTLE_CACHE_ALIAS or tokens_settings.CACHE_ALIAS]


def spend(scope: str, value: str) -> float | None:
    """Count one attempt against `scope`'s budget for `value`.

    Return None while the budget lasts, else the seconds until its window ends. Raise
    `StoreUnavailable` when the cache fails.
    """
    limits = rate(scope)
    if limits is None:
        return None
    limit, period = limits
    ident = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    now = time.time()
    offset = int(ident[:8], 16) % period
    window = int((now + offset) // period)
    remaining = (window + 1) * period - offset - now
    key = f"tokens:throttle:{scope}:{ident}:{window}"
    # Keys name their window, so a late expiry never carries a count into the next one.
    timeout = math.ceil(remaining) + 1
    cache = throttle_cache()
    try:
        count = _count(cache, key, timeout)
        # The count is only a hint: the attempt is admitted by taking the slot of that number
        # with add(), which every backend does atomically (SET NX, INSERT on a unique key). On a
        # backend whose incr() is a get-then-set (the database cache), two workers may read the
        # same count; the one whose add() fails takes the next slot. So no backend lets more
        # than `limit` attempts through a window.
        for _probe in range(MAX_PROBES):
            if count > limit:
                break
            if cache.add(f"{key}:{count}", 1, timeout):
                return None
            count += 1
        else:
            # More refusals than workers could ever race: the cache is failing silently (the
            # database cache's add() turns a database error into False).
            refused = StoreUnavailable("The throttle cache refuses to add keys.")
            _log_unavailable(refused)
            raise refused
    except StoreUnavailable:
        raise
    except Exception as exc:  # any backend's own error: this cache cannot count
        _log_unavailable(exc)
        raise StoreUnavailable(f"The throttle cache failed: {_describe(exc)}") from exc
    return max(remaining, 1.0)


def _count(cache: BaseCache, key: str, timeout: int) -> int:
    for _attempt in range(2):
        cache.add(key, 0, timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # the key expired (or was culled) between add() and incr()
            continue
        if isinstance(count, int):
            return count
        break
    # A cache that forgets at once (DummyCache) or swallows its errors (django-redis'
    # IGNORE_EXCEPTIONS) cannot keep a budget: refuse rather than let every guess through.
    exc = StoreUnavailable("The throttle cache does not keep counts.")
    _log_unavailable(exc)
    raise exc


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


def _log_unavailable(exc: BaseException) -> None:
    logger.error("Password attempts cannot be counted, answering 503: %s", _describe(exc))


def username_value(raw: Any) -> str | None:
    """Return the username the backend will authenticate for this input, or None if none.

    The same field the login serializers validate with, then case-folded: case never makes
    two budgets.
    """
    try:
        username = UsernameField().run_validation(raw)
    except ValidationError:
        return None
    return username.casefold() if username else None


def username_of_user(user: AbstractBaseUser) -> str:
    """Return the budget value of a known user (its stored, already normalised username)."""
    return str(get_user_model().normalize_username(user.get_username())).casefold()


def check_password_budget(user: AbstractBaseUser) -> None:
    """Count an attempt at this user's password; raise DRF's `Throttled` past the budget.

    For a view that checks a password of a user it already knows (the password change).
    """
    wait = spend(USERNAME_SCOPE, username_of_user(user))
    if wait is not None:
        raise Throttled(wait=wait)


# --- The DRF throttles of the login and token endpoints ----------------------------------------


class PasswordAttemptThrottle(BaseThrottle):
    """Base class: count requests that carry a password against `scope`'s budget of `value()`."""

    scope: str
    wait_seconds: float | None = None

    def value(self, request: Request) -> str | None:
        """Return what this throttle counts by, or None to let the request through uncounted."""
        raise NotImplementedError("subclasses of PasswordAttemptThrottle must provide value()")

    def allow_request(self, request: Request, view: APIView) -> bool:
        data = _data(request)
        if "password" not in data:
            return True
        value = self.value(request)
        if value is None:
            return True
        self.wait_seconds = spend(self.scope, value)
        return self.wait_seconds is None

    def wait(self) -> float | None:
        """Return the seconds (at least 1) until the current window ends."""
        return max(1.0, self.wait_seconds or 0.0)


class LoginAddressThrottle(PasswordAttemptThrottle):
    """Limit password attempts per client address.

    The address is DRF's `get_ident()`: REMOTE_ADDR, or the X-Forwarded-For entry that
    `REST_FRAMEWORK["NUM_PROXIES"]` trusted proxies vouch for. Leaving NUM_PROXIES unset lets a
    client name any address it likes; the site sets it.
    """

    scope = ADDRESS_SCOPE

    def value(self, request: Request) -> str | None:
        return self.get_ident(request) or None


class LoginUsernameThrottle(PasswordAttemptThrottle):
    """Limit password attempts per username, whichever addresses they come from.

    The username is the one the request's password is checked for: under the user model's
    USERNAME_FIELD name (`email`) or as `username` (`tokens.serializers.login_name`).
    """

    scope = USERNAME_SCOPE

    def value(self, request: Request) -> str | None:
        return username_value(login_name(_data(request)))


LOGIN_THROTTLES = [LoginAddressThrottle, LoginUsernameThrottle]
"""The throttles of the login and token endpoints, in the order they are checked."""


def _data(request: Request) -> Any:
    data = request.data
    return data if hasattr(data, "get") else {}
