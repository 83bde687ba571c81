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

Counts live in the Django cache `TOKENS["THROTTLE_CACHE_ALIAS"]` (default: `CACHE_ALIAS`), so
every worker shares one budget: one counter per (scope, value, window), incremented atomically
and expiring when its window ends. So the state grows with the addresses and usernames seen in a
window, never with the attempts, and the count is exact however many workers race:

- a django-redis cache: one Lua script (INCR, and EXPIRE when it made the key), one round trip;
- Django's database cache: the counter's row in the cache's own table, updated under its row
  lock (PostgreSQL) or the database's write lock (SQLite), never through the cache's `incr`
  (a read then a write, which loses counts) and never culled by it;
- any other cache (Django's Redis cache, Memcached, the local-memory cache): `add()` then
  `incr()`, which those backends do atomically.

Each username's windows are fixed (offset per username, so that budgets do not all reset at the
same second), and `Retry-After` says when the current one ends. An attempt the address budget
refuses is not counted against the username (it checks no password). A cache that fails in any
way answers 503 `store_unavailable` (logged once, at ERROR, with its cause), never a 500 and
never an uncounted attempt.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import BaseCache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import IntegrityError, connections, router, transaction
from django.db.models import DateTimeField
from django_redis import get_redis_connection
from django_redis.cache import RedisCache as DjangoRedisCache
from redis.commands.core import Script
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
    from django.db.backends.base.base import BaseDatabaseWrapper

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
# How many times an attempt retries a counter that vanished or was made by another worker at
# the same moment, before calling the cache broken.
MAX_TRIES = 3

# Count one attempt: INCR makes the key at 1 if it is missing; only the attempt that made it
# sets its expiry (relative, so that Redis' clock and ours need not agree), in the same step,
# so no key is ever left without one.
INCREMENT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_increment_script: Script | None = None


def rate(scope: str) -> tuple[int, int] | None:
    """Return the scope's (attempts, seconds) from the current settings, or None when off."""
    rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
    value = rates[scope] if scope in rates else DEFAULT_RATES[scope]
    if value is None:
        return None
    count, period = str(value).split("/")
    return int(count), _PERIODS[period[0]]


def throttle_cache_alias() -> str:
    """Return the alias of the cache the budgets are counted in."""
    return tokens_settings.THROTTLE_CACHE_ALIAS or tokens_settings.CACHE_ALIAS


def throttle_cache() -> BaseCache:
    """Return the cache the budgets are counted in."""
    return caches[throttle_cache_alias()]


