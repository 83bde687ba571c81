"""The Redis store: what it keeps per session (compact, faithful, safe across format changes)
and how a refresh talks to Redis (the script and the user check overlap)."""

import json
import time
from functools import partial
from types import SimpleNamespace

import pytest
import redis

from tests.conftest import bearer, current_id, login, sessions_of
from tokens.exceptions import StoreUnavailable
from tokens.stores import get_store

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
        key = get_store().user_key(str(user.pk))
        assert redis_server.object("encoding", key) == b"listpack"
        assert max(len(v) for v in redis_server.hvals(key)) <= 128
    finally:
        redis_server.config_set("hash-max-listpack-value", 64)


def test_a_rotation_keeps_the_previous_token_id_cut_to_its_stored_length(api, user):
    from tokens.stores.redis import PREVIOUS_JTI_LENGTH
    from tokens.tokens import SessionRefreshToken, decode

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
    key = get_store().user_key(str(user.pk))
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


# --- The refresh's script and the user check overlap (RedisStore.rotate(alongside=...)) -------


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


def rotate_directly(store, session, *, grace, alongside):
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
        alongside=alongside,
    )


def test_a_failing_user_check_leaves_no_reply_behind_for_the_next_command(api, user):
    body = login(api)
    store = get_store()
    [session] = store.sessions(str(user.pk), time.time())

    def fails():
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        rotate_directly(store, session, grace=10, alongside=fails)
    # The script's reply was pending when the check failed; the next commands on the pool
    # must read their own replies.
    for _ in range(5):
        assert store.is_live(str(user.pk), session.session_id, time.time()) is True
        assert [s.session_id for s in store.sessions(str(user.pk), time.time())] == [
            session.session_id
        ]
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


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
    lost = []

    def read_response(self, *args, **kwargs):
        reply = real(self, *args, **kwargs)
        if not lost and isinstance(reply, list) and reply and reply[0] == b"rotated":
            lost.append(reply)
            self.disconnect()
            raise redis.exceptions.ConnectionError("connection lost before the reply")
        return reply

    monkeypatch.setattr(redis.connection.Connection, "read_response", read_response)
    rotate = partial(rotate_directly, store, session, grace=grace, alongside=lambda: None)
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


@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1", ""])
def test_a_record_from_before_the_replay_count_is_an_ended_session(api, user, redis_server, ip):
    # Version 0.2's record had 8 fields, its 7th the address: never read as this format.
    body = login(api)
    key = get_store().user_key(str(user.pk))
    session_id = current_id(api, body)
    now = int(time.time() * 1000)
    old = f"{'a' * 22}||0|{now:x}|{now // 1000 + 3600:x}|{now:x}|{ip}|agent"
    redis_server.hset(key, session_id, old)
    assert get_store().get(str(user.pk), session_id) is None
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert (refreshed.status_code, refreshed.json()["code"]) == (403, "session_revoked")


def test_a_script_redis_runs_after_the_callers_deadline_applies_nothing(
    api, user, monkeypatch, caplog
):
    # What a stall looks like to the script (tests/test_fail_safe.py stalls a real Redis): the
    # deadline it carries has passed by Redis' clock. Here the site's clock is 10 s behind
    # Redis', which is also what a badly drifted clock looks like: loud and safe.
    import tokens.stores.redis as redis_store

    body = refresh(api, login(api))
    store = get_store()
    [session] = store.sessions(str(user.pk), time.time())
    behind = time.time() - 10
    monkeypatch.setattr(redis_store, "time", SimpleNamespace(time=lambda: behind))
    with pytest.raises(StoreUnavailable), caplog.at_level("ERROR", logger="tokens.store"):
        rotate_directly(store, session, grace=10, alongside=lambda: None)
    assert "clock" in caplog.text
    monkeypatch.undo()
    assert store.get(str(user.pk), session.session_id) == session
    assert refresh(api, body)["refresh_token"]
