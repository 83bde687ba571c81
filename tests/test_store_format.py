"""The Redis store: what it keeps per session (compact, faithful, safe across format changes)
and how a refresh talks to Redis (the script and the user check overlap)."""

import dataclasses
import json
import time
import zlib
from functools import partial
from typing import Any, cast

import pytest
import redis
from rest_framework.test import APIClient

from tests.conftest import bearer, current_id, login, sessions_of
from tokens import rules
from tokens.display import shorten_user_agent
from tokens.errors import StoreUnavailable
from tokens.rules import PREVIOUS_JTI_LENGTH
from tokens.stores import SessionRecord, get_store
from tokens.stores.redis import (
    _LEGACY_AGENT_DICTIONARY,
    AGENT_MAX_BYTES,
    RedisStore,
    _b36,
    _encode,
    _expires_at,
    _record,
)

pytestmark = pytest.mark.django_db

EDGE_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "curl/8.5.0",
        'Ünïcode 🚀 agent | with | bars | and \\ backslashes " quotes',
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "x" * AGENT_MAX_BYTES,
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


@pytest.mark.parametrize(
    "agent",
    [
        EDGE_LINUX,
        EDGE_LINUX.replace("(KHTML, like Gecko)", "(KHTML, like Gecko) " + "Plugin/1.0 " * 500),
        "x" * (AGENT_MAX_BYTES + 1),
        "Ü" * 1000,
    ],
)
def test_a_longer_user_agent_keeps_its_start_and_end_and_its_device(api, user, agent):
    # The record keeps at most AGENT_MAX_BYTES of the agent (the bytes of text cost memory in
    # every session): its start, with the platform, and its end, with the last product token.
    body = refresh(api, login(api, HTTP_USER_AGENT=agent))

    [session] = sessions_of(api, body)
    kept = shorten_user_agent(agent, AGENT_MAX_BYTES)
    assert session["user_agent"] == kept
    assert len(kept.encode()) <= AGENT_MAX_BYTES
    assert kept.startswith(agent[:20]) and kept.endswith(agent[-20:])
    if agent.startswith("Mozilla"):
        assert kept == (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.3…"
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
        )
        assert session["device"] == "Edge on Linux"


@pytest.mark.parametrize("agent", [EDGE_LINUX, "x" * 100_000, "€" * 10_000])
@pytest.mark.parametrize("agent_setting", [None, 1_000_000])
def test_a_session_record_fits_a_256_byte_listpack_value(
    api, user, redis_server, settings, agent, agent_setting
):
    # With docs/operations.md's `hash-max-listpack-value 256`, a user's hash keeps Redis'
    # compact encoding even after rotations fill the previous-token slot: whatever the agent,
    # the longest address, and however long USER_AGENT_MAX_LENGTH lets agents be.
    if agent_setting is not None:
        settings.TOKENS = {**settings.TOKENS, "USER_AGENT_MAX_LENGTH": agent_setting}
    longest_address = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
    redis_server.config_set("hash-max-listpack-value", 256)
    try:
        body = login(api, HTTP_USER_AGENT=agent, REMOTE_ADDR=longest_address)
        login(api, HTTP_USER_AGENT=agent, REMOTE_ADDR="203.0.113.8")
        for _ in range(3):
            body = refresh(api, body)
        key = cast(RedisStore, get_store()).user_key(str(user.pk))
        assert redis_server.object("encoding", key) == b"listpack"
        assert max(len(v) for v in redis_server.hvals(key)) <= 225
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


# --- Records written before keep working -----------------------------------------------------
#
# 0.1 stored 8 fields: current jti | previous jti prefix | grace_until ms | last_used ms |
# expires s | created ms | ip | user agent deflated against a dictionary (numbers base 36).
# Then field 7 came, before the ip: "r" and the replay count in base 36, the agent still
# deflated. This version writes "t" there instead, and the agent as text. Reading either older
# record as an ended session would log out everyone who logged in before the upgrade.


def deflate_legacy(agent: str) -> bytes:
    """Return an agent as records marked "r", and 0.1's, stored it (deflated)."""
    if not agent:
        return b""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=_LEGACY_AGENT_DICTIONARY)
    return deflate.compress(agent.encode()) + deflate.flush()


def encode_previous(record: SessionRecord) -> bytes:
    """Return `record` as release 0.1 stored it (its `_encode()`, verbatim but for the names)."""
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
    return head.encode() + b"|" + deflate_legacy(record.user_agent)


