"""A password change by any path, a deactivation or a deletion ends the user's sessions at once."""

import getpass
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import PASSWORD, bearer, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-and-long-passphrase"


def access_status(api, body):
    response = api.get("/api/user/info", **bearer(body["access_token"]))
    return response.status_code, response.json().get("code")


def refresh(api, body):
    return api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")


def assert_ended(api, body):
    assert access_status(api, body) == (401, "session_revoked")
    response = refresh(api, body)
    assert response.status_code == 403
    assert response.json()["code"] == "session_revoked"


def assert_alive(api, body):
    assert access_status(api, body)[0] == 200
    assert refresh(api, body).status_code == 200


def can_log_in(api, password):
    response = api.post(
        "/api/auth/login", {"username": "alice", "password": password}, format="json"
    )
    return response.status_code == 200


@pytest.fixture(params=["/api/auth/password", "/api/user/password"], ids=["app", "demo"])
def password_url(request):
    """The app's password endpoint, and the demo's older address for the same view."""
    return request.param


def change_via_api(api, body, old=PASSWORD, new=NEW_PASSWORD, url="/api/auth/password"):
    return api.post(
        url,
        {"old_password": old, "new_password": new},
        format="json",
        **bearer(body["access_token"]),
    )


# --- POST /api/auth/password (and the demo's /api/user/password) -----------------------------


def test_api_password_change_ends_every_other_session_and_keeps_this_one(api, user, password_url):
    others = [login(api) for _ in range(3)]
    current = login(api)

    response = change_via_api(api, current, url=password_url)

    assert response.status_code == 200
    for body in others:
        assert_ended(api, body)
    assert_alive(api, current)
    assert not can_log_in(api, PASSWORD)
    assert can_log_in(api, NEW_PASSWORD)


def test_api_password_change_with_a_wrong_old_password_is_400_and_changes_nothing(
    api, user, password_url
):
    other, current = login(api), login(api)

    response = change_via_api(api, current, old="not-my-password", url=password_url)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "old_password" in response.json()["errors"]
    assert_alive(api, other)
    assert can_log_in(api, PASSWORD)


@pytest.mark.parametrize("weak", ["short", "12345678901", "password123", "alice-example-com"])
def test_api_password_change_runs_djangos_password_validators(api, user, password_url, weak):
    other, current = login(api), login(api)

    response = change_via_api(api, current, new=weak, url=password_url)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "new_password" in response.json()["errors"]
    assert_alive(api, other)
    assert can_log_in(api, PASSWORD)


def test_api_password_change_needs_both_fields(api, user, password_url):
    current = login(api)
    response = api.post(
        password_url,
        {"new_password": NEW_PASSWORD},
        format="json",
        **bearer(current["access_token"]),
    )
    assert response.status_code == 400
    assert "old_password" in response.json()["errors"]


def test_api_password_change_needs_a_live_bearer_token(api, user, password_url):
    assert api.post(password_url, {}, format="json").status_code == 401
    body = login(api)
    api.post("/api/auth/logout", **bearer(body["access_token"]))
    response = change_via_api(api, body, url=password_url)
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert can_log_in(api, PASSWORD)


# --- Every other path ends every session -----------------------------------------------------


def test_set_password_and_save_ends_every_session(api, user):
    sessions = [login(api) for _ in range(2)]

    user.set_password(NEW_PASSWORD)
    user.save()

    for body in sessions:
        assert_ended(api, body)
    assert can_log_in(api, NEW_PASSWORD)


def test_admin_password_form_ends_every_session(api, admin_client, user):
    sessions = [login(api) for _ in range(2)]

    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    for body in sessions:
        assert_ended(api, body)
    assert can_log_in(api, NEW_PASSWORD)


def test_changepassword_command_ends_every_session(api, user, monkeypatch):
    sessions = [login(api) for _ in range(2)]
    # The command reads the new password twice from the terminal.
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": NEW_PASSWORD)

    out = StringIO()
    call_command("changepassword", "alice", stdout=out)

    assert "Password changed successfully" in out.getvalue()

    for body in sessions:
        assert_ended(api, body)
    assert can_log_in(api, NEW_PASSWORD)


def test_set_unusable_password_and_save_ends_every_session(api, user):
    sessions = [login(api) for _ in range(2)]

    user.set_unusable_password()
    user.save()

    for body in sessions:
        assert_ended(api, body)
    assert not can_log_in(api, PASSWORD)


def test_disabling_password_login_in_the_admin_ends_every_session(api, admin_client, user):
    sessions = [login(api) for _ in range(2)]

    # The form's "Disable password-based authentication" button.
    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"usable_password": "false", "unset-password": "1"},
    )

    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/accounts/user/{user.pk}/change/")
    for body in sessions:
        assert_ended(api, body)
    assert not can_log_in(api, PASSWORD)


def test_a_password_hash_upgraded_at_login_keeps_every_session(api, user, settings):
    # Django re-hashes a password with the preferred hasher when it checks one stored with
    # another; the password is the same, so that is no reason to sign anyone out.
    body = login(api)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    second = login(api)

    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")
    assert_alive(api, body)
    assert_alive(api, second)


def test_saving_a_user_without_changing_the_password_keeps_sessions(api, user):
    body = login(api)
    user.email = "alice@example.org"
    user.first_name = "Alice"
    user.save()
    user.refresh_from_db()
    user.save()
    assert_alive(api, body)


def test_sessions_started_after_a_password_change_work(api, user):
    user.set_password(NEW_PASSWORD)
    user.save()
    body = login(api, password=NEW_PASSWORD)
    assert_alive(api, body)


# --- Deactivation and deletion ---------------------------------------------------------------


def test_deactivating_a_user_ends_every_session_and_reactivating_brings_none_back(
    api, user, make_user
):
    make_user("bob")
    sessions = [login(api) for _ in range(2)]
    bobs = login(api, "bob")

    user.is_active = False
    user.save()

    for body in sessions:
        assert_ended(api, body)
    assert_alive(api, bobs)
    assert not can_log_in(api, PASSWORD)

    user.is_active = True
    user.save()
    for body in sessions:
        assert_ended(api, body)
    assert can_log_in(api, PASSWORD)


def test_deactivating_through_the_admin_form_ends_every_session(api, admin_client, user):
    body = login(api)
    # The change form as a browser posts it with "Active" unticked (unticked boxes send nothing).
    data = {
        "username": "alice",
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }

    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert not user.is_active
    assert_ended(api, body)


def test_deleting_a_user_ends_every_session(api, user, make_user, django_user_model):
    make_user("bob")
    alices = [login(api) for _ in range(2)]
    bobs = login(api, "bob")

    user.delete()

    for body in alices:
        assert access_status(api, body)[0] == 401
        assert refresh(api, body).status_code == 403
    assert_alive(api, bobs)
    django_user_model.objects.filter(username="bob").delete()
    assert access_status(api, bobs)[0] == 401
