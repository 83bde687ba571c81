"""The shared table of session-rule cases (tests/rules_cases.json) against every store: each
store must decide every case exactly as `tokens.rules` does (tests/test_rules.py holds the rules
themselves to the table)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.test_rules import (
    CASES,
    DEFAULTS,
    SESSION,
    USER,
    _existing,
    _expected_after,
    _max_replays,
    _params,
    _record_before,
)
from tokens import rules
from tokens.errors import LoginInterrupted
from tokens.models import StoredSession
from tokens.stores import BaseStore, SessionRecord
from tokens.stores.redis import RedisStore, _encode


def seed(store: BaseStore, record: SessionRecord) -> None:
    """Write a record in whatever state a case needs, below the store's API."""
    if isinstance(store, RedisStore):
        store.redis.hset(store.user_key(record.user_id), record.session_id, _encode(record))
    else:
        StoredSession.objects.create(**dataclasses.asdict(record))


def stored_ids(store: BaseStore) -> set[str]:
    """Return the ids of the sessions the store still holds for USER, expired ones included."""
    if isinstance(store, RedisStore):
        return {sid.decode() for sid in store.redis.hkeys(store.user_key(USER))}
    return set(StoredSession.objects.filter(user_id=USER).values_list("session_id", flat=True))


@pytest.mark.parametrize("case", CASES["refresh"], ids=lambda c: c["name"])
def test_the_store_decides_each_refresh_case_as_the_rules_do(store, case):
    before = _record_before(case)
    if before is not None:
        seed(store, before)
    params = _params(case)
    rotation = store.rotate(
        USER, SESSION, case["presented"], max_replays=_max_replays(case), **params
    )
    assert rotation.outcome == case["outcome"]
    after = store.get(USER, SESSION)
    expected = _expected_after(case, before)
    assert after == expected
    if expected is not None and rotation.outcome in ("rotated", "grace"):
        assert rotation.jti == expected.current_jti
        assert rotation.issued_at == rules.successor_issued_at(expected)
        assert rotation.expires_at == expected.expires_at


@pytest.mark.parametrize("case", CASES["login"], ids=lambda c: c["name"])
def test_the_store_admits_each_login_case_as_the_rules_do(store, case):
    if case["ended_before"] is not None:
        store.delete_all(USER, ended_at=case["ended_before"])
    now = case["started_at"] + 1
    record = SessionRecord(
        session_id=SESSION,
        user_id=USER,
        created_at=now,
        last_used_at=now,
        expires_at=int(now) + 3600,
        current_jti="CCCCCCCCCCCCCCCCCCCCCC",
    )
    if case["admitted"]:
        store.create(record, max_sessions=None, started_at=case["started_at"])
        assert store.get(USER, SESSION) == record
    else:
        with pytest.raises(LoginInterrupted):
            store.create(record, max_sessions=None, started_at=case["started_at"])
        assert store.get(USER, SESSION) is None


@pytest.mark.parametrize("case", CASES["evict"], ids=lambda c: c["name"])
def test_the_store_evicts_each_case_as_the_rules_do(store, case):
    now: Any = DEFAULTS["now"]
    existing = _existing(case)
    for record in existing:
        seed(store, record)
    new = SessionRecord(
        session_id="new",
        user_id=USER,
        created_at=now,
        last_used_at=now,
        expires_at=int(now) + 3600,
        current_jti="NNNNNNNNNNNNNNNNNNNNNN",
    )
    assert store.create(new, max_sessions=case["max_sessions"]) == case["evicted"]
    gone = set(case["expired"]) | set(case["evicted"])
    assert stored_ids(store) == {r.session_id for r in existing} - gone | {"new"}