def spend(scope: str, value: str) -> float | None:
    """Count one attempt against `scope`'s budget for `value`.

    Return None while the budget lasts, else the seconds until its window ends. Raise
    `StoreUnavailable` when the cache fails.
    """
    limits = rate(scope)
    if limits is None:
        return None
    limit, period = limits
    # 128 bits of the hash name the value: no username is written, and a collision (two values
    # sharing a budget) is out of reach.
    ident = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    now = time.time()
    offset = int(ident[:8], 16) % period
    window = int((now + offset) // period)
    remaining = (window + 1) * period - offset - now
    # Keys name their window, so a late expiry never carries a count into the next one; the
    # expiry only reclaims the key, a second after the window ends.
    key = f"tokens:throttle:{scope}:{ident}:{window}"
    timeout = math.ceil(remaining) + 1
    try:
        count = increment(key, timeout)
    except StoreUnavailable as exc:
        _log_unavailable(exc)
        raise
    except Exception as exc:  # any backend's own error: this cache cannot count
        _log_unavailable(exc)
        raise StoreUnavailable(f"The throttle cache failed: {_describe(exc)}") from exc
    if count <= limit:
        return None
    return max(remaining, 1.0)


def increment(key: str, timeout: int) -> int:
    """Add one to the counter `key` of the throttle cache and return its new value.

    A missing counter starts at 1 and expires `timeout` seconds later. Every worker sees every
    increment: no two attempts ever get the same number.
    """
    alias = throttle_cache_alias()
    cache = caches[alias]
    if isinstance(cache, DjangoRedisCache):
        return _increment_in_redis(alias, cache, key, timeout)
    if isinstance(cache, DatabaseCache):
        return _increment_in_database(cache, key, timeout)
    return _increment_through_cache_api(cache, key, timeout)


def _increment_in_redis(alias: str, cache: BaseCache, key: str, timeout: int) -> int:
    global _increment_script
    client = get_redis_connection(alias)
    if _increment_script is None:
        _increment_script = client.register_script(INCREMENT_LUA)
    # The cache's own key function and prefix, as its add() and incr() would name the key.
    count = _increment_script(keys=[cache.make_key(key)], args=[timeout], client=client)
    return int(count)


def _increment_in_database(cache: DatabaseCache, key: str, timeout: int) -> int:
    # The cache's incr() is a get() then a set(), in two transactions: two workers read the
    # same count and one increment is lost; and its set() culls live rows once the table is
    # past MAX_ENTRIES. So the counter's row is written here, in the cache's own table (its
    # `_meta`), in one transaction that holds the row before reading it. Its value is the
    # count as text (not the cache's pickle): nothing reads it through the cache.
    model = cache.cache_model_class
    alias = router.db_for_write(model)
    connection = connections[alias]
    table = connection.ops.quote_name(model._meta.db_table)
    cache_key = cache.make_key(key)
    for _attempt in range(MAX_TRIES):
        try:
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                # An UPDATE first: it takes the row's lock on PostgreSQL, and the write lock at
                # once on SQLite (a read that later writes would fail with "database is
                # locked" rather than wait), so no other worker reads the count until we commit.
                cursor.execute(
                    f"UPDATE {table} SET expires = expires WHERE cache_key = %s",  # noqa: S608
                    [cache_key],
                )
                if cursor.rowcount:
                    cursor.execute(
                        f"SELECT value FROM {table} WHERE cache_key = %s",  # noqa: S608
                        [cache_key],
                    )
                    count = int(cursor.fetchone()[0]) + 1
                    cursor.execute(
                        f"UPDATE {table} SET value = %s WHERE cache_key = %s",  # noqa: S608
                        [str(count), cache_key],
                    )
                    return count
                expires = _expiry(time.time() + timeout, connection)
                cursor.execute(
                    f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s)",  # noqa: S608
                    [cache_key, "1", expires],
                )
        except IntegrityError:
            continue  # another worker made the row first (PostgreSQL): count on it
        # A new row, at most one per value and window: this is when rows whose window has
        # ended go, so the table holds the values of about one window (as the cache's own
        # culling deletes expired rows first, whatever else shares the table).
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE expires < %s",  # noqa: S608
                [_expiry(time.time(), connection)],
            )
        return 1
    raise StoreUnavailable("The throttle cache's table refuses the counter's row.")


def _expiry(timestamp: float, connection: BaseDatabaseWrapper) -> Any:
    # The cache's own `expires`: aware in UTC with USE_TZ, naive local time without, adapted
    # for this database as a DateTimeField adapts it (the documented Field API).
    moment = datetime.fromtimestamp(timestamp, tz=UTC if settings.USE_TZ else None)
    return DateTimeField().get_db_prep_value(moment, connection)


def _increment_through_cache_api(cache: BaseCache, key: str, timeout: int) -> int:
    # Django's Redis cache (INCR), Memcached (incr) and the local-memory cache (under its lock)
    # all increment atomically; add() makes the counter with its expiry.
    for _attempt in range(MAX_TRIES):
        cache.add(key, 0, timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # the key expired (or was evicted) between add() and incr()
            continue
        if not isinstance(count, int):
            break
        if count == 1:
            # Django's Redis cache checks that the key exists, then INCRs: a key that expired
            # in between is made anew without an expiry. The attempt that counts 1 sets it.
            cache.touch(key, timeout)
        return count
    # A cache that forgets at once (DummyCache) or swallows its errors cannot keep a budget:
    # refuse rather than let every guess through.
    raise StoreUnavailable("The throttle cache does not keep counts.")


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

# Set on a request that a budget has refused.
_REFUSED = "_tokens_password_attempt_refused"


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
        if getattr(request, _REFUSED, False):
            # DRF asks every throttle, even after one refused. A refused attempt checks no
            # password, so it spends no other budget: an attacker's address past its budget
            # neither locks out the usernames it names nor leaves a counter for each of them.
            return True
        value = self.value(request)
        if value is None:
            return True
        self.wait_seconds = spend(self.scope, value)
        if self.wait_seconds is not None:
            setattr(request, _REFUSED, True)
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
