"""The session rules: one table of cases (tests/rules_cases.json), run against `tokens.rules` and
against the real Redis store, whose Lua scripts must decide exactly as the Python does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tokens import rules
from tokens.errors import LoginInterrupted
from tokens.stores import SessionRecord
from tokens.stores.redis import RedisStore, _encode

CASES = json.loads((Path(__file__).with_name("rules_cases.json")).read_text())
DEFAULTS = CASES["defaults"]
USER = "42"
SESSION = "s1"


def _params(case: dict[str, Any]) -> dict[str, Any]:
    params = {
        k: case.get(k, DEFAULTS[k]) for k in ("now", "new_jti", "lifetime", "grace", "max_age")
    }
    return {**params, "presented_parent": case.get("parent", "")}


def _record_before(case: dict[str, Any]) -> SessionRecord | None:
    if "record" in case and case["record"] is None:
        return None
    fields = {**DEFAULTS["record"], **case.get("record", {})}
    return SessionRecord(session_id=SESSION, user_id=USER, ip="203.0.113.7", **fields)


def _expected_after(case: dict[str, Any], before: SessionRecord | None) -> SessionRecord | None:
    if case["after"] == "deleted":
        return None
    assert before is not None
    return dataclasses.replace(before, **case["after"])


def _max_replays(case: dict[str, Any]) -> int:
    return int(case.get("max_replays", DEFAULTS["max_replays"]))


@pytest.mark.parametrize("case", CASES["refresh"], ids=lambda c: c["name"])
def test_rules_decide_each_refresh_case(case):
    before = _record_before(case)
    decision = rules.decide_refresh(
        before, case["presented"], max_replays=_max_replays(case), **_params(case)
    )
    assert decision.outcome == case["outcome"]
    assert decision.record == _expected_after(case, before)


@pytest.mark.parametrize("case", CASES["refresh"], ids=lambda c: c["name"])
def test_the_redis_store_decides_each_refresh_case_as_the_rules_do(case, redis_server):
    store = RedisStore()
    before = _record_before(case)
    if before is not None:
        redis_server.hset(store.user_key(USER), SESSION, _encode(before))
    params = _params(case)
    rotation = store.rotate(
        USER,
        SESSION,
        case["presented"],
        new_jti=params["new_jti"],
        now=params["now"],
        lifetime=params["lifetime"],
        grace=params["grace"],
        max_age=params["max_age"],
        max_replays=_max_replays(case),
        presented_parent=params["presented_parent"],
    )
    decision = rules.decide_refresh(
        before, case["presented"], max_replays=_max_replays(case), **params
    )
    assert rotation.outcome == decision.outcome == case["outcome"]
    after = store.get(USER, SESSION)
    assert after == decision.record
    if decision.outcome in ("rotated", "grace"):
        assert decision.record is not None
        assert rotation.jti == decision.record.current_jti
        assert rotation.issued_at == rules.successor_issued_at(decision.record)
        assert rotation.expires_at == decision.record.expires_at


@pytest.mark.parametrize("case", CASES["refresh"], ids=lambda c: c["name"])
def test_classifying_a_presented_token_changes_nothing_and_agrees(case):
    before = _record_before(case)
    outcome = rules.classify_presented(
        before,
        case["presented"],
        now=DEFAULTS["now"],
        max_replays=_max_replays(case),
        presented_parent=case.get("parent", ""),
    )
    decided = rules.decide_refresh(
        before, case["presented"], max_replays=_max_replays(case), **_params(case)
    )
    assert outcome == decided.outcome


@pytest.mark.parametrize("case", CASES["login"], ids=lambda c: c["name"])
def test_rules_and_the_redis_store_admit_each_login_case_alike(case, redis_server):
    assert rules.admits_login(case["ended_before"], case["started_at"]) is case["admitted"]
    store = RedisStore()
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


def _existing(case: dict[str, Any]) -> list[SessionRecord]:
    return [
        SessionRecord(
            session_id=sid,
            user_id=USER,
            created_at=created,
            last_used_at=used,
            expires_at=expires,
            current_jti="CCCCCCCCCCCCCCCCCCCCCC",
        )
        for sid, used, created, expires in case["sessions"]
    ]


@pytest.mark.parametrize("case", CASES["evict"], ids=lambda c: c["name"])
def test_rules_and_the_redis_store_evict_each_case_alike(case, redis_server):
    now = DEFAULTS["now"]
    existing = _existing(case)
    expired, evicted = rules.sessions_to_evict(existing, case["max_sessions"], now)
    assert (expired, evicted) == (case["expired"], case["evicted"])

    store = RedisStore()
    for record in existing:
        redis_server.hset(store.user_key(USER), record.session_id, _encode(record))
    new = SessionRecord(
        session_id="new",
        user_id=USER,
        created_at=now,
        last_used_at=now,
        expires_at=int(now) + 3600,
        current_jti="NNNNNNNNNNNNNNNNNNNNNN",
    )
    assert store.create(new, max_sessions=case["max_sessions"]) == evicted
    left = {sid.decode() for sid in redis_server.hkeys(store.user_key(USER))}
    assert left == {r.session_id for r in existing} - set(expired) - set(evicted) | {"new"}
