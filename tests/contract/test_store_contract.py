"""The store contract: every store (Redis; the database store on SQLite and PostgreSQL) keeps
sessions the same way, under real concurrency. See conftest.py for the stores."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from tests.contract.conftest import at_once, concurrent, create, make_record, rotate
from tokens.errors import LoginInterrupted
from tokens.stores import BaseStore


def test_a_rotation_moves_the_session_to_the_successor(store: BaseStore) -> None:
    record = create(store)
    first = rotate(store, record, record.current_jti)
    assert first.outcome == "rotated"
    assert first.jti and first.jti != record.current_jti
    second = rotate(store, record, first.jti)
    assert second.outcome == "rotated"
    stored = store.get(record.user_id, record.session_id)
    assert stored is not None and stored.current_jti == second.jti


@concurrent
def test_thirty_two_threads_rotating_one_session_get_one_rotation_and_one_successor(
    store: BaseStore,
) -> None:
    record = create(store)

    results = at_once(32, lambda _: rotate(store, record, record.current_jti, max_replays=32))

    outcomes = collections.Counter(r.outcome for r in results)
    assert outcomes == {"rotated": 1, "grace": 31}
    assert len({(r.jti, r.issued_at, r.expires_at) for r in results}) == 1
    stored = store.get(record.user_id, record.session_id)
    assert stored is not None and stored.current_jti == results[0].jti


@concurrent
def test_replays_past_the_cap_end_the_session(store: BaseStore) -> None:
    record = create(store)

    results = at_once(32, lambda _: rotate(store, record, record.current_jti, max_replays=8))

    outcomes = collections.Counter(r.outcome for r in results)
    assert outcomes == {"rotated": 1, "grace": 8, "reused": 1, "revoked": 22}
    assert not store.is_live(record.user_id, record.session_id, time.time())


def test_the_previous_token_after_its_grace_window_is_reuse(store: BaseStore) -> None:
    record = create(store)
    now = time.time()
    successor = rotate(store, record, record.current_jti, now=now, grace=1)
    assert rotate(store, record, record.current_jti, now=now + 0.5, grace=1).jti == successor.jti
    assert rotate(store, record, record.current_jti, now=now + 1.5, grace=1).outcome == "reused"
    assert store.get(record.user_id, record.session_id) is None
    assert rotate(store, record, successor.jti).outcome == "revoked"


@concurrent
def test_concurrent_logins_with_one_session_allowed_leave_one(store: BaseStore) -> None:
    records = [make_record("7") for _ in range(12)]

    evicted = at_once(12, lambda i: store.create(records[i], max_sessions=1))

    live = store.sessions("7", time.time())
    assert len(live) == 1
    # Every other session was ended by exactly one login, and said so.
    ended = [sid for ids in evicted for sid in ids]
    assert sorted(ended) == sorted(
        r.session_id for r in records if r.session_id != live[0].session_id
    )


@concurrent
def test_logout_all_racing_rotations_leaves_nothing_live(store: BaseStore) -> None:
    records = [create(store) for _ in range(8)]
    stop = threading.Event()

    def keep_rotating(index: int) -> str:
        if index == len(records):
            time.sleep(0.05)
            store.delete_all("7", ended_at=time.time())
            stop.set()
            return "ended"
        record, jti = records[index], records[index].current_jti
        while True:
            rotation = rotate(store, record, jti)
            if rotation.outcome != "rotated":
                return rotation.outcome
            jti = rotation.jti
            if stop.is_set():
                # One more try after the logout: it must find the session gone.
                return rotate(store, record, jti).outcome

    results = at_once(len(records) + 1, keep_rotating)

    assert results[-1] == "ended"
    assert set(results[:-1]) == {"revoked"}
    now = time.time()
    assert store.sessions("7", now) == []
    assert not any(store.is_live("7", r.session_id, now) for r in records)


def test_a_login_started_before_its_user_sessions_ended_is_not_created(store: BaseStore) -> None:
    started = time.time()
    time.sleep(0.01)
    store.delete_all("7", ended_at=time.time())

    late = make_record("7")
    with pytest.raises(LoginInterrupted):
        store.create(late, max_sessions=None, started_at=started)
    assert not store.is_live("7", late.session_id, time.time())

    fresh = make_record("7")
    time.sleep(0.002)  # a login started in the ending's own millisecond is refused, by design
    assert store.create(fresh, max_sessions=None, started_at=time.time()) == []
    assert store.is_live("7", fresh.session_id, time.time())
    # Another user's sessions did not end: the same early start is no reason to refuse.
    other = make_record("8")
    assert store.create(other, max_sessions=None, started_at=started) == []
    assert store.is_live("8", other.session_id, time.time())


@concurrent
def test_logins_racing_logout_all_never_leave_a_session_started_before_it(
    store: BaseStore,
) -> None:
    started = time.time()
    records = [make_record("7") for _ in range(12)]

    def work(index: int) -> object:
        if index == len(records):
            return store.delete_all("7", ended_at=time.time())
        try:
            return store.create(records[index], max_sessions=None, started_at=started)
        except LoginInterrupted:
            return None

    at_once(len(records) + 1, work)

    # Each login either ran wholly before the logout (and was ended by it) or was refused.
    assert store.sessions("7", time.time()) == []


def test_an_expired_session_is_not_live_and_cannot_refresh(store: BaseStore) -> None:
    record = create(store, lifetime=1)
    assert store.is_live(record.user_id, record.session_id, record.expires_at - 0.5)
    later = record.expires_at + 0.1
    assert not store.is_live(record.user_id, record.session_id, later)
    assert store.sessions(record.user_id, later) == []
    assert rotate(store, record, record.current_jti, now=later).outcome == "expired"
    assert store.get(record.user_id, record.session_id) is None


def test_a_session_is_its_user_own(store: BaseStore) -> None:
    record = create(store, "7")
    now = time.time()
    assert not store.is_live("8", record.session_id, now)
    assert store.get("8", record.session_id) is None
    assert not store.delete("8", record.session_id)
    assert (
        rotate(store, make_record("8", session_id=record.session_id), record.current_jti).outcome
        == "revoked"
    )
    assert store.is_live("7", record.session_id, now)


def test_listing_is_newest_first_and_keeps_what_login_recorded(store: BaseStore) -> None:
    now = time.time()
    old = create(store, now=now - 20, ip="198.51.100.7", user_agent="Mozilla/5.0 (X11; Linux)")
    new = create(store, now=now - 10)
    create(store, "8")
    listed = store.sessions("7", now)
    assert [r.session_id for r in listed] == [new.session_id, old.session_id]
    assert listed[1].ip == "198.51.100.7"
    assert listed[1].user_agent == "Mozilla/5.0 (X11; Linux)"
    assert abs(listed[1].created_at - old.created_at) < 0.002


def test_delete_and_delete_all_end_sessions(store: BaseStore) -> None:
    a, b, c = (create(store) for _ in range(3))
    other = create(store, "8")
    assert store.delete("7", a.session_id)
    assert not store.delete("7", a.session_id)
    assert store.delete_all("7", keep=c.session_id) == [b.session_id]
    now = time.time()
    assert [r.session_id for r in store.sessions("7", now)] == [c.session_id]
    assert sorted(store.delete_all("7")) == [c.session_id]
    assert store.sessions("7", now) == []
    assert store.is_live("8", other.session_id, now)


def test_admin_pages_and_count_cover_every_user_newest_first(store: BaseStore) -> None:
    now = time.time()
    records = [create(store, str(i % 3), now=now - 100 + i) for i in range(25)]
    create(store, "9", now=now - 200, lifetime=1)  # expired: neither counted nor listed
    newest_first = [r.session_id for r in reversed(records)]

    assert store.count_all() in (25, 26)  # "about": a store may count the expired until pruned
    pages = [store.page_all(offset, 10, time.time()) for offset in (0, 10, 20)]
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [r.session_id for page in pages for r in page] == newest_first
    assert pages[0][0].user_id == records[-1].user_id
