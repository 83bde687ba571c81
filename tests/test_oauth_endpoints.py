"""RFC 6749 token endpoint and RFC 7009 revocation, as generic OAuth 2.0 clients use them."""

import pytest
from django.contrib.auth.backends import ModelBackend

from tests.conftest import PASSWORD, bearer, login
from tokens import services

pytestmark = pytest.mark.django_db


def json_token(api, data):
    return api.post("/api/auth/token", data, format="json")


def form(api, data):
    from urllib.parse import urlencode

    return api.generic(
        "POST", "/api/auth/token", urlencode(data), content_type="application/x-www-form-urlencoded"
    )


def test_password_grant_with_form_body(api, user):
    response = form(
        api,
        {
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": "x",
            "scope": "read",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert response["Cache-Control"] == "no-store"
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200


def test_refresh_token_grant_with_json_body(api, user):
    first = login(api)
    response = json_token(
        api, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] != first["refresh_token"]


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (
            {"grant_type": "password", "username": "alice", "password": "nope"},
            "invalid_grant",
            "invalid_credentials",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "a.b.c"},
            "invalid_grant",
            "refresh_token_invalid",
        ),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "unsupported_grant_type"),
        ({"grant_type": "password", "username": "alice"}, "invalid_request", "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request", "invalid_request"),
        ({}, "invalid_request", "invalid_request"),
    ],
)
def test_errors_are_400_with_rfc_error_and_our_code(api, user, data, error, code):
    response = form(api, data)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error
    assert body["code"] == code
    assert body["detail"]


def test_reused_refresh_token_is_invalid_grant(api, user, settings):
    from datetime import timedelta

    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    first = login(api)
    form(api, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    again = form(api, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["code"] == "refresh_token_reused"


class EndsSessionsWhileChecking(ModelBackend):
    """Check the password, then end the user's sessions: what a password change or "log out
    everywhere" landing while a login checks the password does."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            services.logout_everywhere(user)
        return user


@pytest.mark.parametrize("send", [form, json_token])
def test_a_login_interrupted_in_flight_is_409_with_an_rfc_error(api, user, settings, send):
    settings.AUTHENTICATION_BACKENDS = ["tests.test_oauth_endpoints.EndsSessionsWhileChecking"]
    response = send(api, {"grant_type": "password", "username": "alice", "password": PASSWORD})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "login_interrupted"
    # Like the endpoint's other errors (RFC 6749 §5.2): the credentials it checked may no
    # longer hold, so the grant is invalid; a generic OAuth client logs in again.
    assert body["error"] == "invalid_grant"
    assert body["error_description"] == body["detail"]
    assert services.list_sessions(user) == []


def test_malformed_json_on_token_endpoint_still_names_an_rfc_error(api):
    response = api.generic("POST", "/api/auth/token", "{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["code"] == "invalid_json"


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_ends_the_session(api, user, which):
    body = login(api)
    response = api.post(
        "/api/auth/revoke", {"token": body[which], "token_type_hint": which}, format="json"
    )
    assert response.status_code == 200
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401
    refresh = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert refresh.json()["code"] == "session_revoked"


def test_revoke_with_wrong_hint_still_works(api, user):
    body = login(api)
    api.post(
        "/api/auth/revoke",
        {"token": body["access_token"], "token_type_hint": "refresh_token"},
        format="json",
    )
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 401


@pytest.mark.parametrize("value", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_revoke_answers_200_for_unknown_or_invalid_tokens(api, value):
    response = api.post("/api/auth/revoke", {"token": value}, format="json")
    assert response.status_code == 200


def test_revoke_accepts_form_bodies_and_needs_a_token(api):
    from urllib.parse import urlencode

    ok = api.generic(
        "POST",
        "/api/auth/revoke",
        urlencode({"token": "x"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert ok.status_code == 200
    missing = api.post("/api/auth/revoke", {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_request"
