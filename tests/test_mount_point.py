"""The app mounted somewhere else than `api/`: the refresh cookie's path follows it (issue 16, 2).

By default the cookie's path is where the site mounted the app's refresh and logout views;
`TOKENS["REFRESH_COOKIE_PATH"]` still overrides it, and the system check tokens.W020 warns when
a configured path does not cover them. The live test drives a real gunicorn with a cookie jar
that applies a browser's path rules (tests/browser_cookies.py), so a cookie of the wrong path is
really not sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.urls import set_script_prefix
from rest_framework.test import APIClient

from tests.browser_cookies import BrowserCookieClient
from tests.conftest import PASSWORD, bearer
from tokens.checks import check_refresh_cookie_path, cookie_path_covers

V1 = "/auth/v1/auth"


@pytest.fixture
def mounted_at_v1(settings: Any) -> None:
    """Serve the site of tests/urls_v1.py: the app at auth/v1/ and at legacy/."""
    settings.ROOT_URLCONF = "tests.urls_v1"


@pytest.fixture
def browser() -> APIClient:
    # enforce_csrf_checks makes the test client behave like a browser page, not a trusted test.
    return APIClient(enforce_csrf_checks=True)


def cookie_login(client: APIClient, base: str = V1) -> Any:
    response = client.post(
        f"{base}/login",
        {"username": "alice", "password": PASSWORD, "use_cookie": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response


# --- The default path follows the mount point ---------------------------------------------


@pytest.mark.django_db
def test_the_cookie_path_is_where_the_app_is_mounted(browser, user, mounted_at_v1):
    response = cookie_login(browser)
    assert response.cookies["refresh_token"]["path"] == "/auth/v1/auth/"


@pytest.mark.django_db
def test_mounted_at_api_the_cookie_path_stays_what_it_was(browser, user):
    assert cookie_login(browser, "/api/auth").cookies["refresh_token"]["path"] == "/api/auth/"


@pytest.mark.django_db
def test_each_mount_of_the_app_gives_its_own_cookie_path(browser, user, mounted_at_v1):
    legacy = cookie_login(browser, "/legacy/auth")
    assert legacy.cookies["refresh_token"]["path"] == "/legacy/auth/"


@pytest.mark.django_db
def test_cookie_refresh_and_logout_work_under_the_mount_and_keep_its_path(
    browser, user, mounted_at_v1
):
    first = cookie_login(browser).cookies["refresh_token"].value
    csrf = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}
    refreshed = browser.post(f"{V1}/refresh", {}, format="json", **csrf)
    assert refreshed.status_code == 200, refreshed.content
    cookie = refreshed.cookies["refresh_token"]
    assert (cookie["path"], cookie.value != first) == ("/auth/v1/auth/", True)
    access = refreshed.json()["access_token"]
    assert browser.get("/api/user/info", **bearer(access)).status_code == 200

    logout = browser.post(f"{V1}/logout", {}, format="json", **csrf)
    assert logout.status_code == 200
    # The deletion names the same path, or the browser would keep the cookie.
    assert (logout.cookies["refresh_token"].value, logout.cookies["refresh_token"]["path"]) == (
        "",
        "/auth/v1/auth/",
    )
    assert browser.get("/api/user/info", **bearer(access)).status_code == 401


@pytest.mark.django_db
def test_the_setting_still_overrides_the_mount_point(browser, user, mounted_at_v1, settings):
    settings.TOKENS = {**settings.TOKENS, "REFRESH_COOKIE_PATH": "/auth/"}
    assert cookie_login(browser).cookies["refresh_token"]["path"] == "/auth/"


@pytest.mark.django_db
def test_the_cookie_path_includes_the_script_prefix(browser, user):
    # A site served under a sub-path: Django's WSGI handler sets the script prefix from
    # SCRIPT_NAME (or FORCE_SCRIPT_NAME) for each request, as done here by hand (the test client
    # does not). The browser sees the prefix, so the cookie's path must carry it.
    set_script_prefix("/shop/")
    try:
        response = cookie_login(browser, "/api/auth")
    finally:
        set_script_prefix("/")
    assert response.cookies["refresh_token"]["path"] == "/shop/api/auth/"


# --- tokens.W020: a configured path that does not cover the refresh view -----------------


def warnings_about_the_cookie_path() -> list[str]:
    return [m.id for m in check_refresh_cookie_path() if m.id]


@pytest.mark.parametrize(
    ("path", "warned"),
    [
        (None, False),  # the default follows the mount point
        ("/", False),
        ("/api/", False),
        ("/api/auth", False),
        ("/api/auth/", False),
        ("/api/auth/refresh", True),  # refresh is covered, logout is not
        ("/api/au", True),  # a prefix of the text, not of the path
        ("/auth/v1/auth/", True),
    ],
)
def test_a_configured_cookie_path_that_misses_the_refresh_view_is_warned_about(
    settings, path, warned
):
    settings.TOKENS = {**settings.TOKENS, "REFRESH_COOKIE_PATH": path}
    assert warnings_about_the_cookie_path() == (["tokens.W020"] if warned else [])


def test_the_check_follows_the_mount_point_and_runs_with_the_url_checks(settings, mounted_at_v1):
    settings.TOKENS = {**settings.TOKENS, "REFRESH_COOKIE_PATH": "/api/auth/"}
    [warning] = [m for m in run_checks(tags=["urls"]) if m.id == "tokens.W020"]
    assert "/auth/v1/auth/refresh" in warning.msg
    assert "Remove the setting" in (warning.hint or "")
    settings.TOKENS = {**settings.TOKENS, "REFRESH_COOKIE_PATH": "/auth/v1/"}
    assert warnings_about_the_cookie_path() == []


@pytest.mark.parametrize(
    ("cookie_path", "url", "sent"),
    [
        ("/api/auth/", "/api/auth/refresh", True),
        ("/api/auth", "/api/auth/refresh", True),
        ("/api/auth", "/api/auth", True),
        ("/api/auth", "/api/authx/refresh", False),
        ("/api/auth/", "/api/auth", False),
        ("/", "/anything", True),
    ],
)
def test_cookie_path_matching_is_the_browsers(cookie_path, url, sent):
    assert cookie_path_covers(cookie_path, url) is sent


# --- Through a real server and a cookie jar with a browser's path rules ------------------


@pytest.mark.live
def test_cookie_refresh_works_at_auth_v1_through_a_real_server(
    gunicorn_servers, transactional_db, make_user
):
    make_user("carol")
    server = gunicorn_servers(workers=1, TEST_URLCONF="tests.urls_v1")
    with BrowserCookieClient(server.url) as client:
        login = client.post(
            f"{V1}/login", json={"username": "carol", "password": PASSWORD, "use_cookie": True}
        )
        assert login.status_code == 200, login.text
        assert "Path=/auth/v1/auth/" in login.headers["set-cookie"]
        csrf = {"X-CSRFToken": client.cookie("csrftoken") or ""}
        for _ in range(2):  # the rotated cookie is sent back too
            refreshed = client.post(f"{V1}/refresh", json={}, headers=csrf)
            assert refreshed.status_code == 200, refreshed.text
        # The jar really applies the path: a mount the cookie does not cover gets none.
        elsewhere = client.post("/legacy/auth/refresh", json={}, headers=csrf)
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "refresh_token_invalid")
        me = client.get("/api/user/info", headers=bearer_header(refreshed.json()))
        assert me.json()["username"] == "carol"


def bearer_header(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}
