"""The Redis session store.

Layout: one hash per user, `<prefix>:{u:<user id>}`, field = session id, value = a compact JSON
array (see lua/create.lua). The braces make all of one user's state one Redis Cluster hash slot,
so every script touches a single slot. The hash's TTL follows its longest-lived session; expired
sessions inside it are also pruned when the user logs in. An admin index `<prefix>:index` (a
sorted set of "<user id>:<session id>" by creation time) lets the admin page read live sessions a
page at a time; it is written beside the scripts, never inside them, and entries whose session
has gone are dropped lazily.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django_redis import get_redis_connection
from redis import exceptions as redis_errors
from redis.commands.core import Script

from ..conf import tokens_settings
from ..exceptions import StoreUnavailable
from .base import BaseStore, Outcome, Rotation, SessionRecord

LUA_DIR = Path(__file__).with_name("lua")

# Errors that mean "Redis is not answering", not "our script is wrong" (that stays a 500).
UNAVAILABLE_ERRORS = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    OSError,
)


_scripts: dict[str, Script] = {}


def _script(name: str, client: Any) -> Script:
    # One Script per file: each call passes its own client, and redis-py sends EVALSHA first,
    # falling back to EVAL once after a Redis restart (NOSCRIPT).
    script = _scripts.get(name)
    if script is None:
        script = _scripts[name] = client.register_script((LUA_DIR / f"{name}.lua").read_text())
    return script


@contextmanager
def _available() -> Iterator[None]:
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise StoreUnavailable(str(exc)) from exc


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(user_id: str, session_id: str, raw: bytes | str) -> SessionRecord:
    cur_jti, cur_iat, prev_jti, grace_until, created, used, expires, ip, ua = json.loads(raw)
    return SessionRecord(
        session_id=session_id,
        user_id=user_id,
        created_at=float(created),
        last_used_at=float(used),
        expires_at=int(expires),
        ip=ip,
        user_agent=ua,
        current_jti=cur_jti,
        current_iat=int(cur_iat),
        previous_jti=prev_jti,
        grace_until=float(grace_until),
    )


def _encode(record: SessionRecord) -> str:
    return json.dumps(
        [
            record.current_jti,
            record.current_iat,
            record.previous_jti,
            record.grace_until,
            record.created_at,
            record.last_used_at,
            record.expires_at,
            record.ip,
            record.user_agent,
        ],
        separators=(",", ":"),
    )


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
        """Return the key of the admin index of all sessions."""
        return f"{tokens_settings.KEY_PREFIX}:index"

    def create(self, record: SessionRecord, *, max_sessions: int | None) -> list[str]:
        client = self.redis
        created = record.created_at
        with _available():
            evicted = _script("create", client)(
                keys=[self.user_key(record.user_id)],
                args=[
                    record.session_id,
                    _encode(record),
                    created,
                    max_sessions or 0,
                    record.expires_at,
                ],
                client=client,
            )
            # The admin index lives in its own key (another Cluster slot), so it is written
            # beside the script rather than inside it.
            max_age = tokens_settings.max_age_seconds
            pipe = client.pipeline(transaction=False)
            pipe.zadd(
                self.index_key, {self.index_member(record.user_id, record.session_id): created}
            )
            pipe.zremrangebyscore(self.index_key, "-inf", created - max_age)
            # No session outlives max_age, so neither need the index once logins stop.
            pipe.expire(self.index_key, max_age)
            pipe.execute()
        return [_decode(sid) for sid in evicted]

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
    ) -> Rotation:
        with _available():
            client = self.redis
            result = _script("rotate", client)(
                keys=[self.user_key(user_id)],
                args=[session_id, presented_jti, now, new_jti, lifetime, grace, max_age],
                client=client,
            )
        outcome: Outcome = _decode(result[0])  # type: ignore[assignment]
        if outcome in ("rotated", "grace"):
            return Rotation(outcome, _decode(result[1]), int(result[2]), int(result[3]))
        return Rotation(outcome)

    def is_live(self, user_id: str, session_id: str, now: float) -> bool:
        with _available():
            raw = self.redis.hget(self.user_key(user_id), session_id)
        # The expiry sits at a fixed place in the record; parsing the array is cheaper than a
        # server-side script and keeps this check one plain command.
        return raw is not None and json.loads(raw)[6] > now

    def get(self, user_id: str, session_id: str) -> SessionRecord | None:
        with _available():
            raw = self.redis.hget(self.user_key(user_id), session_id)
        return None if raw is None else _record(user_id, session_id, raw)

    def sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        with _available():
            fields = self.redis.hgetall(self.user_key(user_id))
        records = [_record(user_id, _decode(sid), raw) for sid, raw in fields.items()]
        live = [r for r in records if r.expires_at > now]
        return sorted(live, key=lambda r: r.created_at, reverse=True)

    def index_member(self, user_id: str, session_id: str) -> str:
        """Return a session's member in the admin index."""
        return f"{user_id}:{session_id}"

    def delete(self, user_id: str, session_id: str) -> bool:
        with _available():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hdel(self.user_key(user_id), session_id)
            pipe.zrem(self.index_key, self.index_member(user_id, session_id))
            deleted, _ = pipe.execute()
        return bool(deleted)

    def delete_all(self, user_id: str, *, keep: str | None = None) -> list[str]:
        with _available():
            client = self.redis
            ended = [
                _decode(sid)
                for sid in _script("delete_all", client)(
                    keys=[self.user_key(user_id)], args=[keep or ""], client=client
                )
            ]
            # The index is another key (another Cluster slot): tidied beside the script so the
            # admin's count drops at once, in batches to bound each command's size.
            for start in range(0, len(ended), 1000):
                batch = ended[start : start + 1000]
                client.zrem(self.index_key, *(self.index_member(user_id, s) for s in batch))
        return ended

    def count_all(self) -> int:
        with _available():
            return int(self.redis.zcard(self.index_key))

    def page_all(self, offset: int, limit: int, now: float) -> list[SessionRecord]:
        client = self.redis
        with _available():
            members = [
                _decode(m) for m in client.zrevrange(self.index_key, offset, offset + limit - 1)
            ]
            pipe = client.pipeline(transaction=False)
            # Session ids never contain ":", user ids might: split at the last one.
            pairs = [member.rpartition(":")[::2] for member in members]
            for user_id, session_id in pairs:
                pipe.hget(self.user_key(user_id), session_id)
            raws = pipe.execute() if pairs else []
            records, gone = [], []
            for member, (user_id, session_id), raw in zip(members, pairs, raws, strict=True):
                record = None if raw is None else _record(user_id, session_id, raw)
                if record is None or record.expires_at <= now:
                    gone.append(member)
                else:
                    records.append(record)
            if gone:
                client.zrem(self.index_key, *gone)
        return records
