"""The Redis store: what it keeps per session (compact, faithful, safe across format changes)
and how a refresh talks to Redis (the script and the user check overlap)."""

import dataclasses
import json
import time
from functools import partial
from typing import Any, cast

import pytest
import redis
from rest_framework.test import APIClient

from tests.conftest import bearer, current_id, login, sessions_of
from tokens import rules
from tokens.errors import StoreUnavailable
from tokens.rules import PREVIOUS_JTI_LENGTH
from tokens.stores import SessionRecord, get_store
from tokens.stores.redis import RedisStore, _b36, _encode, _expires_at, _pack_agent, _record

pytestmark = pytest.mark.django_db

EDGE_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)


@pytest.mark.parametrize(
    "agent",
    [
        EDGE_LINUX,
        "",
        "curl/8.5.0",
        'Ünïcode 🚀 agent | with | bars | and \\ backslashes " quotes',
        "x" * 256,
    ],
)
def test_user_agent_and_ip_come_back_exactly_as_recorded(api, user, agent):
    body = login(api, HTTP_USER_AGENT=agent, REMOTE_ADDR="2001:db8::42")
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200, refreshed.content

    [session] = sessions_of(api, refreshed.json())
    assert session["user_agent"] == agent
    assert session["ip"] == "2001:db8::42"


def test_a_session_record_fits_a_256_byte_listpack_value(api, user, redis_server):
    # With docs/operations.md's `hash-max-listpack-value 256`, a user's hash keeps Redis'
    # compact encoding even after rotations fill the previous-token slot.
    redis_server.config_set("hash-max-listpack-value", 256)
    try:
        body = login(api, HTTP_USER_AGENT=EDGE_LINUX, REMOTE_ADDR="203.0.113.7")
        login(api, HTTP_USER_AGENT=EDGE_LINUX, REMOTE_ADDR="203.0.113.8")
        for _ in range(3):
            response = api.post(
                "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
            )
            assert response.status_code == 200, response.content
            body = response.json()
        key = cast(RedisStore, get_store()).user_key(str(user.pk))
        assert redis_server.object("encoding", key) == b"listpack"
        assert max(len(v) for v in redis_server.hvals(key)) <= 128
    finally:
        redis_server.config_set("hash-max-listpack-value", 64)


def test_a_rotation_keeps_the_previous_token_id_cut_to_its_stored_length(api, user):
    from tokens.jwt import SessionRefreshToken, decode

    body = login(api)
    presented = decode(body["refresh_token"], SessionRefreshToken)
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200, response.content

    record = get_store().get(presented.user_id, presented.session_id)
    assert record is not None
    assert record.previous_jti == presented.jti[:PREVIOUS_JTI_LENGTH]
    # The cut prefix is still enough for the grace window: the same successor comes back.
    again = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert again.json()["refresh_token"] == response.json()["refresh_token"]


@pytest.mark.parametrize(
    "agent",
    [
        "Firefox",
        # Bars in the agent must not make the old array look like this version's fields.
        "Mozilla a|b|c|d| zzzzzzz |x|y|z",
        "x|0|0|0|zzzzzzzz|0|ip|agent",
    ],
)
def test_a_record_in_an_older_format_is_an_ended_session_not_an_error(
    api, user, redis_server, agent
):
    body = login(api)
    other = login(api)
    key = cast(RedisStore, get_store()).user_key(str(user.pk))
    now = time.time()
    # What version 0.1 stored: a JSON array.
    old = json.dumps(["0" * 32, int(now), "", 0, now, now, int(now) + 3600, "", agent])
    session_id = current_id(api, body)
    redis_server.hset(key, session_id, old)

    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 403
    assert refreshed.json()["code"] == "session_revoked"
    # The user's other session is untouched, and a new login prunes what it cannot read.
    redis_server.hset(key, "old-session", old)
    assert [s["current"] for s in sessions_of(api, other)] == [True]
    redis_server.hset(key, "old-session", old)
    login(api)
    assert redis_server.hexists(key, "old-session") is False


# --- The refresh's script survives what a Redis restart or a dropped connection does --------


def refresh(api, body):
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_refresh_works_after_redis_forgets_its_scripts(api, user, redis_server):
    body = refresh(api, login(api))
    redis_server.script_flush()  # what a Redis restart does
    body = refresh(api, body)
    assert refresh(api, body)["refresh_token"]


