"""The HTTP contract of login, authenticated calls, logout and the error shape."""

import json

import pytest

from tests.conftest import PASSWORD, bearer, login

pytestmark = pytest.mark.django_db


def test_login_returns_rfc6749_pair_that_is_not_cached(api, user):
    response = api.post(
        "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "token_type",
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] in (7 * 86400, 7 * 86400 - 1)
    assert response["Cache-Control"] == "no-store"


def test_access_token_reaches_user_info(api, user):
    body = login(api)
    response = api.get("/api/user/info", **bearer(body["access_token"]))
    assert response.status_code == 200
    assert response.json() == {
        "id": user.id,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "",
        "last_name": "",
    }


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong-password"), ("nobody", PASSWORD)]
)
def test_wrong_credentials_are_400_invalid_credentials(api, user, username, password):
    response = api.post(
        "/api/auth/login", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_inactive_user_cannot_log_in(api, make_user):
    make_user("carol", is_active=False)
    response = api.post(
        "/api/auth/login", {"username": "carol", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_missing_token_is_401_not_authenticated_with_bearer_challenge(api):
    response = api.get("/api/user/info")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer a.b.c", "Bearer two parts"])
def test_invalid_token_is_401_with_invalid_token_error(api, header):
    response = api.get("/api/user/info", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_invalid"
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_refresh_token_is_not_an_access_token(api, user):
    body = login(api)
    response = api.get("/api/user/info", **bearer(body["refresh_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_invalid"


def test_logout_with_bearer_ends_session_and_its_access_tokens(api, user):
    body = login(api)
    assert api.post("/api/auth/logout", **bearer(body["access_token"])).status_code == 200
    after = api.get("/api/user/info", **bearer(body["access_token"]))
    assert after.status_code == 401
    assert after.json()["code"] == "session_revoked"
    refresh = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert refresh.status_code == 403
    assert refresh.json()["code"] == "session_revoked"


def test_logout_with_refresh_token_in_body_needs_no_access_token(api, user):
    body = login(api)
    response = api.post("/api/auth/logout", {"refresh_token": body["refresh_token"]}, format="json")
    assert response.status_code == 200
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401


def test_logout_ends_only_its_own_session(api, user):
    first, second = login(api), login(api)
    api.post("/api/auth/logout", **bearer(first["access_token"]))
    assert api.get("/api/user/info", **bearer(second["access_token"])).status_code == 200


def test_logout_without_credentials_is_401(api):
    response = api.post("/api/auth/logout", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_logout_with_forged_refresh_token_is_403(api):
    response = api.post("/api/auth/logout", {"refresh_token": "x.y.z"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "refresh_token_invalid"


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ('{"username": "alice", ', "application/json", "invalid_json"),
        ("username=alice", "text/plain", "unsupported_media_type"),
        ("[1, 2]", "application/json", "invalid_request"),
        ('{"username": {"a": 1}, "password": "x"}', "application/json", "invalid_request"),
        ('{"username": "alice"}', "application/json", "invalid_request"),
        (
            json.dumps({"username": "a" * 151, "password": "x"}),
            "application/json",
            "invalid_request",
        ),
        ('{"username": "al\\u0000ice", "password": "x"}', "application/json", "invalid_request"),
    ],
)
def test_bad_input_is_400_json_with_a_code(api, user, body, content_type, code):
    response = api.generic("POST", "/api/auth/login", body, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["detail"]


def test_every_error_body_has_code_and_detail(api):
    responses = [
        api.get("/api/user/info"),
        api.post("/api/auth/refresh", {"refresh_token": "nope"}, format="json"),
        api.get("/api/auth/login"),
    ]
    for response in responses:
        assert set(response.json()) >= {"code", "detail"}, response.json()
    assert responses[2].status_code == 405
    assert responses[2].json()["code"] == "method_not_allowed"


def test_unknown_api_url_is_json_404(api, settings):
    settings.DEBUG = False
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_login_sends_user_logged_in_and_updates_last_login(api, user):
    assert user.last_login is None
    login(api)
    user.refresh_from_db()
    assert user.last_login is not None


def test_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/token",
        "/api/auth/revoke",
        "/api/auth/logout",
        "/api/user/info",
    ):
        assert path in paths
    assert schema.json()["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
