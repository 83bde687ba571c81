"""The Redis session store.

Layout: one hash per user, `<prefix>:{u:<user id>}`, field = session id, value = a compact
record (see lua/record.lua) of at most 225 bytes (`AGENT_MAX_BYTES`), so that with
`hash-max-listpack-value` raised above it (docs/operations.md) a user's hash stays in Redis'
compact listpack encoding. The braces make all of one user's state one Redis Cluster hash slot,
so every script touches a single slot: the hash, and `<prefix>:{u:<user id>}:ended`, the user's
"ended before" time (tokens.rules.admits_login()). The hash's TTL follows its longest-lived
session; expired sessions inside it are also pruned when the user logs in. An admin index
`<prefix>:index` (a sorted set of "<user id>:<session id>" by creation time, of the newest
`admin_list_size` sessions) lets the admin page read live sessions a page at a time; it is
written beside the scripts, never inside them, and entries whose session has gone are dropped
lazily. On a Redis Cluster it is spread over `CLUSTER_INDEX_SHARDS` keys
`<prefix>:index:{i<n>}` (each user's entries in one), so no key holds the whole site.

Topologies: one server or Sentinel through django-redis' clients, Cluster through redis-py's
`RedisCluster` (`ClusterConnectionFactory`). A script's deadline follows the clock of the Redis
that runs it (on a cluster, the key's primary). Revocations wait for a replica on Sentinel and
Cluster (`RedisStore.replicate()`), and a refresh token's parent claim lets a rotation lost in
a failover roll forward (tokens.rules.is_current()). docs/operations.md has the guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
import redis.asyncio as redis_asyncio
from django.conf import settings
from django.utils.module_loading import import_string
from django_redis import get_redis_connection
from django_redis.pool import ConnectionFactory, SentinelConnectionFactory
from redis import exceptions as redis_errors
from redis.commands.core import Script
from redis.sentinel import SentinelConnectionPool

from ..conf import tokens_settings
from ..display import shorten_user_agent
from ..errors import LoginInterrupted, StoreUnavailable
from ..rules import PREVIOUS_JTI_LENGTH, milliseconds
from .base import BaseStore, Outcome, Rotation, SessionRecord

LUA_DIR = Path(__file__).with_name("lua")

logger = logging.getLogger("tokens.store")

# Errors that mean "Redis cannot answer now": not answering at all (connection, timeout),
# loading, a read-only replica, out of memory under `noeviction`, a cluster without a master
# for the slot, a script of someone else's running too long (BUSY, a plain ResponseError: see
# is_unavailable()). They answer 503. Anything else (our script is wrong) stays a 500.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.MasterDownError,
    OSError,
)

# Replies Redis gives while it cannot serve writes for a while, which redis-py raises as a plain
# ResponseError: a script of someone else running too long, a failing RDB save (MISCONF), too
# few replicas for min-replicas-to-write (NOREPLICAS).
_UNAVAILABLE_REPLIES = ("BUSY ", "MISCONF ", "NOREPLICAS ", "OOM ")


_scripts: dict[str, Script] = {}


def _script(name: str, client: Any) -> Script:
    # One Script per file: each call passes its own client, and redis-py sends EVALSHA first,
    # falling back to EVAL once after a Redis restart (NOSCRIPT).
    script = _scripts.get(name)
    if script is None:
        source = (
            f"local PREVIOUS_JTI_LENGTH = {PREVIOUS_JTI_LENGTH}\n"
            + (LUA_DIR / "record.lua").read_text()
            + (LUA_DIR / f"{name}.lua").read_text()
        )
        script = _scripts[name] = client.register_script(source)
    return script


def is_unavailable(exc: BaseException) -> bool:
    """Return whether a Redis error means "Redis cannot answer now" (503), not a bug (500)."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_UNAVAILABLE_REPLIES)


