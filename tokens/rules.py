"""The rules of a session, stated once: pure decisions, no I/O.

Every store applies these decisions inside its own atomic step (a Lua script, a database
transaction); a store that runs Python calls them directly, and the Redis scripts in
`tokens/stores/lua/` mirror them. `tests/rules_cases.json` is one table of cases that the tests
run against this module and against every store, so a store cannot drift from them.

The API, for a store:

- `decide_refresh(record, presented_jti, now=..., ...)` when a refresh token is presented:
  returns a `Decision` whose `outcome` is what the caller is told and whose `record` is what the
  store must keep afterwards (`None`: delete the session; the same object: leave it untouched).
- `admits_login(ended_before, started_at)` when a login creates a session: whether it may.
- `sessions_to_evict(records, max_sessions, now)` when a login adds a session to a user's
  existing ones: which ones end to make room (and which have simply expired).
- `classify_presented(record, presented_jti, now=..., max_replays=...)` for a logout or an RFC
  7009 revoke that presents a refresh token: whether it is the session's own token or a replay
  of a rotated-away one (reuse), without changing anything.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .stores.base import SessionRecord

Outcome = Literal["rotated", "grace", "reused", "revoked", "expired"]

# How much of the previous token's id a record keeps: enough to tell a session's own tokens
# apart (66 bits), which is all the grace check needs, since every presented token is signed.
PREVIOUS_JTI_LENGTH = 11


@dataclass(frozen=True)
class Decision:
    """What presenting a refresh token does to its session.

    `outcome`: "rotated" (the current token: a successor was minted), "grace" (the previous
    token inside its grace window and under the replay cap: the current successor again),
    "reused" (anything else of this session: it ends), "revoked" (no such session), "expired"
    (the session is past its expiry: it ends). `record` is the session as the store must keep
    it: `None` means delete it. For "rotated" and "grace" the successor's jti, iat and exp are
    `record.current_jti`, `successor_issued_at(record)` and `record.expires_at`.
    """

    outcome: Outcome
    record: SessionRecord | None


# The alphabet and length of every identifier a client may name: session ids (URL-safe base64,
# `tokens.services.new_session_id`) and service client ids (slugs). Checked before any lookup,
# so that text no identifier can be (a NUL byte, which PostgreSQL refuses with an error, or a
# megabyte of anything) is "no such session" or "no such client" without a query.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,100}")


def is_identifier(value: str) -> bool:
    """Return whether `value` could name a session or a service client."""
    return _IDENTIFIER.fullmatch(value) is not None


def same_previous(presented_jti: str, previous_jti: str) -> bool:
    """Return whether a presented jti is the previous one a record keeps (a prefix of it)."""
    return previous_jti != "" and presented_jti[:PREVIOUS_JTI_LENGTH] == previous_jti


def successor_issued_at(record: SessionRecord) -> int:
    """Return the `iat` of the session's current refresh token (the second of its last use)."""
    return math.floor(milliseconds(record.last_used_at) / 1000)


