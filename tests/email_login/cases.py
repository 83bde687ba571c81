"""Login by email, on a site whose user model's USERNAME_FIELD is `email` (issue 16, item 3).

Run by tests/test_email_login.py in a process of its own, under the settings of the throwaway
site tests/wheel_site (UUID primary key, email as USERNAME_FIELD, no username field, the app at
`auth/v1/`), with this checkout's `tokens` and a Redis database of its own. Not collected by
the main suite (this file's name does not start with `test_`): a user model cannot be swapped
inside one process. The site also keeps DRF's own defaults (authentication, permissions, the
exception handler); the last section holds what they must not change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django_redis import get_redis_connection
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tokens.checks import check_refresh_cookie_path

EMAIL = "ada@example.com"
PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-new-and-long-passphrase"
V1 = "/auth/v1/auth"


@pytest.fixture(autouse=True)
def empty_redis() -> None:
    get_redis_connection("default").flushdb()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def ada(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user(EMAIL, PASSWORD)


@pytest.fixture
def rates(settings: Any) -> Any:
    def set_rates(username: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "tokens_login_address": "1000/day",
                "tokens_login_username": username,
            },
        }

    return set_rates


def login(api: APIClient, **body: Any) -> Any:
    return api.post(f"{V1}/login", body, format="json")


def me(api: APIClient, response: Any) -> Any:
    return api.get("/me", HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")


def password_grant(api: APIClient, username: str, password: str = PASSWORD) -> Any:
    """Send an RFC 6749 password grant, form-encoded as OAuth 2.0 clients send it."""
    form = urlencode({"grant_type": "password", "username": username, "password": password})
    return api.post(f"{V1}/token", form, content_type="application/x-www-form-urlencoded")


def test_login_takes_the_email_under_its_own_name(api: APIClient, ada: AbstractBaseUser) -> None:
    response = login(api, email=EMAIL, password=PASSWORD)
    assert response.status_code == 200, response.content
    assert me(api, response).json() == {"id": str(ada.pk), "email": EMAIL}


def test_login_still_takes_it_as_username(api: APIClient, ada: AbstractBaseUser) -> None:
    response = login(api, username=EMAIL, password=PASSWORD)
    assert response.status_code == 200, response.content
    assert me(api, response).json()["email"] == EMAIL


def test_both_names_may_be_sent_when_they_agree(api: APIClient, ada: AbstractBaseUser) -> None:
    assert login(api, email=EMAIL, username=EMAIL, password=PASSWORD).status_code == 200


def test_two_different_names_are_refused_without_checking_the_password(
    api: APIClient, ada: AbstractBaseUser
) -> None:
    response = login(api, email=EMAIL, username="bob@example.com", password=PASSWORD)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"] == {"email": ["Give email or username, not two different names."]}


def test_a_login_without_a_name_asks_for_the_email(api: APIClient, ada: AbstractBaseUser) -> None:
    response = login(api, password=PASSWORD)
    assert response.status_code == 400
    assert response.json()["errors"] == {"email": ["This field is required."]}


def test_the_email_is_trimmed_like_a_username_and_a_wrong_password_refused(
    api: APIClient, ada: AbstractBaseUser
) -> None:
    assert login(api, email=f"  {EMAIL} ", password=PASSWORD).status_code == 200
    wrong = login(api, email=EMAIL, password="wrong")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_credentials")


def test_an_email_as_long_as_the_field_allows_logs_in(api: APIClient, db: None) -> None:
    # EmailField holds 254 characters; a login name was cut at 150 before.
    long_email = f"{'a' * 200}@example.com"
    get_user_model().objects.create_user(long_email, PASSWORD)
    assert login(api, email=long_email, password=PASSWORD).status_code == 200
    too_long = login(api, email=f"{'a' * 250}@example.com", password=PASSWORD)
    assert too_long.status_code == 400


def test_the_password_grant_maps_its_username_to_the_email(
    api: APIClient, ada: AbstractBaseUser
) -> None:
    response = password_grant(api, EMAIL)
    assert response.status_code == 200, response.content
    assert me(api, response).json()["email"] == EMAIL
    wrong = password_grant(api, EMAIL, "wrong")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")


def test_every_name_and_endpoint_draws_on_one_budget_per_user(
    api: APIClient, ada: AbstractBaseUser, rates: Any
) -> None:
    rates("3/day")
    assert login(api, email=EMAIL, password="wrong").status_code == 400
    assert login(api, username=EMAIL.upper(), password="wrong").status_code == 400
    assert password_grant(api, f" {EMAIL}", "wrong").status_code == 400
    # Spent, whichever name the right password comes under.
    for response in (
        login(api, email=EMAIL, password=PASSWORD),
        login(api, username=EMAIL, password=PASSWORD),
        password_grant(api, EMAIL),
    ):
        assert response.status_code == 429, response.content


def test_another_name_beside_the_email_buys_no_uncounted_attempt(
    api: APIClient, ada: AbstractBaseUser, rates: Any
) -> None:
    rates("1/day")
    assert login(api, email=EMAIL, password="wrong").status_code == 400
    # The budget counts the email; a username that differs is refused before any check.
    for other in ("mallory@example.com", "x"):
        sneaky = login(api, email=EMAIL, username=other, password=PASSWORD)
        assert sneaky.status_code in (400, 429)
        swapped = login(api, email=other, username=EMAIL, password=PASSWORD)
        assert swapped.status_code == 400
        assert "access_token" not in swapped.json()


def test_the_schema_says_the_email_may_be_sent_under_its_own_name() -> None:
    schema: Any = SchemaGenerator().get_schema(request=None, public=True)
    login_request = schema["components"]["schemas"]["Login"]
    assert {"email", "username", "password"} <= set(login_request["properties"])
    assert login_request["required"] == ["password"]
    assert login_request["properties"]["email"] == {
        "type": "string",
        "description": "The user's email. It may be sent as username instead.",
        "maxLength": 254,
    }
    grant = schema["components"]["schemas"]["OAuthTokenRequest"]
    assert (
        grant["properties"]["username"]["description"]
        == "The user's email, under the name username."
    )


def test_the_password_change_at_auth_v1_keeps_this_session_only(
    api: APIClient, ada: AbstractBaseUser
) -> None:
    other, current = (
        login(api, email=EMAIL, password=PASSWORD),
        login(api, username=EMAIL, password=PASSWORD),
    )
    response = api.post(
        f"{V1}/password",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {current.json()['access_token']}",
    )
    assert response.status_code == 200, response.content
    assert me(api, current).status_code == 200
    assert (me(api, other).status_code, me(api, other).json()["code"]) == (401, "session_revoked")
    assert login(api, email=EMAIL, password=NEW_PASSWORD).status_code == 200


def test_the_cookie_path_is_the_mount_point_and_a_stale_setting_is_warned_about(
    api: APIClient, ada: AbstractBaseUser, settings: Any
) -> None:
    response = login(api, email=EMAIL, password=PASSWORD, use_cookie=True)
    assert response.cookies["refresh_token"]["path"] == "/auth/v1/auth/"
    settings.TOKENS = {**settings.TOKENS, "REFRESH_COOKIE_PATH": "/api/auth/"}
    assert [m.id for m in check_refresh_cookie_path()] == ["tokens.W020"]


# --- The site keeps DRF's own exception handler: the app's endpoints still answer as the app --


def test_a_store_outage_answers_503_store_unavailable_whatever_the_sites_handler(
    api: APIClient, ada: AbstractBaseUser, settings: Any
) -> None:
    body = login(api, email=EMAIL, password=PASSWORD).json()
    # The store's Redis stops answering: a port nothing listens on.
    closed = {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    settings.CACHES = {**settings.CACHES, "default": closed}
    response = api.post(f"{V1}/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert response["Retry-After"] == "1"


def test_json_nested_too_deep_is_a_400_whatever_the_sites_parsers(api: APIClient) -> None:
    body = "[" * 30_000 + "]" * 30_000
    for endpoint in ("login", "refresh", "logout", "token", "revoke"):
        response = api.generic("POST", f"{V1}/{endpoint}", body, content_type="application/json")
        assert response.status_code == 400, (endpoint, response.content)
        assert response.json()["code"] == "invalid_json", endpoint


def test_errors_are_json_even_for_a_browser_that_asks_for_html(api: APIClient) -> None:
    # DRF's default renderers include the browsable API; the app's endpoints answer JSON.
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Chromium's
    response = api.get(f"{V1}/sessions", HTTP_ACCEPT=accept)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"
    # A client that accepts HTML only is told, in JSON, that JSON is all there is.
    html_only = api.get(f"{V1}/sessions", HTTP_ACCEPT="text/html")
    assert html_only.status_code == 406
    assert html_only.json()["code"] == "not_acceptable"