# An agent whose deflated form holds a "|": the agent field may hold any byte.
BARRED_AGENT = "ct.j1lhd0pTMfAyondllanuo7/74)GVJQAXaZ"
# A text agent with bars, a backslash and characters beyond ASCII.
TEXT_AGENT = 'Ünïcode 🚀 | bars | \\ "'
ELIDED_EDGE = shorten_user_agent(EDGE_LINUX, AGENT_MAX_BYTES)
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
# Stored records and what they hold, shared by the Python reader and record.lua's parse(): the
# one statement of the layout both are held to. Each vector: the stored record, how it differs
# from VECTOR_RECORD, and the letter a rotation writes back in field 7 (the record's own: the
# agent is carried along as it is).
# The record's head, fields 1-6 (see VECTOR_RECORD), and that of a never-rotated session.
HEAD = b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6|"
NEVER_ROTATED = b"CCCCCCCCCCCCCCCCCCCCCC||0|mywpit14|trobnv|mywoxhh6|"
NO_PREVIOUS = {"previous_jti": "", "grace_until": 0}
VECTORS = [
    # This version: "t" and the replay count, the ip, the agent as text.
    pytest.param(HEAD + b"t3|203.0.113.7|", {"replays": 3}, b"t", id="this-ipv4"),
    pytest.param(
        NEVER_ROTATED + b"t0|2001:db8::1|",
        {**NO_PREVIOUS, "ip": "2001:db8::1"},
        b"t",
        id="this-ipv6",
    ),
    pytest.param(HEAD + b"tz||", {"replays": 35, "ip": ""}, b"t", id="this-no-ip"),
    pytest.param(
        HEAD + b"t1|203.0.113.7|" + ELIDED_EDGE.encode(),
        {"replays": 1, "user_agent": ELIDED_EDGE},
        b"t",
        id="this-agent",
    ),
    pytest.param(
        HEAD + b"t0|203.0.113.7|" + TEXT_AGENT.encode(),
        {"user_agent": TEXT_AGENT},
        b"t",
        id="this-agent-with-bars",
    ),
    # Before: "r" and the replay count, the agent deflated.
    pytest.param(HEAD + b"r3|203.0.113.7|", {"replays": 3}, b"r", id="r-ipv4"),
    pytest.param(HEAD + b"rz||", {"replays": 35, "ip": ""}, b"r", id="r-no-ip"),
    pytest.param(
        HEAD + b"r2|2001:db8::1|" + deflate_legacy(EDGE_LINUX),
        {"replays": 2, "ip": "2001:db8::1", "user_agent": EDGE_LINUX},
        b"r",
        id="r-agent",
    ),
    pytest.param(
        HEAD + b"r0|203.0.113.7|" + deflate_legacy(BARRED_AGENT),
        {"user_agent": BARRED_AGENT},
        b"r",
        id="r-agent-with-a-bar",
    ),
    # 0.1: no field 7, the 7th field is the ip (an address, empty, anything without "|").
    pytest.param(HEAD + b"203.0.113.7|", {}, b"r", id="0.1-ipv4"),
    pytest.param(HEAD + b"2001:db8::1|", {"ip": "2001:db8::1"}, b"r", id="0.1-ipv6"),
    pytest.param(HEAD + b"|", {"ip": ""}, b"r", id="0.1-no-ip"),
    pytest.param(NEVER_ROTATED + b"unix:|", {**NO_PREVIOUS, "ip": "unix:"}, b"r", id="0.1-unix"),
    pytest.param(HEAD + b"localhost|", {"ip": "localhost"}, b"r", id="0.1-name"),
    pytest.param(
        encode_previous(dataclasses.replace(VECTOR_RECORD, user_agent=EDGE_LINUX)),
        {"user_agent": EDGE_LINUX},
        b"r",
        id="0.1-agent",
    ),
    pytest.param(
        encode_previous(dataclasses.replace(VECTOR_RECORD, user_agent=BARRED_AGENT)),
        {"user_agent": BARRED_AGENT},
        b"r",
        id="0.1-agent-with-a-bar",
    ),
]
NOW = 1800000000.25


def test_an_agent_vector_really_holds_a_bar():
    assert b"|" in deflate_legacy(BARRED_AGENT)