def decide_refresh(
    record: SessionRecord | None,
    presented_jti: str,
    *,
    now: float,
    new_jti: str,
    lifetime: int,
    grace: float,
    max_age: int,
    max_replays: int,
    presented_parent: str = "",
) -> Decision:
    """Decide what presenting `presented_jti` to refresh the session `record` does.

    `presented_parent` is the jti the presented token replaced (its `pjti` claim; "" if it
    names none).

    - no session: "revoked";
    - the session has expired (`expires_at <= now`): "expired", and it ends;
    - the current jti, or a token whose parent is the current jti (a successor whose rotation
      the store lost, as when a Redis replica is promoted before the rotation reached it: the
      site signed it, so the session rolls forward to it): "rotated" to `new_jti`; the
      presented jti becomes the previous one, acceptable until `now + grace`; the replay count
      starts again at 0; the new expiry is the refresh lifetime from now, capped by
      `created_at + max_age`;
    - the previous jti before `grace_until`, with fewer than `max_replays` replays of this
      rotation so far: "grace", the same successor, and the replay is counted;
    - anything else (an older jti, the previous one after its window or past the cap):
      "reused", and the session ends.
    """
    if record is None:
        return Decision("revoked", None)
    if record.expires_at <= now:
        return Decision("expired", None)
    if is_current(record, presented_jti, presented_parent):
        now_ms = milliseconds(now)
        issued = math.floor(now_ms / 1000)
        expires = math.floor(
            min(issued + lifetime, milliseconds(record.created_at) / 1000 + max_age)
        )
        return Decision(
            "rotated",
            dataclasses.replace(
                record,
                current_jti=new_jti,
                previous_jti=presented_jti[:PREVIOUS_JTI_LENGTH],
                replays=0,
                grace_until=(now_ms + milliseconds(grace)) / 1000,
                last_used_at=now_ms / 1000,
                expires_at=expires,
            ),
        )
    if (
        same_previous(presented_jti, record.previous_jti)
        and milliseconds(now) < milliseconds(record.grace_until)
        and record.replays < max_replays
    ):
        return Decision("grace", dataclasses.replace(record, replays=record.replays + 1))
    return Decision("reused", None)


def is_current(record: SessionRecord, presented_jti: str, presented_parent: str = "") -> bool:
    """Return whether a presented token is the session's current one.

    It is when its jti is the current jti, or when its parent (`pjti`) is: then it is the
    successor of a rotation the store lost (a failover to a replica the rotation had not
    reached yet), which the site signed, so the session rolls forward to it. A rotated-away
    token's parent is never the current jti once the session has moved past it, so a replay
    is still reuse.
    """
    return presented_jti == record.current_jti or (
        presented_parent != "" and presented_parent == record.current_jti
    )


def classify_presented(
    record: SessionRecord | None,
    presented_jti: str,
    *,
    now: float,
    max_replays: int,
    presented_parent: str = "",
) -> Outcome:
    """Return what a refresh with this jti would be told, without rotating or counting.

    A logout or revoke uses it to tell the session's own token ("rotated" or "grace") from a
    replay of a rotated-away one ("reused"); either way it then ends the session.
    """
    if record is None:
        return "revoked"
    if record.expires_at <= now:
        return "expired"
    if is_current(record, presented_jti, presented_parent):
        return "rotated"
    if (
        same_previous(presented_jti, record.previous_jti)
        and milliseconds(now) < milliseconds(record.grace_until)
        and record.replays < max_replays
    ):
        return "grace"
    return "reused"


def admits_login(ended_before: float | None, started_at: float) -> bool:
    """Return whether a login that started at `started_at` may create a session.

    `ended_before` is the last time all the user's sessions were ended (a password change,
    deactivation, deletion, logout everywhere); a login that started at or before it checked
    credentials that may no longer hold, so it must not create a live session.
    """
    return ended_before is None or milliseconds(started_at) > milliseconds(ended_before)


def sessions_to_evict(
    records: Iterable[SessionRecord], max_sessions: int | None, now: float
) -> tuple[list[str], list[str]]:
    """Return (expired ids, evicted ids) when one more session joins `records`.

    Expired sessions are pruned. Past `max_sessions` (None or 0: no limit), the least recently
    used live sessions end (ties: the oldest created first) so that the new one makes
    `max_sessions`.
    """
    expired = [r.session_id for r in records if r.expires_at <= now]
    live = [r for r in records if r.expires_at > now]
    if not max_sessions or len(live) < max_sessions:
        return expired, []
    live.sort(key=lambda r: (milliseconds(r.last_used_at), milliseconds(r.created_at)))
    return expired, [r.session_id for r in live[: len(live) - max_sessions + 1]]


def milliseconds(seconds: float) -> int:
    """Return a time in whole milliseconds, as the stores keep it.

    Every comparison of the rules is made on what the stores keep, so that a store and the
    rules never disagree about a time that falls between two milliseconds.
    """
    return int(seconds * 1000)
