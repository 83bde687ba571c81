"""The caller's sessions: list them, end one, end them all."""

import time
from datetime import datetime

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, current_id, login, sessions_of
from tokens import services
from tokens.display import device_label, shorten_user_agent
from tokens.stores.redis import AGENT_MAX_BYTES

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


def moment(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def assert_ended(api, body):
    info = api.get("/api/user/info", **bearer(body["access_token"]))
    assert (info.status_code, info.json()["code"]) == (401, "session_revoked")
    refresh = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert (refresh.status_code, refresh.json()["code"]) == (403, "session_revoked")


def alive(api, body):
    return api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


# --- GET /api/auth/sessions ------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_each_live_session_newest_first_with_its_details(api, user):
    before = time.time()
    laptop = login(api, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.5")
    phone = login(api, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="2001:db8::1")
    desktop = login(api, HTTP_USER_AGENT=EDGE)

    sessions = sessions_of(api, phone)

    assert [set(s) for s in sessions] == [
        {"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "device", "current"}
    ] * 3
    assert [s["device"] for s in sessions] == [
        "Edge on Windows",
        "Safari on iOS",
        "Firefox on Linux",
    ]
    assert [s["current"] for s in sessions] == [False, True, False]
    assert [s["ip"] for s in sessions][1:] == ["2001:db8::1", "203.0.113.5"]
    assert sessions[2]["user_agent"] == FIREFOX
    assert len({s["id"] for s in sessions}) == 3
    created = [moment(s["created_at"]) for s in sessions]
    assert created == sorted(created, reverse=True)
    assert before - 1 <= created[-1] <= created[0] <= time.time() + 1
    for s in sessions:
        assert moment(s["last_used_at"]) == pytest.approx(moment(s["created_at"]), abs=1)
        assert moment(s["expires_at"]) == pytest.approx(moment(s["created_at"]) + 7 * 86400, abs=2)
    # Each session sees itself as the current one.
    assert current_id(api, laptop) == sessions[2]["id"]
    assert current_id(api, desktop) == sessions[0]["id"]


@pytest.mark.django_db
def test_a_refresh_moves_last_used_at_and_keeps_the_session_id(api, user):
    body = login(api)
    [before] = sessions_of(api, body)
    time.sleep(0.05)
    pair = api.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    ).json()

    [after] = sessions_of(api, pair)

    assert after["id"] == before["id"]
    assert after["current"]
    assert moment(after["last_used_at"]) > moment(before["last_used_at"])
    # Redis' Lua JSON keeps 14 significant digits: a tenth of a millisecond at most.
    assert moment(after["created_at"]) == pytest.approx(moment(before["created_at"]), abs=1e-3)


@pytest.mark.django_db
def test_list_shows_only_the_callers_sessions(api, make_user):
    make_user("alice")
    make_user("bob")
    alices = login(api, "alice")
    login(api, "bob")
    assert len(sessions_of(api, alices)) == 1


@pytest.mark.django_db
def test_unknown_user_agents_get_a_short_label(api, user):
    body = login(api, HTTP_USER_AGENT="curl/8.5.0")
    login(api, HTTP_USER_AGENT="")
    login(api, HTTP_USER_AGENT="MyApp/2.3 (build 7)")
    devices = [s["device"] for s in sessions_of(api, body)]
    assert devices == ["MyApp", "Unknown device", "curl"]


# Agents of today's browsers; the shortest keeps the platform and the last product token only
# when the middle goes (the Redis store keeps AGENT_MAX_BYTES of an agent).
BROWSER_AGENTS = [
    FIREFOX,
    IPHONE,
    EDGE,
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.135 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
]


@pytest.mark.parametrize("agent", BROWSER_AGENTS)
def test_a_shortened_agent_keeps_its_device_label(agent):
    shortened = shorten_user_agent(agent, AGENT_MAX_BYTES)
    assert len(shortened.encode()) <= AGENT_MAX_BYTES
    assert device_label(shortened) == device_label(agent)
    assert "…" in shortened or shortened == agent


@pytest.mark.parametrize(
    ("agent", "max_bytes", "shortened"),
    [
        ("curl/8.5.0", 10, "curl/8.5.0"),
        ("abcdefghij", 9, "abc…hij"),
        ("abcdefghij", 8, "abc…ij"),  # the start gets the odd byte
        ("abcdefghij", 4, "abcd"),  # no room for an ellipsis and both ends
        ("ÜÜÜÜÜ", 8, "Ü…Ü"),  # 3 bytes each side: a half character is dropped, not split
        ("€€€€€€", 12, "€…€"),
    ],
)
def test_an_agent_is_shortened_to_its_byte_limit_around_an_ellipsis(agent, max_bytes, shortened):
    assert shorten_user_agent(agent, max_bytes) == shortened
    assert len(shortened.encode()) <= max_bytes


def test_shortening_to_the_setting_then_to_the_redis_record_is_shortening_once():
    agent = EDGE.replace("(KHTML, like Gecko)", "(KHTML, like Gecko) " + "Ü€ " * 200)
    once = shorten_user_agent(agent, AGENT_MAX_BYTES)
    assert shorten_user_agent(shorten_user_agent(agent, 256), AGENT_MAX_BYTES) == once


@pytest.mark.django_db
def test_user_agent_max_length_shortens_a_recorded_agent_around_its_middle(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "USER_AGENT_MAX_LENGTH": 60}
    body = login(api, HTTP_USER_AGENT=EDGE)
    [session] = sessions_of(api, body)
    assert session["user_agent"] == "Mozilla/5.0 (Windows NT 10.0;… Safari/537.36 Edg/126.0.0.0"
    assert session["device"] == "Edge on Windows"


@pytest.mark.django_db
def test_list_needs_a_live_access_token(api, user):
    assert api.get("/api/auth/sessions").status_code == 401
    body = login(api)
    api.post("/api/auth/logout", **bearer(body["access_token"]))
    response = api.get("/api/auth/sessions", **bearer(body["access_token"]))
    assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
    refresh_as_bearer = api.get("/api/auth/sessions", **bearer(body["refresh_token"]))
    assert refresh_as_bearer.status_code == 401


# --- DELETE /api/auth/sessions/<id> ---------------------------------------------------------


@pytest.mark.django_db
def test_delete_ends_one_of_the_callers_other_sessions(api, user):
    current, other, third = login(api), login(api), login(api)

    response = api.delete(
        f"/api/auth/sessions/{current_id(api, other)}", **bearer(current["access_token"])
    )

    assert response.status_code == 204
    assert_ended(api, other)
    assert alive(api, current)
    assert alive(api, third)
    assert len(sessions_of(api, current)) == 2


@pytest.mark.django_db
def test_delete_of_the_current_session_logs_the_caller_out(api, user):
    body = login(api)
    response = api.delete(
        f"/api/auth/sessions/{current_id(api, body)}", **bearer(body["access_token"])
    )
    assert response.status_code == 204
    assert_ended(api, body)


@pytest.mark.django_db
def test_delete_of_another_users_session_is_404_and_it_stays_alive(api, make_user):
    make_user("alice")
    make_user("bob")
    alices, bobs = login(api, "alice"), login(api, "bob")

    response = api.delete(
        f"/api/auth/sessions/{current_id(api, bobs)}", **bearer(alices["access_token"])
    )

    assert response.status_code == 404
    assert response.json()["code"] == "session_not_found"
    assert alive(api, bobs)
    assert (
        api.post(
            "/api/auth/refresh", {"refresh_token": bobs["refresh_token"]}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.django_db
@pytest.mark.parametrize("session_id", ["nope", "a" * 16, "%20", "x:y"])
def test_delete_of_an_unknown_session_is_404(api, user, session_id):
    body = login(api)
    response = api.delete(f"/api/auth/sessions/{session_id}", **bearer(body["access_token"]))
    assert response.status_code == 404
    assert response.json()["code"] == "session_not_found"
    assert alive(api, body)


@pytest.mark.django_db
def test_delete_twice_is_404_the_second_time(api, user):
    current, other = login(api), login(api)
    url = f"/api/auth/sessions/{current_id(api, other)}"
    assert api.delete(url, **bearer(current["access_token"])).status_code == 204
    assert api.delete(url, **bearer(current["access_token"])).status_code == 404


@pytest.mark.django_db
def test_delete_needs_a_live_access_token(api, user):
    body = login(api)
    response = api.delete(f"/api/auth/sessions/{current_id(api, body)}")
    assert response.status_code == 401
    assert alive(api, body)


# --- POST /api/auth/logout-all ---------------------------------------------------------------


@pytest.mark.django_db
def test_logout_all_ends_every_session_of_the_caller_only(api, make_user):
    make_user("alice")
    make_user("bob")
    alices = [login(api, "alice") for _ in range(4)]
    bobs = login(api, "bob")

    response = api.post("/api/auth/logout-all", **bearer(alices[1]["access_token"]))

    assert response.status_code == 200
    assert response.json()["ended"] == 4
    assert response["Cache-Control"] == "no-store"
    for body in alices:
        assert_ended(api, body)
    assert alive(api, bobs)
    assert login(api, "alice")["access_token"]  # Logging in again works.


def redis_calls(redis_server):
    stats = redis_server.info("commandstats")
    return sum(s["calls"] for name, s in stats.items() if name != "cmdstat_info")


@pytest.mark.django_db
def test_logout_all_costs_the_same_whatever_the_number_of_sessions(api, user, redis_server):
    def cost_of_logout_all(sessions):
        bodies = [login(api) for _ in range(2)]
        for _ in range(sessions - 2):
            services.login(user)
        before = redis_calls(redis_server)
        response = api.post("/api/auth/logout-all", **bearer(bodies[0]["access_token"]))
        spent = redis_calls(redis_server) - before
        assert response.json()["ended"] == sessions
        assert services.list_sessions(user) == []
        return spent

    assert cost_of_logout_all(2) == cost_of_logout_all(500)


@pytest.mark.django_db
def test_logout_all_needs_a_live_access_token(api, user):
    body = login(api)
    assert api.post("/api/auth/logout-all").status_code == 401
    response = api.post("/api/auth/logout-all", **bearer(body["refresh_token"]))
    assert response.status_code == 401
    assert alive(api, body)


@pytest.mark.live
def test_logout_all_ends_access_tokens_on_every_worker_at_once(gunicorn_server, make_user):
    make_user("erin")
    url = gunicorn_server.url
    bodies = [
        httpx.post(f"{url}/api/auth/login", json={"username": "erin", "password": PASSWORD}).json()
        for _ in range(5)
    ]

    def info_statuses():
        # Several requests per token, so that every one of the 3 workers answers some.
        return {
            httpx.get(
                f"{url}/api/user/info", headers={"Authorization": f"Bearer {b['access_token']}"}
            ).status_code
            for b in bodies
            for _ in range(4)
        }

    assert info_statuses() == {200}
    response = httpx.post(
        f"{url}/api/auth/logout-all",
        headers={"Authorization": f"Bearer {bodies[0]['access_token']}"},
    )
    assert response.json()["ended"] == 5

    assert info_statuses() == {401}
    refreshes = {
        httpx.post(
            f"{url}/api/auth/refresh", json={"refresh_token": b["refresh_token"]}
        ).status_code
        for b in bodies
    }
    assert refreshes == {403}


@pytest.mark.django_db
def test_ended_sessions_leave_the_admin_count_at_once(api, user, make_user):
    make_user("bob")
    bodies = [login(api) for _ in range(3)]
    bob = login(api, "bob")
    assert services.count_live_sessions() == 4
    api.delete(
        f"/api/auth/sessions/{current_id(api, bodies[0])}", **bearer(bodies[1]["access_token"])
    )
    assert services.count_live_sessions() == 3
    api.post("/api/auth/logout-all", **bearer(bodies[1]["access_token"]))
    assert services.count_live_sessions() == 1
    assert [r.session_id for r in services.live_sessions_page(0, 10)] == [current_id(api, bob)]