@contextmanager
def _available() -> Iterator[None]:
    """Turn every error that means "Redis cannot answer now" into `StoreUnavailable`, logged.

    It is logged here once, at ERROR with its cause; the API answers 503 `store_unavailable`.
    """
    try:
        yield
    except redis_errors.RedisError as exc:
        if not is_unavailable(exc):
            raise
        logger.error("Session store unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        logger.error("Session store unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


# A clock difference, or a change of it, worth a WARNING: deadlines follow Redis' clock
# whatever it is, but an operator wants to know that a server's clock is off.
CLOCK_WARNING_MS = 250


def _socket_timeout(client: Any) -> float:
    """Return how long the client waits for a reply (s), or 0 if it waits for ever."""
    if isinstance(client, redis.RedisCluster):
        # A cluster client has no pool of its own: every node's pool gets these arguments.
        kwargs = client.nodes_manager.connection_kwargs
    else:
        kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    return float(kwargs.get("socket_timeout") or 0)


def _node_client(client: Any, key: str) -> Any:
    """Return the client of the one Redis that runs a script on `key` (for its clock).

    On a cluster that is the primary of the key's slot (as the cluster client last learned
    it: a script redirected by MOVED/ASK runs elsewhere, whose clock the reply then teaches);
    otherwise the client itself.
    """
    if isinstance(client, redis.RedisCluster):
        node = client.get_node_from_key(key)
        if node.redis_connection is None:
            node.redis_connection = client.get_redis_connection(node)
        return node.redis_connection
    return client


def _target(client: Any) -> Hashable:
    # Which Redis a client talks to: its address, or its pool when that names none (Sentinel).
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    address = (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"))
    return address if address != (None, None, None) else ("pool", id(pool))


class RedisClock:
    """Redis' clock as this process sees it: a script's deadline is set on Redis' own clock.

    A script that Redis only gets to after the client gave up waiting (its socket timeout)
    must apply nothing: it carries that moment, and compares it with Redis' `TIME`. The
    moment is computed on Redis' clock, so clocks that disagree (this server's and Redis') stop
    nothing, and a stalled Redis still applies nothing.

    For each Redis (host, port, socket path) it keeps the offset from `monotonic()` (ms) to
    Redis' time, learned from one `TIME` call the first time, then followed on every script
    reply, which carries Redis' time as the script ran. The offset kept is a lower bound (at a
    reply's arrival Redis' time is at least the time it reported), so a deadline computed from
    it is never later than the moment the client gives up. If Redis' clock steps (an NTP step,
    a failover to another Redis): back, a reply shows the offset too high and it is lowered at
    once; forward, a script is refused as late although the client was still waiting, and the
    caller learns the new offset from that reply and runs it once more. Each change of more
    than `CLOCK_WARNING_MS`, and a wall clock that disagrees with Redis' by more, is logged
    once at WARNING on `tokens.store`.

    `monotonic` and `wall` are the clocks it reads (`time.monotonic`, `time.time`); tests
    replace `tokens.stores.redis.redis_clock` with one whose clocks are offset, to see a Redis
    whose clock disagrees with this server's.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.monotonic = monotonic
        self.wall = wall
        self._offsets: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def offset_ms(self, client: Any) -> float:
        """Return Redis' time minus `monotonic()`, in ms (asking Redis the first time)."""
        offset = self._offsets.get(_target(client))
        if offset is not None:
            return offset
        wall_sent, sent = self.wall(), self.monotonic()
        seconds, micros = client.time()
        received, wall_received = self.monotonic(), self.wall()
        redis_ms = seconds * 1000 + micros // 1000
        # Where Redis' clock stands against this server's, as well as one call can tell.
        skew = redis_ms - (wall_sent + wall_received) * 500
        if abs(skew) > CLOCK_WARNING_MS:
            logger.warning(
                "Redis' clock is %.1f s %s this server's: the session scripts' deadlines "
                "follow Redis' clock, but check that both keep time (NTP).",
                abs(skew) / 1000,
                "ahead of" if skew > 0 else "behind",
            )
        return self.observe(client, redis_ms, sent, received)

    def observe(self, client: Any, redis_ms: int, sent: float, received: float) -> float:
        """Follow Redis' clock from a reply: it read `redis_ms` between `sent` and `received`.

        Return the offset kept (ms).
        """
        key = _target(client)
        low = redis_ms - received * 1000
        high = redis_ms + 1 - sent * 1000  # + 1: Redis' time is cut to the ms
        with self._lock:
            known = self._offsets.get(key)
            if known is not None and low <= known <= high:
                return known
            # Unknown, or a tighter lower bound, or too high (Redis' clock went back).
            self._offsets[key] = low
        if known is not None and abs(low - known) > CLOCK_WARNING_MS:
            logger.warning(
                "Redis' clock moved %+.1f s against this server's (a clock step, or another "
                "Redis behind the same address); the session scripts' deadlines follow it.",
                (low - known) / 1000,
            )
        return low


# The one RedisClock of this process (each process learns its own offsets).
redis_clock = RedisClock()


def _run_session_script(
    client: Any,
    name: str,
    keys: list[str],
    args: list[Any],
    *,
    rerun_is_safe: bool = False,
) -> list[Any]:
    """Run a session script with the caller's deadline as its last argument; return its reply.

    The reply is `[status, Redis' time (ms), ...]`. With a socket timeout, the deadline is the
    moment the client gives up, on Redis' clock (`RedisClock`); without one there is none (0).
    A `late` reply (nothing applied) read before the socket timeout ran out means Redis' clock
    stepped forward, not a stall: the new offset is learned and the script runs once more.
    Otherwise `late` raises `StoreUnavailable`. If the connection broke before the reply came
    (Redis closed a pooled connection), the script may or may not have run: it runs again only
    if `rerun_is_safe` (a rotation with a grace window: the same token lands in it).
    On a cluster the clock followed is that of the key's node (`_node_client()`).
    """
    script = _script(name, client)
    timeout = _socket_timeout(client)
    clock = redis_clock
    for attempt in (1, 2):
        clock_client = _node_client(client, keys[0]) if timeout else client
        offset = clock.offset_ms(clock_client) if timeout else 0.0
        sent = clock.monotonic()
        deadline = math.floor(offset + (sent + timeout) * 1000) if timeout else 0
        call_args = [*args, deadline]
        try:
            reply: list[Any] = script(keys=keys, args=call_args, client=client)
        except redis_errors.TimeoutError:
            raise  # a Redis that does not answer will not answer a retry sooner
        except redis_errors.ConnectionError:
            if not rerun_is_safe:
                raise
            reply = script(keys=keys, args=call_args, client=client)
        if not timeout:
            return reply
        received = clock.monotonic()
        clock.observe(clock_client, int(reply[1]), sent, received)
        if _decode(reply[0]) != "late":
            return reply
        if received - sent >= timeout:
            raise _late("it was stalled: the site had already answered 503")
        if attempt == 2:
            raise _late("twice, although the site was still waiting: is Redis' clock jumping?")
    raise AssertionError("unreachable")


def _late(why: str) -> StoreUnavailable:
    logger.error(
        "Session store unavailable: Redis ran a script after the caller's deadline (%s); "
        "nothing was applied.",
        why,
    )
    return StoreUnavailable("Redis answered after the caller's deadline")


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# The longest user agent a record keeps (bytes of UTF-8): longer ones keep their start and end
# around "…" (tokens.display.shorten_user_agent(), the rule the setting USER_AGENT_MAX_LENGTH
# applies for every store). It bounds the record whatever the agent: the rest is at most 125
# bytes (a 22-character token id, an 11-character prefix, four times of at most 9 base-36
# digits, the agent's format and up to 1,295 replays in 3, an address of at most 45, 8 bars),
# so a record stays within docs/operations.md's `hash-max-listpack-value 256`; and the record
# of a rotated session with an IPv4 address, at most 188 bytes, keeps a session within 512
# bytes of Redis memory (docs/benchmarks.md).
AGENT_MAX_BYTES = 100

# Field 7's first letter says how the record holds its user agent: "t", as UTF-8 text, which
# every write stores; "r", raw-deflated against _LEGACY_AGENT_DICTIONARY, in records written
# before (and in 0.1's, which have no field 7). A rotation in Lua keeps the letter of the record
# it rotates, whose agent it carries along untouched.
_TEXT_AGENT = b"t"

# LEGACY, READ-ONLY: the dictionary that records marked "r", and 0.1's, deflated their user agent
# against. Nothing writes it any more; it only inflates the agents of records written before
# the upgrade. It can go once every such session has ended (at most SESSION_MAX_AGE after the
# upgrade): without it those records still work, their agent only reads as "" (no device
# label). Never change it: the stored agents need it byte for byte.
_LEGACY_AGENT_DICTIONARY = b" ".join(
    [
        b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) (Macintosh; Intel Mac OS X 10_15_7)",
        b"(X11; Linux x86_64) (X11; Ubuntu; Linux x86_64; rv:)",
        b"(iPhone; CPU iPhone OS 18_0 like Mac OS X) (iPad; CPU OS 17_0 like Mac OS X)",
        b"(Linux; Android 10; K) Gecko/20100101 Firefox/ rv:",
        b"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
        b"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        b"Edg/131.0.0.0 OPR/ SamsungBrowser/ CriOS/ FxiOS/ python-httpx/ python-requests/ curl/",
    ]
)


def _inflate_legacy_agent(packed: bytes) -> str:
    """Return the user agent of a record written before text agents (legacy, read-only)."""
    if not packed:
        return ""
    inflate = zlib.decompressobj(-15, zdict=_LEGACY_AGENT_DICTIONARY)
    try:
        return (inflate.decompress(packed) + inflate.flush()).decode(errors="replace")
    except zlib.error:
        return ""


def _b36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _encode(record: SessionRecord) -> bytes:
    """Return the stored form of a record (the layout is in lua/record.lua)."""
    return "|".join(
        [
            record.current_jti,
            record.previous_jti[:PREVIOUS_JTI_LENGTH],
            _b36(milliseconds(record.grace_until)),
            _b36(milliseconds(record.last_used_at)),
            _b36(record.expires_at),
            _b36(milliseconds(record.created_at)),
            _TEXT_AGENT.decode() + _b36(record.replays),
            record.ip.replace("|", ""),
            shorten_user_agent(record.user_agent, AGENT_MAX_BYTES),
        ]
    ).encode()


# What record.lua's parse() accepts, field by field: a record of another format (an old JSON
# array) never passes, whatever its user agent holds.
_TOKEN_ID = re.compile(rb"[A-Za-z0-9_-]+")
_BASE36 = re.compile(rb"[0-9a-z]+")
_AGENT_FORMAT_AND_REPLAYS = re.compile(rb"[tr][0-9a-z]+")


def _fields(raw: bytes | str) -> tuple[list[bytes], int, bytes, bytes, bytes] | None:
    """Return fields 1-6, the replay count, the agent's format letter, the ip and the agent.

    Return None if `raw` is not a record this version reads. A record of the previous release
    (0.1) has no field 7: its 7th field is the ip, never a format letter and base-36 digits (an
    address holds "." or ":", or is empty). It reads as a record with 0 replays and a deflated
    agent ("r"), like record.lua's parse().
    """
    parts = (raw.encode() if isinstance(raw, str) else raw).split(b"|", 7)
    if len(parts) != 8 or not _TOKEN_ID.fullmatch(parts[0]):
        return None
    if parts[1] and not _TOKEN_ID.fullmatch(parts[1]):
        return None
    if not all(_BASE36.fullmatch(part) for part in parts[2:6]):
        return None
    if not _AGENT_FORMAT_AND_REPLAYS.fullmatch(parts[6]):
        return parts[:6], 0, b"r", parts[6], parts[7]  # 0.1
    ip, bar, agent = parts[7].partition(b"|")
    if not bar:
        return None
    return parts[:6], int(parts[6][1:], 36), parts[6][:1], ip, agent


def _record(user_id: str, session_id: str, raw: bytes | str) -> SessionRecord | None:
    """Return the record stored as `raw`, or None if it is not in a format this version reads."""
    fields = _fields(raw)
    if fields is None:
        return None
    head, replays, agent_format, ip, agent = fields
    try:
        cur_jti, prev_jti, address = head[0].decode(), head[1].decode(), ip.decode()
    except UnicodeDecodeError:
        return None
    grace_until, used, expires, created = (int(part, 36) for part in head[2:6])
    return SessionRecord(
        session_id=session_id,
        user_id=user_id,
        created_at=created / 1000,
        last_used_at=used / 1000,
        expires_at=expires,
        ip=address,
        user_agent=(
            agent.decode(errors="replace")
            if agent_format == _TEXT_AGENT
            else _inflate_legacy_agent(agent)
        ),
        current_jti=cur_jti,
        previous_jti=prev_jti,
        grace_until=grace_until / 1000,
        replays=replays,
    )


def _expires_at(raw: bytes | str) -> int:
    """Return a stored record's expiry cheaply, or 0 if it is not in a format this version reads."""
    fields = _fields(raw)
    return 0 if fields is None else int(fields[0][4], 36)


class RedisStore(BaseStore):
    """Sessions in Redis, through the django-redis cache alias `TOKENS["CACHE_ALIAS"]`."""

    @property
    def redis(self) -> Any:
        """Return the raw redis-py client of the configured cache alias."""
        return get_redis_connection(tokens_settings.CACHE_ALIAS)

    def user_key(self, user_id: str) -> str:
        """Return the key of the user's session hash."""
        return f"{tokens_settings.KEY_PREFIX}:{{u:{user_id}}}"

    @property
    def index_key(self) -> str:
        """Return the key of the admin index of all sessions (one server, Sentinel)."""
        return f"{tokens_settings.KEY_PREFIX}:index"

    def index_keys(self, client: Any) -> list[str]:
        """Return the keys of the admin index: one, or `CLUSTER_INDEX_SHARDS` on a cluster.

        On a cluster no key holds the whole site: the index is spread over shards in slots of
        their own (spread over the primaries), each user's entries in one of them.
        """
        if not isinstance(client, redis.RedisCluster):
            return [self.index_key]
        return [f"{self.index_key}:{{i{n}}}" for n in range(CLUSTER_INDEX_SHARDS)]

    def index_key_of(self, client: Any, user_id: str) -> str:
        """Return the admin index key that holds the user's sessions."""
        keys = self.index_keys(client)
        if len(keys) == 1:
            return keys[0]
        return keys[zlib.crc32(user_id.encode()) % len(keys)]

    def ended_key(self, user_id: str) -> str:
        """Return the key of the user's "ended before" time (the user's Cluster slot)."""
        return f"{self.user_key(user_id)}:ended"

    def create(
        self,
        record: SessionRecord,
        *,
        max_sessions: int | None,
        started_at: float | None = None,
    ) -> list[str]:
        client = self.redis
        created = record.created_at
        with _available():
            result = _run_session_script(
                client,
                "create",
                [self.user_key(record.user_id), self.ended_key(record.user_id)],
                [
                    record.session_id,
                    _encode(record),
                    created,
                    max_sessions or 0,
                    record.expires_at,
                    0 if started_at is None else milliseconds(started_at),
                ],
            )
            if _decode(result[0]) == "refused":
                raise LoginInterrupted()
            # The admin index lives in its own key (another Cluster slot), so it is written
            # beside the script rather than inside it.
            max_age = tokens_settings.max_age_seconds
            index = self.index_key_of(client, record.user_id)
            pipe = client.pipeline(transaction=False)
            pipe.zadd(index, {self.index_member(record.user_id, record.session_id): created})
            pipe.zremrangebyscore(index, "-inf", created - max_age)
            # Only the newest sessions the admin lists stay in the index: an entry of every
            # session would cost about 120 bytes per session more, a quarter of its memory
            # (docs/benchmarks.md). On a cluster each shard keeps as many, not a share: one
            # user's sessions all go to one shard, so the site's newest may all be in one.
            # The entries just past them go, at most INDEX_TRIM_BATCH more than this login's
            # one: a longer index (written before the bound, or before admin_list_size was
            # lowered) shrinks over some logins instead of in one command that stalls Redis.
            keep = self.admin_list_size
            pipe.zremrangebyrank(index, -keep - 1 - INDEX_TRIM_BATCH, -keep - 1)
            # No session outlives max_age, so neither need the index once logins stop.
            pipe.expire(index, max_age)
            pipe.execute()
        return [_decode(sid) for sid in result[2:]]

    def rotate(
        self,
        user_id: str,
        session_id: str,
        presented_jti: str,
        *,
        new_jti: str,
        now: float,
        lifetime: int,
        grace: float,
        max_age: int,
        max_replays: int | None = None,
        presented_parent: str = "",
    ) -> Rotation:
        if max_replays is None:
            max_replays = tokens_settings.ROTATION_MAX_REPLAYS
        with _available():
            result = _run_session_script(
                self.redis,
                "rotate",
                [self.user_key(user_id)],
                [
                    *(session_id, presented_jti, now, new_jti, lifetime, grace, max_age),
                    *(max_replays, presented_parent),
                ],
                rerun_is_safe=grace > 0,
            )
        outcome: Outcome = _decode(result[0])  # type: ignore[assignment]
        if outcome == "reused":
            # The session ended: like any revocation, it must survive a failover.
            with _available():
                self.replicate(self.redis, user_id)
        if outcome == "grace":
            replays = int(result[5])
            return Rotation(outcome, _decode(result[2]), int(result[3]), int(result[4]), replays)
        if outcome == "rotated":
            return Rotation(outcome, _decode(result[2]), int(result[3]), int(result[4]))
        return Rotation(outcome)

    def is_live(self, user_id: str, session_id: str, now: float) -> bool:
        with _available():
            raw = self.redis.hget(self.user_key(user_id), session_id)
        # The expiry sits at a fixed place in the record; reading it here is cheaper than a
        # server-side script and keeps this check one plain command.
        return raw is not None and _expires_at(raw) > now

    def get(self, user_id: str, session_id: str) -> SessionRecord | None:
        with _available():
            raw = self.redis.hget(self.user_key(user_id), session_id)
        return None if raw is None else _record(user_id, session_id, raw)

    def sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        with _available():
            fields = self.redis.hgetall(self.user_key(user_id))
        records = [_record(user_id, _decode(sid), raw) for sid, raw in fields.items()]
        live = [r for r in records if r is not None and r.expires_at > now]
        return sorted(live, key=lambda r: r.created_at, reverse=True)

    def index_member(self, user_id: str, session_id: str) -> str:
        """Return a session's member in the admin index."""
        return f"{user_id}:{session_id}"

    def delete(self, user_id: str, session_id: str) -> bool:
        with _available():
            client = self.redis
            pipe = client.pipeline(transaction=False)
            pipe.hdel(self.user_key(user_id), session_id)
            pipe.zrem(self.index_key_of(client, user_id), self.index_member(user_id, session_id))
            deleted, _ = pipe.execute()
            if deleted:
                self.replicate(client, user_id)
        return bool(deleted)

    def replicate(self, client: Any, user_id: str) -> int:
        """Wait until a replica has the user's writes so far (a revocation); return how many do.

        Replication is asynchronous: a revocation acknowledged by the primary and lost when a
        replica is promoted would bring the session back. Revocations are rare, so they wait
        for one replica (`WAIT`), up to `REPLICA_WAIT_MS` (less than the socket timeout).
        `WAIT` counts the writes of its own connection: it follows a small write of its own in
        the user's slot (`<user key>:replicated`, gone after a second), which reaches the
        replica after the revocation did. On a single server (no replica to fail over to)
        nothing waits. If no replica acknowledges in time, the revocation stands on the primary
        (the caller is told it succeeded) and a WARNING is logged: only a failover within that
        moment could lose it (docs/operations.md).
        """
        if not _has_replicas(client):
            return 0
        key = self.user_key(user_id)
        timeout = _socket_timeout(client)
        wait_ms = int(min(REPLICA_WAIT_MS, timeout * 500)) if timeout else REPLICA_WAIT_MS
        target = _node_client(client, key)
        pipe = target.pipeline(transaction=False)
        pipe.set(f"{key}:replicated", 1, px=1000)
        pipe.wait(1, wait_ms)
        try:
            acknowledged = int(pipe.execute()[-1])
        except redis_errors.ResponseError as exc:
            if not str(exc).startswith(("MOVED", "ASK")):
                raise
            acknowledged = 0  # the slot is moving (a resharding): the revocation stands
        if acknowledged < 1:
            logger.warning(
                "No Redis replica acknowledged a revocation within %d ms (user %s); it "
                "stands on the primary, but a failover now could lose it.",
                wait_ms,
                user_id,
            )
        return acknowledged

    def delete_all(
        self, user_id: str, *, keep: str | None = None, ended_at: float | None = None
    ) -> list[str]:
        with _available():
            client = self.redis
            ended = [
                _decode(sid)
                for sid in _script("delete_all", client)(
                    keys=[self.user_key(user_id), self.ended_key(user_id)],
                    # The mark only has to outlive a login in flight; a session's longest
                    # life is a generous bound that needs no setting of its own.
                    args=[
                        keep or "",
                        0 if ended_at is None else milliseconds(ended_at),
                        max(1, tokens_settings.max_age_seconds),
                    ],
                    client=client,
                )
            ]
            self.replicate(client, user_id)
            # The index is another key (another Cluster slot): tidied beside the script so the
            # admin's count drops at once, in batches to bound each command's size.
            index = self.index_key_of(client, user_id)
            for start in range(0, len(ended), 1000):
                batch = ended[start : start + 1000]
                client.zrem(index, *(self.index_member(user_id, s) for s in batch))
        return ended

    def count_all(self) -> int:
        client = self.redis
        with _available():
            keys = self.index_keys(client)
            if len(keys) == 1:
                return int(client.zcard(keys[0]))
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            return sum(int(count) for count in pipe.execute())

    def page_all(self, offset: int, limit: int, now: float) -> list[SessionRecord]:
        client = self.redis
        with _available():
            keys = self.index_keys(client)
            if len(keys) == 1:
                members = [
                    (keys[0], _decode(m))
                    for m in client.zrevrange(keys[0], offset, offset + limit - 1)
                ]
            else:
                # A page of the merged index: the first offset + limit of each shard (one
                # command per shard, in one pipeline), merged newest first.
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.zrevrange(key, 0, offset + limit - 1, withscores=True)
                merged = [
                    (score, key, _decode(member))
                    for key, entries in zip(keys, pipe.execute(), strict=True)
                    for member, score in entries
                ]
                merged.sort(key=lambda entry: entry[0], reverse=True)
                members = [(key, member) for _, key, member in merged[offset : offset + limit]]
            pipe = client.pipeline(transaction=False)
            # Session ids never contain ":", user ids might: split at the last one.
            pairs = [member.rpartition(":")[::2] for _, member in members]
            for user_id, session_id in pairs:
                pipe.hget(self.user_key(user_id), session_id)
            raws = pipe.execute() if pairs else []
            records: list[SessionRecord] = []
            gone: dict[str, list[str]] = {}
            for (key, member), (user_id, session_id), raw in zip(members, pairs, raws, strict=True):
                record = None if raw is None else _record(user_id, session_id, raw)
                if record is None or record.expires_at <= now:
                    gone.setdefault(key, []).append(member)
                else:
                    records.append(record)
            for key, stale in gone.items():
                client.zrem(key, *stale)
        return records

    # --- asyncio ---------------------------------------------------------------------------

    async def ais_live(self, user_id: str, session_id: str, now: float) -> bool:
        """Return `is_live()`'s answer through redis-py's asyncio client, in one round trip.

        The same command on the same key as `is_live()`, the same record read; the client is
        built from the same cache alias (`async_client()`).
        """
        with _available():
            client = async_client(tokens_settings.CACHE_ALIAS)
            raw = await client.hget(self.user_key(user_id), session_id)
        return raw is not None and _expires_at(raw) > now


# How long a revocation waits for a replica to acknowledge it (ms; see RedisStore.replicate()).
REPLICA_WAIT_MS = 250


def _has_replicas(client: Any) -> bool:
    # Topologies that fail over to a replica: Sentinel, Cluster. One server has none to lose.
    return isinstance(client, redis.RedisCluster) or isinstance(
        getattr(client, "connection_pool", None), SentinelConnectionPool
    )


# How many keys the admin index is spread over on a Redis Cluster (each in a slot of its own).
CLUSTER_INDEX_SHARDS = 16

# How many entries past the newest `admin_list_size` one login drops from the admin index at
# most (besides its own one): a million in one ZREMRANGEBYRANK held Redis for 0.36 s here.
INDEX_TRIM_BATCH = 1000


class ClusterConnectionFactory(ConnectionFactory):
    """A django-redis connection factory whose clients are redis-py `RedisCluster`s.

    Set it as a django-redis cache's `OPTIONS["CONNECTION_FACTORY"]` with a `LOCATION` of any
    node's `redis://host:port`: the cache (and the Redis store on it) then talks to the whole
    cluster, following `MOVED` and `ASK`. `SOCKET_TIMEOUT`, `SOCKET_CONNECT_TIMEOUT`,
    `PASSWORD` and `USERNAME` apply to every node's connections. One client per URL is shared
    by the process (it holds a pool per node).
    """

    _clusters: dict[str, redis.RedisCluster] = {}
    _lock = threading.Lock()

    def get_connection(self, params: dict[str, Any]) -> Any:
        """Return the process's cluster client for `params["url"]`."""
        url = params["url"]
        with self._lock:
            cluster = self._clusters.get(url)
            if cluster is None:
                kwargs = {k: v for k, v in params.items() if k not in ("url", "parser_class")}
                kwargs.update(self.pool_cls_kwargs)
                cluster = self._clusters[url] = redis.RedisCluster.from_url(url, **kwargs)
        return cluster

    def disconnect(self, connection: Any) -> None:
        """Close every node's connections."""
        connection.disconnect_connection_pools()


# --- asyncio clients ---------------------------------------------------------------------------

# The asyncio clients of the running event loops: a redis.asyncio connection belongs to the loop
# that opened it, so each loop has its own, keyed by the cache configuration they were built from
# (read live: a changed CACHES setting builds a new client). A loop that ends takes its entry.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def async_client(alias: str) -> Any:
    """Return a redis.asyncio client of the django-redis cache `alias`, for the running loop.

    It is built from the cache's own configuration, as django-redis builds the sync client:
    the first `LOCATION` (the one django-redis writes to), `PASSWORD`, `USERNAME`,
    `SOCKET_TIMEOUT`, `SOCKET_CONNECT_TIMEOUT` and `CONNECTION_POOL_KWARGS`. A cache on
    django-redis' `SentinelConnectionFactory` gets redis.asyncio's Sentinel (`SENTINELS`,
    `SENTINEL_KWARGS`, the primary the URL's host names), one on `ClusterConnectionFactory`
    redis.asyncio's `RedisCluster`. `PARSER_CLASS`, `REDIS_CLIENT_CLASS` and other connection
    factories have no asyncio counterpart here: such a cache is talked to as one server.
    """
    config = settings.CACHES[alias]
    key = repr((alias, config))
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(key)
    if client is None:
        client = clients[key] = _build_async_client(config)
    return client


async def aclose_async_clients() -> None:
    """Close the running loop's asyncio clients (for a test, or an ASGI server's shutdown)."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()
        for sentinel in getattr(client, "tokens_sentinels", ()):
            await sentinel.aclose()


def _build_async_client(config: dict[str, Any]) -> Any:
    options: dict[str, Any] = dict(config.get("OPTIONS") or {})
    location = config["LOCATION"]
    urls = location.split(",") if isinstance(location, str) else list(location)
    url = urls[0].strip()
    kwargs: dict[str, Any] = {
        name.lower(): options[name]
        for name in ("USERNAME", "PASSWORD", "SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT")
        if options.get(name)
    }
    kwargs.update(options.get("CONNECTION_POOL_KWARGS") or {})
    factory = import_string(
        str(
            options.get("CONNECTION_FACTORY")
            or getattr(
                settings, "DJANGO_REDIS_CONNECTION_FACTORY", "django_redis.pool.ConnectionFactory"
            )
        )
    )
    if issubclass(factory, ClusterConnectionFactory):
        return redis_asyncio.RedisCluster.from_url(url, **kwargs)
    if issubclass(factory, SentinelConnectionFactory):
        parsed = urlparse(url)
        sentinel = redis_asyncio.Sentinel(
            options["SENTINELS"], sentinel_kwargs=options.get("SENTINEL_KWARGS"), **kwargs
        )
        db = int(parsed.path.lstrip("/") or 0)
        client = sentinel.master_for(parsed.hostname or "", db=db)
        # Closed with the client (aclose_async_clients()).
        client.tokens_sentinels = sentinel.sentinels
        return client
    return redis_asyncio.Redis.from_url(url, **kwargs)
