"""Refresh: rotation, the grace window, reuse detection, expiry and the session's max age."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login
from tokens import signals

pytestmark = pytest.mark.django_db


def refresh(api, token):
    return api.post("/api/auth/refresh", {"refresh_token": token}, format="json")


def test_refresh_rotates_to_a_new_working_pair(api, user):
    first = login(api)
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert api.get("/api/user/info", **bearer(second["access_token"])).status_code == 200
    assert refresh(api, second["refresh_token"]).status_code == 200


def test_replay_inside_grace_window_returns_the_same_successor(api, user):
    first = login(api)
    a = refresh(api, first["refresh_token"]).json()
    b = refresh(api, first["refresh_token"]).json()
    assert a["refresh_token"] == b["refresh_token"]
    # The session survives and the successor keeps rotating.
    assert refresh(api, a["refresh_token"]).status_code == 200


def test_replay_after_grace_window_revokes_the_whole_session(api, user, settings, caplog):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(seconds=0)}
    reused = []
    signals.refresh_token_reused.connect(
        lambda **kw: reused.append(kw), weak=False, dispatch_uid="t"
    )
    try:
        first = login(api)
        second = refresh(api, first["refresh_token"]).json()
        with caplog.at_level(logging.WARNING, logger="django.security.tokens"):
            replay = refresh(api, first["refresh_token"])
    finally:
        signals.refresh_token_reused.disconnect(dispatch_uid="t")
    assert replay.status_code == 403
    assert replay.json()["code"] == "refresh_token_reused"
    assert len(reused) == 1
    assert "reuse" in caplog.text
    # The thief's replay ends the session for everyone: the legitimate successor and its access
    # token die too.
    assert refresh(api, second["refresh_token"]).json()["code"] == "session_revoked"
    denied = api.get("/api/user/info", **bearer(second["access_token"]))
    assert denied.status_code == 401
    assert denied.json()["code"] == "session_revoked"


def test_reuse_of_an_older_token_inside_the_window_is_still_reuse(api, user):
    first = login(api)
    second = refresh(api, first["refresh_token"]).json()
    refresh(api, second["refresh_token"])
    # `first` is two rotations old: only the immediately previous token has a grace window.
    assert refresh(api, first["refresh_token"]).json()["code"] == "refresh_token_reused"


def test_reuse_ends_only_that_session(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    stolen, other = login(api), login(api)
    refresh(api, stolen["refresh_token"])
    refresh(api, stolen["refresh_token"])
    assert api.get("/api/user/info", **bearer(other["access_token"])).status_code == 200


def test_grace_window_ends_after_its_duration(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(seconds=1)}
    first = login(api)
    refresh(api, first["refresh_token"])
    assert refresh(api, first["refresh_token"]).status_code == 200
    time.sleep(1.2)
    assert refresh(api, first["refresh_token"]).json()["code"] == "refresh_token_reused"


def test_expired_access_token_is_401_access_token_expired(api, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=1)}
    body = login(api)
    assert body["expires_in"] == 1
    time.sleep(2.1)
    response = api.get("/api/user/info", **bearer(body["access_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_expired"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    # The silent refresh: trade the refresh token and carry on.
    again = refresh(api, body["refresh_token"]).json()
    assert api.get("/api/user/info", **bearer(again["access_token"])).status_code == 200


def test_expired_refresh_token_is_403_refresh_token_expired(api, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "REFRESH_TOKEN_LIFETIME": timedelta(seconds=1)}
    body = login(api)
    assert body["refresh_expires_in"] == 1
    time.sleep(2.1)
    response = refresh(api, body["refresh_token"])
    assert response.status_code == 403
    assert response.json()["code"] == "refresh_token_expired"


def test_refresh_slides_the_idle_expiry(api, user, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "REFRESH_TOKEN_LIFETIME": timedelta(seconds=3)}
    token = login(api)["refresh_token"]
    for _ in range(3):
        time.sleep(1.1)
        response = refresh(api, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]
    # 3.3 s after login, beyond the first token's 3 s life, the session is alive.


def test_session_max_age_caps_the_session_whatever_the_rotations(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "SESSION_MAX_AGE": timedelta(seconds=3)}
    body = login(api)
    assert body["refresh_expires_in"] <= 3
    time.sleep(1)
    rotated = refresh(api, body["refresh_token"]).json()
    # A week-long refresh lifetime, yet the rotated token keeps the session's first deadline.
    assert rotated["refresh_expires_in"] <= 2
    time.sleep(2.1)
    assert refresh(api, rotated["refresh_token"]).json()["code"] == "refresh_token_expired"


@pytest.mark.parametrize(
    ("token", "code"),
    [("", "invalid_request"), ("x" * 5000, "invalid_request")],
)
def test_malformed_refresh_request_is_400(api, token, code):
    response = refresh(api, token)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_missing_refresh_token_is_403(api):
    response = api.post("/api/auth/refresh", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "refresh_token_invalid"


def test_access_token_cannot_refresh(api, user):
    body = login(api)
    response = refresh(api, body["access_token"])
    assert response.status_code == 403
    assert response.json()["code"] == "refresh_token_invalid"


def test_settings_override_takes_effect_without_reload(api, user, settings):
    assert login(api)["expires_in"] == 3600
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5)}
    settings.TOKENS = {**settings.TOKENS, "SESSION_MAX_AGE": timedelta(seconds=30)}
    body = login(api)
    assert body["expires_in"] == 300
    assert body["refresh_expires_in"] <= 30


@pytest.mark.redis_store
def test_store_keeps_no_raw_tokens_and_everything_expires(api, user, redis_server):
    body = login(api)
    refresh(api, body["refresh_token"])
    keys = redis_server.keys("*")
    assert keys
    for key in keys:
        assert redis_server.ttl(key) > 0, key
        dump = str(redis_server.dump(key))
        assert body["refresh_token"].split(".")[2] not in dump
    user_keys = [k for k in keys if b"{u:" in k]
    assert user_keys == [f"tokens:{{u:{user.id}}}".encode()]


@pytest.mark.redis_store
def test_lost_session_key_logs_out_and_never_resurrects(api, user, redis_server):
    body = login(api)
    redis_server.delete(f"tokens:{{u:{user.id}}}")
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401
    assert refresh(api, body["refresh_token"]).json()["code"] == "session_revoked"


@pytest.mark.live
def test_sixteen_simultaneous_refreshes_on_three_workers_share_one_successor(
    gunicorn_server, make_user
):
    make_user("bob")
    url = gunicorn_server.url
    body = httpx.post(
        f"{url}/api/auth/login", json={"username": "bob", "password": PASSWORD}
    ).json()

    def one(_):
        return httpx.post(
            f"{url}/api/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=10
        )

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1
    # The session survived: the successor rotates on and its access token works.
    again = httpx.post(f"{url}/api/auth/refresh", json={"refresh_token": successors.pop()})
    assert again.status_code == 200
    info = httpx.get(
        f"{url}/api/user/info", headers={"Authorization": f"Bearer {again.json()['access_token']}"}
    )
    assert info.status_code == 200


# --- The grace window is bounded: TOKENS["ROTATION_MAX_REPLAYS"] -----------------------------


@pytest.mark.live
def test_replays_past_the_cap_are_reuse_and_end_the_session_with_real_threads(
    gunicorn_server, make_user
):
    """40 threads replay one rotated-away token at once: the default cap (32) get the successor."""
    make_user("carol")
    url = gunicorn_server.url
    body = httpx.post(
        f"{url}/api/auth/login", json={"username": "carol", "password": PASSWORD}
    ).json()
    successor = httpx.post(
        f"{url}/api/auth/refresh", json={"refresh_token": body["refresh_token"]}
    ).json()

    def replay(_):
        return httpx.post(
            f"{url}/api/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=30
        )

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(replay, range(40)))
    granted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(granted) == 32
    assert {r.json()["refresh_token"] for r in granted} == {successor["refresh_token"]}
    assert {r.status_code for r in refused} == {403}
    codes = [r.json()["code"] for r in refused]
    # The 33rd replay is reuse and ends the session; the ones after it find no session.
    assert codes.count("refresh_token_reused") == 1
    assert set(codes) <= {"refresh_token_reused", "session_revoked"}
    info = httpx.get(
        f"{url}/api/user/info", headers={"Authorization": f"Bearer {successor['access_token']}"}
    )
    assert (info.status_code, info.json()["code"]) == (401, "session_revoked")


def test_the_replay_cap_is_a_setting_read_live(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_MAX_REPLAYS": 2}
    body = login(api)
    successor = refresh(api, body["refresh_token"]).json()
    for _ in range(2):
        again = refresh(api, body["refresh_token"])
        assert again.json()["refresh_token"] == successor["refresh_token"]
    third = refresh(api, body["refresh_token"])
    assert (third.status_code, third.json()["code"]) == (403, "refresh_token_reused")
    # A new rotation starts a new count; the session is gone here, so log in again.
    body = login(api)
    successor = refresh(api, body["refresh_token"]).json()
    newer = refresh(api, successor["refresh_token"]).json()
    for _ in range(2):
        assert refresh(api, successor["refresh_token"]).status_code == 200
    assert refresh(api, newer["refresh_token"]).status_code == 200
