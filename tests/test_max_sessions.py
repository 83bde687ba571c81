"""TOKENS["MAX_SESSIONS_PER_USER"]: past the limit, a login ends the least recently used session."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login
from tokens import services


def access_status(api, body):
    response = api.get("/api/user/info", **bearer(body["access_token"]))
    return response.status_code, response.json().get("code")


def refresh(api, body):
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def assert_ended(api, body):
    assert access_status(api, body) == (401, "session_revoked")
    response = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "session_revoked"


def alive(api, body):
    return access_status(api, body)[0] == 200


@pytest.mark.django_db
def test_no_limit_by_default(api, user):
    sessions = [login(api) for _ in range(25)]
    assert all(alive(api, body) for body in sessions)
    assert len(services.list_sessions(user)) == 25


@pytest.mark.django_db
def test_past_the_limit_the_least_recently_used_session_ends(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "MAX_SESSIONS_PER_USER": 2}
    oldest = login(api)
    idle = login(api)
    # The oldest session refreshes, so the idle one is now the least recently used.
    oldest = refresh(api, oldest)

    newest = login(api)

    assert_ended(api, idle)
    assert alive(api, oldest)
    assert alive(api, newest)
    assert len(services.list_sessions(user)) == 2


@pytest.mark.django_db
def test_single_session_logging_in_elsewhere_signs_the_other_device_out(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "MAX_SESSIONS_PER_USER": 1}
    laptop = login(api, HTTP_USER_AGENT="laptop")
    phone = login(api, HTTP_USER_AGENT="phone")

    assert_ended(api, laptop)
    assert alive(api, phone)
    sessions = api.get("/api/auth/sessions", **bearer(phone["access_token"])).json()
    assert [(s["user_agent"], s["current"]) for s in sessions] == [("phone", True)]


@pytest.mark.django_db
def test_the_limit_is_per_user(api, make_user, settings):
    settings.TOKENS = {**settings.TOKENS, "MAX_SESSIONS_PER_USER": 1}
    make_user("alice")
    make_user("bob")
    alices = login(api, "alice")
    bobs = login(api, "bob")
    assert alive(api, alices)
    assert alive(api, bobs)


@pytest.mark.django_db
def test_a_lowered_limit_trims_at_the_next_login(api, user, settings):
    sessions = [login(api) for _ in range(4)]
    settings.TOKENS = {**settings.TOKENS, "MAX_SESSIONS_PER_USER": 2}
    assert all(alive(api, body) for body in sessions)  # Nothing ends before a login.

    newest = login(api)

    assert [alive(api, body) for body in sessions] == [False, False, False, True]
    assert alive(api, newest)


@pytest.mark.live
def test_concurrent_logins_on_a_multi_worker_server_leave_exactly_one_session(
    gunicorn_servers, transactional_db, make_user
):
    user = make_user("dana")
    server = gunicorn_servers(workers=3, TEST_MAX_SESSIONS="1")
    attempts = 24
    start = threading.Barrier(attempts)

    def log_in(_):
        with httpx.Client(base_url=server.url, timeout=20) as client:
            start.wait()
            return client.post("/api/auth/login", json={"username": "dana", "password": PASSWORD})

    with ThreadPoolExecutor(attempts) as pool:
        responses = list(pool.map(log_in, range(attempts)))

    assert [r.status_code for r in responses] == [200] * attempts
    live = services.list_sessions(user)
    assert len(live) == 1
    statuses = [
        httpx.get(
            f"{server.url}/api/user/info",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        for r in responses
    ]
    survivors = [s for s in statuses if s.status_code == 200]
    assert len(survivors) == 1
    assert all(s.json()["code"] == "session_revoked" for s in statuses if s.status_code != 200)
    # The survivor is the one session the store still holds, as the user sees it.
    token = responses[[s.status_code for s in statuses].index(200)].json()["access_token"]
    sessions = httpx.get(
        f"{server.url}/api/auth/sessions", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [(s["id"], s["current"]) for s in sessions] == [(live[0].session_id, True)]
