"""The database session store: sessions in the site's database.

One row per session (`tokens.models.StoredSession`), updated in place by every rotation, so a
session's rows never grow with its refreshes. One row per user (`tokens.models.SessionOwner`)
keeps the time before which all their sessions ended. The rows hold token ids, never tokens.

Every decision is `tokens.rules`, executed here in Python:

- A refresh reads the session's row, decides with `rules.decide_refresh()`, and writes the
  outcome with a compare-and-swap: an UPDATE (or DELETE) conditioned on the row's `version`,
  which every write raises. A write that finds another version applies nothing and the refresh
  decides again on the new row. No transaction and no lock, so it is atomic the same way on
  every database, SQLite (which has no row locks) included.
- Creating a session and ending all of a user's sessions both start with a write to the user's
  `SessionOwner` row, then lock it (`select_for_update()`, where the database has it): on
  PostgreSQL the row lock serializes them per user, on SQLite the write has taken the
  database's write lock. `rules.admits_login()` and `rules.sessions_to_evict()` decide inside.

The per-request check is one statement that also reads the user: where the users are in the
store's database, `read_if_live()` ANDs the session's liveness (an `EXISTS` on its primary
key) into the hand-written user query of `tokens.services`, so an authenticated request costs
one round trip, as simplejwt's does. Elsewhere `is_live()` is that primary-key lookup alone and
the user is loaded only if the view reads it, as with Redis (`tokens.authentication`). Built
through the ORM (the user filtered by an `Exists`), the same query cost about 450 µs more CPU
than the two statements it replaces (docs/benchmarks.md). The hot path's statements (the check,
and a rotation's read and compare-and-swap UPDATE) are written once per database from the
model's `_meta` and run through `connection.cursor()`: built through the QuerySet API they cost
most of the request's CPU. Everything else goes through the ORM.

Every query goes to the database `router.db_for_write()` names for these models, reads
included: a replica that lags could show a revoked session as live. A database error that means
the database cannot answer (`OperationalError`, `InterfaceError`: refused, dropped, locked past
its timeout) raises `StoreUnavailable`, which the API answers with 503.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError, connections, router, transaction
from django.db.models import QuerySet

from .. import rules
from ..conf import tokens_settings
from ..errors import LoginInterrupted, StoreUnavailable
from ..models import SessionOwner, StoredSession
from .base import BaseStore, Rotation, SessionRecord

# Errors that mean "the database is not answering", not "our query is wrong" (a 500).
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)

# A compare-and-swap that loses was beaten by another write to the same session, which made
# progress: a refresh retries. This many losses in a row means a pathological pile-up; the
# client gets a 503 and retries later, with nothing applied.
MAX_ATTEMPTS = 200

_RECORD_FIELDS = (
    "session_id",
    "user_id",
    "created_at",
    "last_used_at",
    "expires_at",
    "ip",
    "user_agent",
    "current_jti",
    "previous_jti",
    "grace_until",
    "replays",
)
# What a rotation changes; the rest of a row stays as created.
_ROTATION_FIELDS = (
    "current_jti",
    "previous_jti",
    "grace_until",
    "last_used_at",
    "expires_at",
    "replays",
)


logger = logging.getLogger("tokens.store")


@contextmanager
def _available() -> Iterator[None]:
    """Turn an error that means "the database cannot answer now" into `StoreUnavailable`.

    It is logged here once, at ERROR with its cause, as the Redis store does; the API answers
    503 `store_unavailable`.
    """
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        logger.error("Session store unavailable: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _record(row: dict[str, Any]) -> SessionRecord:
    return SessionRecord(**{name: row[name] for name in _RECORD_FIELDS})


_READ_FIELDS = (*_RECORD_FIELDS, "version")


@dataclass(frozen=True)
class _Statements:
    """The hot path's statements: every authenticated request's check and a rotation's."""

    live: str  # params: session id, user id, now (whole seconds)
    live_condition: str  # the same, as a condition of another query of this database
    read: str  # params: session id, user id; columns: _READ_FIELDS
    rotate: str  # params: _ROTATION_FIELDS' values, new version, session id, user id, version


