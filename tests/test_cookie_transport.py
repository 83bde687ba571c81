"""The refresh token in an HttpOnly cookie, guarded by Django's CSRF check."""

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    # enforce_csrf_checks makes the test client behave like a browser page, not a trusted test.
    return APIClient(enforce_csrf_checks=True)


def cookie_login(client):
    response = client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD, "use_cookie": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response


def test_cookie_login_sets_httponly_cookie_and_leaves_token_out_of_body(browser, user, settings):
    settings.DEBUG = False
    response = cookie_login(browser)
    assert "refresh_token" not in response.json()
    assert response.json()["access_token"]
    cookie = response.cookies["refresh_token"]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/api/auth/"
    assert response.cookies["csrftoken"].value


def test_cookie_is_not_secure_over_plain_http_under_debug(browser, user, settings):
    settings.DEBUG = True
    assert cookie_login(browser).cookies["refresh_token"]["secure"] == ""


def test_cookie_settings_are_honoured(browser, user, settings):
    settings.TOKENS = {
        **settings.TOKENS,
        "REFRESH_COOKIE_NAME": "rt",
        "REFRESH_COOKIE_PATH": "/api/",
        "REFRESH_COOKIE_SAMESITE": "Strict",
        "REFRESH_COOKIE_SECURE": False,
        "REFRESH_COOKIE_DOMAIN": "example.com",
    }
    cookie = cookie_login(browser).cookies["rt"]
    assert (cookie["path"], cookie["samesite"], cookie["secure"], cookie["domain"]) == (
        "/api/",
        "Strict",
        "",
        "example.com",
    )


def test_refresh_from_cookie_requires_csrf_header(browser, user):
    cookie_login(browser)
    response = browser.post("/api/auth/refresh", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_refresh_from_cookie_with_csrf_rotates_the_cookie(browser, user):
    first = cookie_login(browser).cookies["refresh_token"].value
    csrf = browser.cookies["csrftoken"].value
    response = browser.post("/api/auth/refresh", {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    rotated = response.cookies["refresh_token"].value
    assert rotated and rotated != first
    assert (
        browser.get("/api/user/info", **bearer(response.json()["access_token"])).status_code == 200
    )


def test_refresh_without_body_or_cookie_is_403(browser):
    response = browser.post("/api/auth/refresh", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "refresh_token_invalid"


def test_logout_from_cookie_requires_csrf_and_deletes_cookie(browser, user):
    access = cookie_login(browser).json()["access_token"]
    csrf = browser.cookies["csrftoken"].value
    refused = browser.post("/api/auth/logout", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    response = browser.post("/api/auth/logout", {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert response.cookies["refresh_token"].value == ""
    assert response.cookies["refresh_token"]["max-age"] == 0
    assert browser.get("/api/user/info", **bearer(access)).status_code == 401


def test_body_token_needs_no_csrf(browser, user):
    body = browser.post(
        "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    response = browser.post(
        "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