def test_refresh_works_after_redis_closes_pooled_connections(api, user, redis_server):
    body = refresh(api, login(api))
    # Redis closes every other client's connection (a restart, a timeout, a proxy).
    redis_server.client_kill_filter(_type="normal", skipme=True)
    body = refresh(api, body)
    assert refresh(api, body)["refresh_token"]


def rotate_directly(store, session, *, grace):
    """Rotate a session through the store, as a refresh does, to the jti "nnn…"."""
    return store.rotate(
        session.user_id,
        session.session_id,
        session.current_jti,
        new_jti="n" * 22,
        now=time.time(),
        lifetime=3600,
        grace=grace,
        max_age=86400,
    )


@pytest.mark.parametrize(("grace", "outcome"), [(10.0, "grace"), (0.0, "unavailable")])
def test_a_rotation_whose_reply_is_lost_runs_again_only_inside_a_grace_window(
    api, user, monkeypatch, grace, outcome
):
    # Redis ran the script, then the connection broke before its reply arrived. Running it
    # again presents the same token once more: with a grace window that is the honest-retry
    # case (the same successor comes back); without one it would look like reuse and end the
    # session, so the error stands instead (503) and the session lives on.
    refresh(api, login(api))  # Redis knows the rotation script from then on
    store = get_store()
    [session] = store.sessions(str(user.pk), time.time())
    real = redis.connection.Connection.read_response
    lost: list[object] = []

    def read_response(self, *args, **kwargs):
        reply = real(self, *args, **kwargs)
        if not lost and isinstance(reply, list) and reply and reply[0] == b"rotated":
            lost.append(reply)
            self.disconnect()
            raise redis.exceptions.ConnectionError("connection lost before the reply")
        return reply

    monkeypatch.setattr(redis.connection.Connection, "read_response", read_response)
    rotate = partial(rotate_directly, store, session, grace=grace)
    if outcome == "grace":
        rotation = rotate()
        assert (rotation.outcome, rotation.jti) == ("grace", "n" * 22)
    else:
        with pytest.raises(StoreUnavailable):
            rotate()
        assert store.is_live(str(user.pk), session.session_id, time.time())
    assert lost


@pytest.mark.parametrize(
    ("num_proxies", "recorded"), [(1, "198.51.100.9"), (0, "10.0.0.2"), (None, "10.0.0.2")]
)
def test_the_recorded_address_follows_the_same_proxy_trust_as_the_throttles(
    api, user, settings, num_proxies, recorded
):
    # REST_FRAMEWORK["NUM_PROXIES"]: 1 trusts one proxy's X-Forwarded-For entry, 0 none.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    extra = {"REMOTE_ADDR": "10.0.0.2"}
    if num_proxies is not None:
        extra["HTTP_X_FORWARDED_FOR"] = "203.0.113.66, 198.51.100.9"
    body = login(api, **extra)
    [session] = sessions_of(api, body)
    assert session["ip"] == recorded


# --- Records written by the previous release (0.1) keep working ------------------------------
#
# 0.2 stored 8 fields: current jti | previous jti prefix | grace_until ms | last_used ms |
# expires s | created ms | ip | deflated user agent (numbers base 36). This version adds the
# replay count as field 7, written "r" + base 36, before the ip. Reading a 0.1 record as an
# ended session would log out everyone who logged in before the upgrade.


def encode_previous(record: SessionRecord) -> bytes:
    """Return `record` as release 0.1 stored it (its `_encode()`, verbatim but for the name)."""
    head = "|".join(
        [
            record.current_jti,
            record.previous_jti[:PREVIOUS_JTI_LENGTH],
            _b36(int(record.grace_until * 1000)),
            _b36(int(record.last_used_at * 1000)),
            _b36(record.expires_at),
            _b36(int(record.created_at * 1000)),
            record.ip.replace("|", ""),
        ]
    )
    return head.encode() + b"|" + _pack_agent(record.user_agent)


