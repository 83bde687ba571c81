"""The interface every session store implements.

A store keeps what is live (sessions), never what is dead: losing a key can only log someone
out, never bring a revoked token back. It never holds raw tokens, only token ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

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
    # acceptable until `grace_until`.
    current_jti: str = field(default="", repr=False)
    previous_jti: str = field(default="", repr=False)
    grace_until: float = field(default=0, repr=False)


@dataclass(frozen=True)
class Rotation:
    """What a refresh did: `rotated` or `grace` carry the successor's jti, iat and exp."""

    outcome: Outcome
    jti: str = ""
    issued_at: int = 0
    expires_at: int = 0


class BaseStore:
    """Keep live sessions. Raise `tokens.exceptions.StoreUnavailable` when the backend is down."""

    def create(self, record: SessionRecord, *, max_sessions: int | None) -> list[str]:
        """Store a new session; end the least recently used ones beyond `max_sessions`.

        Return the ids of the sessions ended to make room.
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
        alongside: Callable[[], None] | None = None,
    ) -> Rotation:
        """Atomically move the session from `presented_jti` to `new_jti`.

        Presenting the previous jti within its grace window returns the current successor.
        Presenting any other jti ends the session (`reused`). `alongside`, if given, is called
        once during the call (a store that waits on a server runs it during the wait); its
        exceptions propagate.
        """
        raise NotImplementedError("subclasses of BaseStore must provide a rotate() method")

    def is_live(self, user_id: str, session_id: str, now: float) -> bool:
        """Return whether the session exists and has not expired (the per-request check)."""
        raise NotImplementedError("subclasses of BaseStore must provide an is_live() method")

    def get(self, user_id: str, session_id: str) -> SessionRecord | None:
        """Return the live session, or None."""
        raise NotImplementedError("subclasses of BaseStore must provide a get() method")

    def sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        """Return the user's live sessions, newest first."""
        raise NotImplementedError("subclasses of BaseStore must provide a sessions() method")

    def delete(self, user_id: str, session_id: str) -> bool:
        """End one session; return whether it existed."""
        raise NotImplementedError("subclasses of BaseStore must provide a delete() method")

    def delete_all(self, user_id: str, *, keep: str | None = None) -> list[str]:
        """End every session of the user but `keep`, in one step; return the ended ids."""
        raise NotImplementedError("subclasses of BaseStore must provide a delete_all() method")

    def count_all(self) -> int:
        """Return about how many sessions are live across all users (for the admin)."""
        raise NotImplementedError("subclasses of BaseStore must provide a count_all() method")

    def page_all(self, offset: int, limit: int, now: float) -> list[SessionRecord]:
        """Return one page of live sessions across all users, newest first (for the admin)."""
        raise NotImplementedError("subclasses of BaseStore must provide a page_all() method")
