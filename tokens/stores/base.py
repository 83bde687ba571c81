"""The interface every session store implements.

A store keeps what is live (sessions), never what is dead: losing a key can only log someone
out, never bring a revoked token back. It never holds raw tokens, only token ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from asgiref.sync import sync_to_async

# What a refresh did; see `tokens.rules.Decision`.
Outcome = Literal["rotated", "grace", "reused", "revoked", "expired"]


@dataclass
class SessionRecord:
    """One live session (a refresh-token family) of one user."""

    session_id: str
    user_id: str
    created_at: float
    last_used_at: float
    expires_at: int
    ip: str = ""
    user_agent: str = ""
    # Internal rotation state: the current refresh token's id (issued at `last_used_at`, to the
    # second), and the previous token id (a store may keep only a prefix of it) that stays
    # acceptable until `grace_until`, and how many times it was replayed since the rotation
    # (capped by TOKENS["ROTATION_MAX_REPLAYS"]; see tokens.rules).
    current_jti: str = field(default="", repr=False)
    previous_jti: str = field(default="", repr=False)
    grace_until: float = field(default=0, repr=False)
    replays: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Rotation:
    """What a refresh did: `rotated` or `grace` carry the successor's jti, iat and exp.

    `replays` is, for `grace`, how many replays this rotation has accepted so far.
    """

    outcome: Outcome
    jti: str = ""
    issued_at: int = 0
    expires_at: int = 0
    replays: int = 0


class BaseStore:
    """Keep live sessions. Raise `tokens.errors.StoreUnavailable` when the backend is down."""

    #: How many live sessions across users, newest first, the admin's Live sessions page lists
    #: (`count_all()` and `page_all()` need cover no more; a search by username finds any
    #: user's). The Redis store keeps an index of no more than this, so that its memory per
    #: session stays flat however many sessions are live (docs/operations.md).
    admin_list_size = 10_000

    def create(
        self,
        record: SessionRecord,
        *,
        max_sessions: int | None,
        started_at: float | None = None,
    ) -> list[str]:
        """Store a new session; end the least recently used ones beyond `max_sessions`.

        `started_at` is when the login began (before its password check); if the user's
        sessions were all ended at or after it (`tokens.rules.admits_login()` against the time
        `delete_all(ended_at=...)` recorded), store nothing and raise
        `tokens.errors.LoginInterrupted`. Otherwise return
        the ids of the sessions ended to make room (`tokens.rules.sessions_to_evict()`). All of
        it is one atomic step.
        """
        raise NotImplementedError("subclasses of BaseStore must provide a create() method")

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
        """Apply `tokens.rules.decide_refresh()` to the session, atomically.

        Presenting the current jti moves the session to `new_jti`; the previous jti within its
        grace window and under `max_replays` (None: `TOKENS["ROTATION_MAX_REPLAYS"]`) returns
        the current successor; any other jti ends the session (`reused`). `presented_parent`
        is the presented token's parent jti (its `pjti` claim): a token whose parent is the
        current jti rotates too (a successor whose rotation the store lost in a failover; see
        `tokens.rules.is_current()`).
        """
        raise NotImplementedError("subclasses of BaseStore must provide a rotate() method")

    def is_live(self, user_id: str, session_id: str, now: float) -> bool:
        """Return whether the session exists and has not expired (the per-request check)."""
        raise NotImplementedError("subclasses of BaseStore must provide an is_live() method")

    def read_if_live(
        self,
        alias: str,
        user_id: str,
        session_id: str,
        now: float,
        read: Callable[[str, list[Any]], list[Any]],
    ) -> list[Any] | None:
        """Run a read of database `alias` that finds nothing unless the session is live.

        For a store whose sessions are rows of that database: `read(condition, params)` runs
        its query with this SQL condition (and its parameters) ANDed in, and so answers whether
        the session is live in the same statement (an authenticated request reads its user
        this way: `tokens.services.authenticate_access_user()`); its rows are returned. None,
        the default, where the store cannot: the caller asks `is_live()` and reads on its own.
        """
        return None

    def get(self, user_id: str, session_id: str) -> SessionRecord | None:
        """Return the live session, or None."""
        raise NotImplementedError("subclasses of BaseStore must provide a get() method")

    def sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """Return the user's live sessions, newest first."""
        raise NotImplementedError("subclasses of BaseStore must provide a sessions() method")

    def delete(self, user_id: str, session_id: str) -> bool:
        """End one session; return whether it existed."""
        raise NotImplementedError("subclasses of BaseStore must provide a delete() method")

    def delete_all(
        self, user_id: str, *, keep: str | None = None, ended_at: float | None = None
    ) -> list[str]:
        """End every session of the user but `keep`, in one step; return the ended ids.

        With `ended_at`, also record it as the user's "ended before" time in the same step, so
        that a login that started before it never creates a session (see `create()`).
        """
        raise NotImplementedError("subclasses of BaseStore must provide a delete_all() method")

    def count_all(self) -> int:
        """Return about how many sessions are live across all users (for the admin).

        A store may count only the newest `admin_list_size` of them.
        """
        raise NotImplementedError("subclasses of BaseStore must provide a count_all() method")

    def page_all(self, offset: int, limit: int, now: float) -> list[SessionRecord]:
        """Return one page of live sessions across all users, newest first (for the admin).

        Only pages within the newest `admin_list_size` sessions are asked for.
        """
        raise NotImplementedError("subclasses of BaseStore must provide a page_all() method")

    # --- asyncio ---------------------------------------------------------------------------

    async def ais_live(self, user_id: str, session_id: str, now: float) -> bool:
        """Return `is_live()`'s answer without blocking the running event loop.

        This default runs `is_live()` in Django's thread for sync code (asgiref's
        `sync_to_async`, as Django's own async ORM methods do), so a store without an asyncio
        client still serves an async view. The Redis store answers through redis-py's asyncio
        client, the database store through the async ORM.
        """
        return await sync_to_async(self.is_live)(user_id, session_id, now)