# An agent whose deflated form holds a "|": the agent field may hold any byte.
BARRED_AGENT = "ct.j1lhd0pTMfAyondllanuo7/74)GVJQAXaZ"
VECTOR_RECORD = SessionRecord(
    session_id="s1",
    user_id="42",
    created_at=1799999000.25,
    last_used_at=1799999995.0,
    expires_at=1800003595,
    ip="203.0.113.7",
    user_agent="",
    current_jti="CCCCCCCCCCCCCCCCCCCCCC",
    previous_jti="PPPPPPPPPPP",
    grace_until=1800000005.0,
    replays=0,
)
# Stored records and what they hold, shared by the Python reader and record.lua's parse().
# The record's head, fields 1-6 (see VECTOR_RECORD), and that of a never-rotated session.
HEAD = b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6|"
NEVER_ROTATED = b"CCCCCCCCCCCCCCCCCCCCCC||0|mywpit14|trobnv|mywoxhh6|"
NO_PREVIOUS = {"previous_jti": "", "grace_until": 0}
VECTORS = [
    # This version: the replay count, then the ip.
    pytest.param(HEAD + b"r3|203.0.113.7|", {"replays": 3}, id="this-ipv4"),
    pytest.param(
        NEVER_ROTATED + b"r0|2001:db8::1|", {**NO_PREVIOUS, "ip": "2001:db8::1"}, id="this-ipv6"
    ),
    pytest.param(HEAD + b"rz||", {"replays": 35, "ip": ""}, id="this-no-ip"),
    # 0.1: no replay count, the 7th field is the ip (an address, empty, anything without "|").
    pytest.param(HEAD + b"203.0.113.7|", {}, id="0.1-ipv4"),
    pytest.param(HEAD + b"2001:db8::1|", {"ip": "2001:db8::1"}, id="0.1-ipv6"),
    pytest.param(HEAD + b"|", {"ip": ""}, id="0.1-no-ip"),
    pytest.param(NEVER_ROTATED + b"unix:|", {**NO_PREVIOUS, "ip": "unix:"}, id="0.1-unix"),
    pytest.param(HEAD + b"localhost|", {"ip": "localhost"}, id="0.1-name"),
    pytest.param(
        encode_previous(dataclasses.replace(VECTOR_RECORD, user_agent=EDGE_LINUX)),
        {"user_agent": EDGE_LINUX},
        id="0.1-agent",
    ),
    pytest.param(
        encode_previous(dataclasses.replace(VECTOR_RECORD, user_agent=BARRED_AGENT)),
        {"user_agent": BARRED_AGENT},
        id="0.1-agent-with-a-bar",
    ),
]
NOW = 1800000000.25


def test_an_agent_vector_really_holds_a_bar():
    assert b"|" in _pack_agent(BARRED_AGENT)


@pytest.mark.parametrize(("raw", "changes"), VECTORS)
def test_the_python_reader_reads_each_format_vector(raw, changes):
    expected = dataclasses.replace(VECTOR_RECORD, **changes)
    assert _record("42", "s1", raw) == expected
    assert _expires_at(raw) == expected.expires_at


@pytest.mark.parametrize(("raw", "changes"), VECTORS)
@pytest.mark.parametrize("presented", ["current", "previous", "older"])
def test_the_lua_scripts_read_each_format_vector_and_write_this_format(
    redis_server, raw, changes, presented
):
    # record.lua's parse() through the rotation script: what it decides and keeps is what the
    # rules decide on the record the Python reader reads, and what it keeps is this format.
    before = dataclasses.replace(VECTOR_RECORD, **changes)
    jti = {"current": before.current_jti, "previous": "PPPPPPPPPPPxyz", "older": "O" * 22}[
        presented
    ]
    store = RedisStore()
    redis_server.hset(store.user_key("42"), "s1", raw)
    params: dict[str, Any] = {
        "now": NOW,
        "new_jti": "N" * 22,
        "lifetime": 3600,
        "grace": 10,
        "max_age": 86400,
    }
    rotation = store.rotate("42", "s1", jti, max_replays=32, **params)
    decision = rules.decide_refresh(before, jti, max_replays=32, **params)
    assert rotation.outcome == decision.outcome
    assert store.get("42", "s1") == decision.record
    if decision.record is not None:
        stored = redis_server.hget(store.user_key("42"), "s1")
        assert stored.split(b"|")[6] == b"r" + _b36(decision.record.replays).encode()
        assert stored == _encode(decision.record)


