"""simplejwt settings: those the app honours take effect; those it ignores are warned about."""

from typing import Any

import pytest

from tests.conftest import PASSWORD, bearer, login
from tokens.checks import check_simplejwt_settings

pytestmark = pytest.mark.django_db


def simple_jwt(settings: Any, **keys: Any) -> None:
    """Override SIMPLE_JWT keys (simplejwt reloads its settings on the change)."""
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **keys}


def test_auth_header_types_jwt_accepts_jwt_and_no_longer_bearer(api, user, settings):
    body = login(api)
    simple_jwt(settings, AUTH_HEADER_TYPES=("JWT",))
    ok = api.get("/api/auth/sessions", HTTP_AUTHORIZATION=f"JWT {body['access_token']}")
    assert ok.status_code == 200
    refused = api.get("/api/auth/sessions", **bearer(body["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    assert refused["WWW-Authenticate"].startswith('JWT realm="api"')


def test_auth_header_types_may_list_several_schemes_or_be_one_string(api, user, settings):
    body = login(api)
    simple_jwt(settings, AUTH_HEADER_TYPES=("Bearer", "JWT"))
    for scheme in ("Bearer", "JWT"):
        response = api.get(
            "/api/auth/sessions", HTTP_AUTHORIZATION=f"{scheme} {body['access_token']}"
        )
        assert response.status_code == 200, scheme
    simple_jwt(settings, AUTH_HEADER_TYPES="Token")
    response = api.get("/api/auth/sessions", HTTP_AUTHORIZATION=f"Token {body['access_token']}")
    assert response.status_code == 200


def test_a_revoked_token_under_another_scheme_is_still_refused(api, user, settings):
    simple_jwt(settings, AUTH_HEADER_TYPES=("JWT",))
    body = login(api)
    header = {"HTTP_AUTHORIZATION": f"JWT {body['access_token']}"}
    assert api.post("/api/auth/logout", **header).status_code == 200
    response = api.get("/api/auth/sessions", **header)
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert response["WWW-Authenticate"] == 'JWT realm="api", error="invalid_token"'


def test_auth_header_name_reads_another_header(api, user, settings):
    body = login(api)
    simple_jwt(settings, AUTH_HEADER_NAME="HTTP_X_ACCESS_TOKEN")
    response = api.get("/api/auth/sessions", HTTP_X_ACCESS_TOKEN=f"Bearer {body['access_token']}")
    assert response.status_code == 200
    assert api.get("/api/auth/sessions", **bearer(body["access_token"])).status_code == 401


def test_header_with_three_parts_is_an_invalid_access_token(api, user):
    body = login(api)
    response = api.get(
        "/api/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {body['access_token']} extra"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "access_token_invalid"


def test_defaults_raise_no_simplejwt_warning(settings):
    assert check_simplejwt_settings() == []
    # Setting a key to the value the app already behaves by is not a warning either.
    simple_jwt(
        settings,
        CHECK_USER_IS_ACTIVE=True,
        UPDATE_LAST_LOGIN=True,
        AUTH_TOKEN_CLASSES=["rest_framework_simplejwt.tokens.AccessToken"],
        TOKEN_USER_CLASS="rest_framework_simplejwt.models.TokenUser",
    )
    assert check_simplejwt_settings() == []


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("CHECK_USER_IS_ACTIVE", False, "tokens.W010"),
        ("AUTH_TOKEN_CLASSES", ("rest_framework_simplejwt.tokens.SlidingToken",), "tokens.W011"),
        ("TOKEN_USER_CLASS", "myapp.models.MyTokenUser", "tokens.W012"),
        ("UPDATE_LAST_LOGIN", False, "tokens.W013"),
    ],
)
def test_a_key_the_app_ignores_is_warned_about_with_a_hint(settings, key, value, check_id):
    simple_jwt(settings, **{key: value})
    [warning] = check_simplejwt_settings()
    assert warning.id == check_id
    assert key in warning.msg
    assert "docs/settings.md" in (warning.hint or "")


def test_check_user_is_active_false_still_refuses_an_inactive_users_token(api, user, settings):
    # What tokens.W010 tells the site: the app fails safe.
    simple_jwt(settings, CHECK_USER_IS_ACTIVE=False)
    body = login(api)
    user.is_active = False
    user.save()
    response = api.get("/api/auth/sessions", **bearer(body["access_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"


def test_login_updates_last_login_as_update_last_login_true_asks(api, user, settings):
    simple_jwt(settings, UPDATE_LAST_LOGIN=True)
    assert user.last_login is None
    api.post("/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    user.refresh_from_db()
    assert user.last_login is not None