@functools.cache
def _statements(alias: str) -> _Statements:
    """Write the hot path's SQL once per database, from `StoredSession._meta`.

    Hand-written (`connection.cursor()`) because building the same statements through the
    QuerySet API cost most of a request's CPU. Every column is a plain number or string, which
    every backend returns as the ORM would.
    """
    quote = connections[alias].ops.quote_name
    meta = StoredSession._meta
    columns = {field.name: str(field.column) for field in meta.concrete_fields}

    def column(name: str) -> str:
        return quote(columns[name])

    table = quote(meta.db_table)
    key = f"{column('session_id')} = %s AND {column('user_id')} = %s"
    assignments = ", ".join(f"{column(name)} = %s" for name in (*_ROTATION_FIELDS, "version"))
    # Names from the model's _meta, quoted by the connection; every value is a parameter.
    live = f"SELECT 1 FROM {table} WHERE {key} AND {column('expires_at')} > %s"  # noqa: S608
    return _Statements(
        live=live,
        live_condition=f"EXISTS ({live})",
        read=f"SELECT {', '.join(column(n) for n in _READ_FIELDS)} FROM {table} WHERE {key}",  # noqa: S608
        rotate=f"UPDATE {table} SET {assignments} WHERE {key} AND {column('version')} = %s",  # noqa: S608
    )