@pytest.mark.parametrize(("raw", "changes"), VECTORS)
def test_a_login_keeps_each_format_vector_and_counts_it(redis_server, raw, changes):
    # create.lua's parse(): a login prunes what it cannot read and what has expired, never a
    # live record of either format; past MAX_SESSIONS_PER_USER it ends the least recently used.
    store = RedisStore()
    redis_server.hset(store.user_key("42"), "s1", raw)
    new = dataclasses.replace(
        VECTOR_RECORD,
        session_id="new",
        created_at=NOW,
        last_used_at=NOW,
        current_jti="N" * 22,
        previous_jti="",
        grace_until=0,
    )
    assert store.create(new, max_sessions=None) == []
    assert store.get("42", "s1") == dataclasses.replace(VECTOR_RECORD, **changes)
    assert store.create(dataclasses.replace(new, session_id="newer"), max_sessions=2) == ["s1"]


@pytest.mark.parametrize(
    "raw",
    [
        # Not records of any release: each is read as an ended session.
        b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6|r3",
        b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6",
        b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|TROBNV|mywoxhh6|r3|ip|",
        b'["CCCCCCCCCCCCCCCCCCCCCC",1,"",0,1,1,1800003595,"","a|b|c|d|e|f|g|h"]',
    ],
)
def test_records_of_no_release_are_ended_sessions_in_python_and_lua(redis_server, raw):
    store = RedisStore()
    redis_server.hset(store.user_key("42"), "s1", raw)
    assert _record("42", "s1", raw) is None
    assert _expires_at(raw) == 0
    assert store.is_live("42", "s1", NOW) is False
    rotation = store.rotate(
        "42", "s1", "C" * 22, now=NOW, new_jti="N" * 22, lifetime=3600, grace=10, max_age=86400
    )
    assert rotation.outcome == "revoked"
    assert redis_server.hexists(store.user_key("42"), "s1") is False


def write_as_previous_release(redis_server, user, body) -> SessionRecord:
    """Store the session of a token response as release 0.1 would have; return the record."""
    store = get_store()
    session_id = current_id(APIClient(), body)
    record = store.get(str(user.pk), session_id)
    assert record is not None
    redis_server.hset(
        cast(RedisStore, store).user_key(str(user.pk)), session_id, encode_previous(record)
    )
    return dataclasses.replace(record, replays=0)


@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1", ""])
def test_a_session_from_the_previous_release_works_everywhere(
    api, user, redis_server, admin_client, ip
):
    body = login(api, HTTP_USER_AGENT=EDGE_LINUX, REMOTE_ADDR=ip)
    record = write_as_previous_release(redis_server, user, body)
    store, user_id = get_store(), str(user.pk)

    assert store.get(user_id, record.session_id) == record
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200
    [listed] = sessions_of(api, body)
    assert (listed["id"], listed["ip"], listed["user_agent"]) == (
        record.session_id,
        ip,
        EDGE_LINUX,
    )
    for page in (f"/admin/accounts/user/{user.pk}/change/", "/admin/tokens/livesession/"):
        assert record.session_id in admin_client.get(page).content.decode()

    rotated = refresh(api, body)
    raw = redis_server.hget(cast(RedisStore, store).user_key(user_id), record.session_id)
    assert raw.split(b"|")[6:8] == [b"r0", ip.encode()]  # rewritten in this format
    assert api.get("/api/user/info", **bearer(rotated["access_token"])).status_code == 200
    assert refresh(api, rotated)["refresh_token"]


def test_a_grace_replay_of_a_previous_release_record_gets_the_same_successor(
    api, user, redis_server
):
    first = login(api)
    second = refresh(api, first)
    record = write_as_previous_release(redis_server, user, second)
    assert record.previous_jti  # the rotation's grace window is open

    again = refresh(api, first)
    assert again["refresh_token"] == second["refresh_token"]
    stored = get_store().get(str(user.pk), record.session_id)
    assert stored == dataclasses.replace(record, replays=1)
    raw = redis_server.hget(cast(RedisStore, get_store()).user_key(str(user.pk)), record.session_id)
    assert raw.split(b"|")[6] == b"r1"


def test_a_reused_token_ends_a_previous_release_session(api, user, redis_server):
    first = login(api)
    second = refresh(api, first)
    third = refresh(api, second)
    write_as_previous_release(redis_server, user, third)

    reused = api.post("/api/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert (reused.status_code, reused.json()["code"]) == (403, "refresh_token_reused")
    info = api.get("/api/user/info", **bearer(third["access_token"]))
    assert (info.status_code, info.json()["code"]) == (401, "session_revoked")
