"""The session rules: one table of cases (tests/rules_cases.json) that `tokens.rules` must decide.

The same table runs against every store (Redis, whose Lua scripts mirror these rules, Sentinel,
Cluster, and the database store on SQLite and PostgreSQL) in tests/contract/test_rules_cases.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tokens import rules
from tokens.stores import SessionRecord

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
def test_rules_admit_each_login_case(case):
    assert rules.admits_login(case["ended_before"], case["started_at"]) is case["admitted"]


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
def test_rules_evict_each_case(case):
    expired, evicted = rules.sessions_to_evict(
        _existing(case), case["max_sessions"], DEFAULTS["now"]
    )
    assert (expired, evicted) == (case["expired"], case["evicted"])