def _forget_statements(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _statements.cache_clear()


setting_changed.connect(_forget_statements, dispatch_uid="tokens.stores.db.statements")


class DatabaseStore(BaseStore):
    """Sessions in the database (`tokens.models`); the hot path in hand-written SQL."""

    @property
    def alias(self) -> str:
        """Return the database alias the store reads and writes."""
        return router.db_for_write(StoredSession)

    def _sessions(self) -> QuerySet[StoredSession]:
        return StoredSession._default_manager.using(self.alias)

    def _owners(self) -> QuerySet[SessionOwner]:
        return SessionOwner._default_manager.using(self.alias)

    def _lock_owner(self, user_id: str) -> float | None:
        """Lock the user's owner row (creating it); return their "ended before" time, or None.

        Call inside a transaction. The first statement is a write, so on SQLite the transaction
        holds the write lock from its start (a read first could not upgrade under contention).
        """
        while True:
            self._owners().bulk_create([SessionOwner(user_id=user_id)], ignore_conflicts=True)
            ended = (
                self._owners()
                .select_for_update()
                .filter(user_id=user_id)
                .values_list("ended_before", flat=True)
                .first()
            )
            # None: tokens_cleanup deleted the row between the two statements; make it again.
            if ended is not None:
                return ended or None

    def create(
        self,
        record: SessionRecord,
        *,
        max_sessions: int | None,
        started_at: float | None = None,
    ) -> list[str]:
        user_id = record.user_id
        with _available(), transaction.atomic(using=self.alias):
            ended_before = self._lock_owner(user_id)
            if started_at is not None and not rules.admits_login(ended_before, started_at):
                raise LoginInterrupted()
            rows = self._sessions().filter(user_id=user_id).values(*_RECORD_FIELDS)
            expired, evicted = rules.sessions_to_evict(
                [_record(row) for row in rows], max_sessions, record.created_at
            )
            if expired or evicted:
                self._sessions().filter(user_id=user_id, pk__in=expired + evicted).delete()
            self._sessions().create(
                **{name: getattr(record, name) for name in _RECORD_FIELDS}, version=0
            )
        return evicted

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
        sessions = self._sessions().filter(pk=session_id, user_id=user_id)
        alias = self.alias
        sql = _statements(alias)
        with _available():
            for _ in range(MAX_ATTEMPTS):
                with connections[alias].cursor() as cursor:
                    cursor.execute(sql.read, [session_id, user_id])
                    values = cursor.fetchone()
                row = None if values is None else dict(zip(_READ_FIELDS, values, strict=True))
                record = None if row is None else _record(row)
                decision = rules.decide_refresh(
                    record,
                    presented_jti,
                    now=now,
                    new_jti=new_jti,
                    lifetime=lifetime,
                    grace=grace,
                    max_age=max_age,
                    max_replays=max_replays,
                    presented_parent=presented_parent,
                )
                if row is None:
                    return Rotation(decision.outcome)
                current = sessions.filter(version=row["version"])
                if decision.record is None:
                    if current.delete()[0]:
                        return Rotation(decision.outcome)
                    continue
                if decision.record is not record:
                    changes = [getattr(decision.record, name) for name in _ROTATION_FIELDS]
                    with connections[alias].cursor() as cursor:
                        cursor.execute(
                            sql.rotate,
                            [*changes, row["version"] + 1, session_id, user_id, row["version"]],
                        )
                        if not cursor.rowcount:
                            continue
                kept = decision.record
                return Rotation(
                    decision.outcome,
                    kept.current_jti,
                    rules.successor_issued_at(kept),
                    kept.expires_at,
                    kept.replays,
                )
        raise StoreUnavailable(f"session {session_id} kept changing under {MAX_ATTEMPTS} refreshes")

    def is_live(self, user_id: str, session_id: str, now: float) -> bool:
        alias = self.alias
        with _available(), connections[alias].cursor() as cursor:
            # `expires_at` is an integer column: compared with the whole seconds, as the ORM's
            # `expires_at__gt=now` does.
            cursor.execute(_statements(alias).live, [session_id, user_id, int(now)])
            return cursor.fetchone() is not None

    def read_if_live(
        self,
        alias: str,
        user_id: str,
        session_id: str,
        now: float,
        read: Callable[[str, list[Any]], list[Any]],
    ) -> list[Any] | None:
        if alias != self.alias:
            return None
        with _available():
            return read(_statements(alias).live_condition, [session_id, user_id, int(now)])

    def get(self, user_id: str, session_id: str) -> SessionRecord | None:
        with _available():
            row = next(
                iter(
                    self._sessions()
                    .filter(pk=session_id, user_id=user_id)
                    .values(*_RECORD_FIELDS)[:1]
                ),
                None,
            )
        return None if row is None else _record(row)

    def sessions(self, user_id: str, now: float) -> list[SessionRecord]:
        with _available():
            rows = list(
                self._sessions()
                .filter(user_id=user_id, expires_at__gt=now)
                .order_by("-created_at")
                .values(*_RECORD_FIELDS)
            )
        return [_record(row) for row in rows]

    def delete(self, user_id: str, session_id: str) -> bool:
        with _available():
            deleted, _ = self._sessions().filter(pk=session_id, user_id=user_id).delete()
        return bool(deleted)

    def delete_all(
        self, user_id: str, *, keep: str | None = None, ended_at: float | None = None
    ) -> list[str]:
        with _available(), transaction.atomic(using=self.alias):
            ended_before = self._lock_owner(user_id)
            if ended_at is not None and (ended_before is None or ended_before < ended_at):
                self._owners().filter(user_id=user_id).update(ended_before=ended_at)
            ending = self._sessions().filter(user_id=user_id)
            if keep:
                ending = ending.exclude(pk=keep)
            ended = list(ending.values_list("session_id", flat=True))
            if ended:
                ending.delete()
        return ended

    def count_all(self) -> int:
        with _available():
            return self._sessions().filter(expires_at__gt=time.time()).count()

    def page_all(self, offset: int, limit: int, now: float) -> list[SessionRecord]:
        with _available():
            rows = list(
                self._sessions()
                .filter(expires_at__gt=now)
                .order_by("-created_at")
                .values(*_RECORD_FIELDS)[offset : offset + limit]
            )
        return [_record(row) for row in rows]

    # --- asyncio ---------------------------------------------------------------------------

    async def ais_live(self, user_id: str, session_id: str, now: float) -> bool:
        """Return `is_live()`'s answer through the async ORM (the same one-row lookup)."""
        with _available():
            return await (
                self._sessions()
                .filter(pk=session_id, user_id=user_id, expires_at__gt=now)
                .aexists()
            )
