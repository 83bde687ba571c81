"""The app's own password-change endpoint, `auth/password`, and `services.change_password`.

The endpoint ships in `tokens.urls` (issue 16, item 1); the demo keeps `/api/user/password` as
the same view (tests/test_password_and_deactivation.py runs its cases at both addresses). The
session to keep is passed to `change_password()` explicitly and reaches the receiver that ends
the others for that save only (issue 17).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db.models.signals import post_save
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, bearer, login
from tokens import services

pytestmark = pytest.mark.django_db

CHANGE = "/api/auth/password"
NEW_PASSWORD = "a-new-and-long-passphrase"


def change(api: APIClient, body: dict[str, Any], old: str = PASSWORD, **extra: Any) -> Any:
    return api.post(
        CHANGE,
        {"old_password": old, "new_password": NEW_PASSWORD},
        format="json",
        **bearer(body["access_token"]),
        **extra,
    )


def is_live(api: APIClient, body: dict[str, Any]) -> bool:
    response = api.get("/api/auth/sessions", **bearer(body["access_token"]))
    return bool(response.status_code == 200)


def can_log_in(api: APIClient, password: str) -> bool:
    response = api.post(
        "/api/auth/login", {"username": "alice", "password": password}, format="json"
    )
    return bool(response.status_code == 200)


def test_the_app_changes_the_password_keeping_the_callers_session_only(api, user):
    other, current = login(api), login(api)

    response = change(api, current)

    assert response.status_code == 200
    assert response.json() == {"detail": "Password changed. Other sessions have been ended."}
    assert response["Cache-Control"] == "no-store"
    assert is_live(api, current)
    assert not is_live(api, other)
    refreshed = api.post(
        "/api/auth/refresh", {"refresh_token": current["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert can_log_in(api, NEW_PASSWORD)
    assert not can_log_in(api, PASSWORD)


def test_a_wrong_old_password_changes_nothing(api, user):
    other, current = login(api), login(api)
    response = change(api, current, old="not-the-password")
    assert response.status_code == 400
    assert response.json()["errors"] == {"old_password": ["The current password is wrong."]}
    assert is_live(api, other)
    assert can_log_in(api, PASSWORD)


def test_the_endpoint_needs_a_live_access_token(api, user):
    assert api.post(CHANGE, {}, format="json").status_code == 401
    body = login(api)
    services.logout_everywhere(user)
    response = change(api, body)
    assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
    assert can_log_in(api, PASSWORD)


def test_the_endpoint_draws_on_the_users_login_budget(api, user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "tokens_login_address": "1000/day",
            "tokens_login_username": "3/day",
        },
    }
    body = login(api)  # the first attempt of the three
    wrong = {"username": "ALICE", "password": "wrong"}
    assert api.post("/api/auth/login", wrong, format="json").status_code == 400
    assert change(api, body, old="wrong").status_code == 400
    # Spent: the right old password is not even checked, and the login is throttled too.
    throttled = change(api, body)
    assert (throttled.status_code, throttled.json()["code"]) == (429, "throttled")
    right = {"username": "alice", "password": PASSWORD}
    assert api.post("/api/auth/login", right, format="json").status_code == 429


@contextmanager
def writes_paused(redis_server: Any, seconds: float = 3) -> Iterator[None]:
    """Hold every write (and every session script) for `seconds`; reads still answer."""
    redis_server.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")
    try:
        yield
    finally:
        redis_server.execute_command("CLIENT", "UNPAUSE")


def test_with_the_store_failing_the_password_is_not_changed_and_no_session_ends(
    api, user, settings, redis_server
):
    other, current = login(api), login(api)
    # The throttle counts in a cache of its own, so that the request gets past it to the
    # change: the access token is checked (a read), then ending the other sessions (a write)
    # cannot be confirmed.
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.TOKENS = {**settings.TOKENS, "THROTTLE_CACHE_ALIAS": "throttle"}
    with writes_paused(redis_server):
        response = change(api, current)
    assert (response.status_code, response.json()["code"]) == (503, "store_unavailable")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert is_live(api, other)
    assert is_live(api, current)


# --- services.change_password, the public helper ------------------------------------------


def test_change_password_keeps_the_session_it_is_given(api, user):
    kept, other = login(api), login(api)
    kept_id = services.authenticate_access(kept["access_token"]).session_id

    services.change_password(user, NEW_PASSWORD, keep_session=kept_id)

    assert is_live(api, kept)
    assert not is_live(api, other)


def test_change_password_without_a_session_to_keep_ends_them_all(api, user):
    sessions = [login(api) for _ in range(2)]
    services.change_password(user, NEW_PASSWORD, keep_session=None)
    assert not any(is_live(api, body) for body in sessions)


def test_the_kept_session_is_kept_for_that_change_only(api, user):
    kept = login(api)
    kept_id = services.authenticate_access(kept["access_token"]).session_id
    services.change_password(user, NEW_PASSWORD, keep_session=kept_id)
    # Nothing of the handoff is left on the user or in the thread: the next change made
    # another way ends every session, the kept one too.
    user.set_password(PASSWORD)
    user.save()
    assert not is_live(api, kept)


def test_the_kept_session_is_kept_for_that_user_only(api, user, make_user, django_user_model):
    bob = make_user("bob")
    bobs = login(api, "bob")
    bobs_id = services.authenticate_access(bobs["access_token"]).session_id
    alices = login(api)

    def change_bob_too(sender: Any, instance: Any, **kwargs: Any) -> None:
        # A site's receiver that saves another user while alice's change is being saved.
        if instance.pk == user.pk:
            fresh = django_user_model.objects.get(pk=bob.pk)
            fresh.set_password(NEW_PASSWORD)
            fresh.save()

    post_save.connect(change_bob_too, sender=django_user_model, dispatch_uid="test.bob")
    try:
        # Alice's change names bob's session id: a session id is only kept for its own user.
        services.change_password(user, NEW_PASSWORD, keep_session=bobs_id)
    finally:
        post_save.disconnect(sender=django_user_model, dispatch_uid="test.bob")
    assert not is_live(api, alices)
    assert not is_live(api, bobs)


def test_the_schema_lists_the_password_endpoint_under_auth(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/auth/password"]["post"]
    assert operation["tags"] == ["auth"]
    assert {"200", "400", "401", "429", "503"} <= set(operation["responses"])
    # The demo's older address is the same view.
    assert "/api/user/password" in schema["paths"]