def test_this_version_writes_the_agent_as_text_after_a_t():
    record = dataclasses.replace(VECTOR_RECORD, user_agent=TEXT_AGENT, replays=3)
    assert _encode(record) == HEAD + b"t3|203.0.113.7|" + TEXT_AGENT.encode()
    longer = dataclasses.replace(VECTOR_RECORD, user_agent=EDGE_LINUX, replays=1)
    assert _encode(longer) == HEAD + b"t1|203.0.113.7|" + ELIDED_EDGE.encode()


@pytest.mark.parametrize(("raw", "changes", "agent_format"), VECTORS)
def test_the_python_reader_reads_each_format_vector(raw, changes, agent_format):
    expected = dataclasses.replace(VECTOR_RECORD, **changes)
    assert _record("42", "s1", raw) == expected
    assert _expires_at(raw) == expected.expires_at


@pytest.mark.parametrize(("raw", "changes", "agent_format"), VECTORS)
@pytest.mark.parametrize("presented", ["current", "previous", "older"])
def test_the_lua_scripts_read_each_format_vector_and_write_its_agent_back(
    redis_server, raw, changes, agent_format, presented
):
    # record.lua's parse() through the rotation script: what it decides and keeps is what the
    # rules decide on the record the Python reader reads, and what it keeps is this layout with
    # the record's own agent, untouched, and the letter that says how it is held.
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
        head = _encode(decision.record).split(b"|")[:6]
        field_7 = agent_format + _b36(decision.record.replays).encode()
        agent = before.user_agent
        held = agent.encode() if agent_format == b"t" else deflate_legacy(agent)
        assert stored == b"|".join([*head, field_7, before.ip.encode(), held])
        if agent_format == b"t":
            assert stored == _encode(decision.record)


@pytest.mark.parametrize(("raw", "changes", "agent_format"), VECTORS)
def test_a_login_keeps_each_format_vector_and_counts_it(redis_server, raw, changes, agent_format):
    # create.lua's parse(): a login prunes what it cannot read and what has expired, never a
    # live record of any format; past MAX_SESSIONS_PER_USER it ends the least recently used.
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
    assert redis_server.hget(store.user_key("42"), "s1") == raw
    assert store.create(dataclasses.replace(new, session_id="newer"), max_sessions=2) == ["s1"]


@pytest.mark.parametrize(
    "raw",
    [
        # Not records of any release: each is read as an ended session.
        b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6|r3",
        b"CCCCCCCCCCCCCCCCCCCCCC|PPPPPPPPPPP|mywpj0qw|mywpit14|trobnv|mywoxhh6|t3|ip",
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


def write_as_previous_release(
    redis_server, user, body, user_agent: str | None = None
) -> SessionRecord:
    """Store the session of a token response as release 0.1 would have; return the record.

    `user_agent`: the agent 0.1 recorded, whole (it kept up to 256 characters); by default the
    session's own.
    """
    store = get_store()
    session_id = current_id(APIClient(), body)
    record = store.get(str(user.pk), session_id)
    assert record is not None
    record = dataclasses.replace(record, replays=0, user_agent=user_agent or record.user_agent)
    redis_server.hset(
        cast(RedisStore, store).user_key(str(user.pk)), session_id, encode_previous(record)
    )
    return record


@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1", ""])
def test_a_session_from_the_previous_release_works_everywhere(
    api, user, redis_server, admin_client, ip
):
    body = login(api, HTTP_USER_AGENT=EDGE_LINUX, REMOTE_ADDR=ip)
    record = write_as_previous_release(redis_server, user, body, user_agent=EDGE_LINUX)
    store, user_id = get_store(), str(user.pk)

    assert store.get(user_id, record.session_id) == record
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200
    [listed] = sessions_of(api, body)
    assert (listed["id"], listed["ip"], listed["user_agent"], listed["device"]) == (
        record.session_id,
        ip,
        EDGE_LINUX,
        "Edge on Linux",
    )
    for page in (f"/admin/accounts/user/{user.pk}/change/", "/admin/tokens/livesession/"):
        assert record.session_id in admin_client.get(page).content.decode()

    rotated = refresh(api, body)
    raw = redis_server.hget(cast(RedisStore, store).user_key(user_id), record.session_id)
    # Rewritten with field 7, the agent carried along still deflated (and so marked "r").
    assert raw.split(b"|")[6:8] == [b"r0", ip.encode()]
    assert sessions_of(api, rotated)[0]["user_agent"] == EDGE_LINUX
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
