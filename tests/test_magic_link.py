"""A sign-in of the site's own (examples/magic_link) ends in a session like any other.

`tokens.services.login(user, request=...)` starts it: the session lists with the redeeming
client's address and browser, refreshes, rotates, detects reuse and ends at logout. The link
works once, expires, and a link made before the user's sessions were all ended is refused.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from django.core import mail
from django.db import connections
from rest_framework.test import APIClient

from tests.conftest import bearer, sessions_of
from tokens import services

pytestmark = [pytest.mark.urls("tests.magic_link_urls")]

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"


def request_link(api: Any, email: str = "alice@example.com") -> Any:
    return api.post("/auth/magic-link/request", {"email": email}, format="json")


def mailed_token() -> str:
    """Return the token of the last link mailed (the page's `?token=`)."""
    match = re.search(r"\?token=(\S+)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return unquote(match.group(1))


def redeem(api: Any, token: str, **extra: Any) -> Any:
    return api.post("/auth/magic-link/redeem", {"token": token}, format="json", **extra)


def refresh(api: Any, refresh_token: str) -> Any:
    return api.post("/api/auth/refresh", {"refresh_token": refresh_token}, format="json")


def sign_in(api: Any) -> dict[str, Any]:
    assert request_link(api).status_code == 202
    response = redeem(api, mailed_token(), HTTP_USER_AGENT=AGENT, REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_link_signs_in_to_a_session_like_any_other(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(seconds=30)}
    body = sign_in(api)
    assert body["token_type"] == "Bearer"
    assert api.get("/api/user/info", **bearer(body["access_token"])).json()["username"] == "alice"

    # Listed, with the redeeming client's address and browser.
    (listed,) = sessions_of(api, body)
    assert listed["current"]
    assert listed["ip"] == "192.0.2.7"
    assert "Firefox" in listed["user_agent"]

    # Refreshes and rotates; a replay inside the grace window gets the same successor.
    rotated = refresh(api, body["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()
    assert second["refresh_token"] != body["refresh_token"]
    assert refresh(api, body["refresh_token"]).json()["refresh_token"] == second["refresh_token"]
    assert api.get("/api/ninja/me", **bearer(second["access_token"])).status_code == 200

    # Ends at logout, its access tokens at once.
    assert api.post("/api/auth/logout", **bearer(second["access_token"])).status_code == 200
    ended = api.get("/api/user/info", **bearer(second["access_token"]))
    assert (ended.status_code, ended.json()["code"]) == (401, "session_revoked")
    assert refresh(api, second["refresh_token"]).status_code == 403


def test_reuse_of_its_refresh_token_ends_it(api, user, settings):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    body = sign_in(api)
    second = refresh(api, body["refresh_token"]).json()
    reused = refresh(api, body["refresh_token"])
    assert (reused.status_code, reused.json()["code"]) == (403, "refresh_token_reused")
    ended = api.get("/api/user/info", **bearer(second["access_token"]))
    assert (ended.status_code, ended.json()["code"]) == (401, "session_revoked")


def test_logout_everywhere_ends_it_with_the_password_sessions(api, user):
    by_link = sign_in(api)
    by_password = api.post(
        "/api/auth/login",
        {"username": "alice", "password": "correct-horse-battery"},
        format="json",
    ).json()
    assert len(sessions_of(api, by_password)) == 2
    ended = api.post("/api/auth/logout-all", **bearer(by_password["access_token"]))
    assert ended.status_code == 200, ended.content
    for body in (by_link, by_password):
        response = api.get("/api/user/info", **bearer(body["access_token"]))
        assert response.json()["code"] == "session_revoked"


def test_a_link_works_once(api, user):
    assert request_link(api).status_code == 202
    token = mailed_token()
    assert redeem(api, token).status_code == 200
    again = redeem(api, token)
    assert (again.status_code, again.json()["code"]) == (400, "link_invalid")


def test_a_link_expires(api, user, settings):
    settings.MAGIC_LINK_SECONDS = 1
    assert request_link(api).status_code == 202
    token = mailed_token()
    time.sleep(2.1)
    assert redeem(api, token).json()["code"] == "link_invalid"


def test_a_link_made_before_the_sessions_were_all_ended_is_refused(api, user):
    # A password change (or logout everywhere) after the link was mailed: as a password
    # checked before the change, the link no longer holds.
    assert request_link(api).status_code == 202
    token = mailed_token()
    time.sleep(0.01)
    user.set_password("another-horse-battery")
    user.save()
    assert redeem(api, token).json()["code"] == "link_invalid"
    # A new link works.
    assert request_link(api).status_code == 202
    assert redeem(api, mailed_token()).status_code == 200


def test_a_tampered_or_foreign_token_is_refused(api, user):
    assert request_link(api).status_code == 202
    token = mailed_token()
    for bad in (token[:-2] + "xx", "not-a-token", ""):
        assert redeem(api, bad).json()["code"] == "link_invalid"
    assert redeem(api, token).status_code == 200


def test_an_unknown_address_gets_the_same_answer_and_no_mail(api, user):
    response = request_link(api, "nobody@example.com")
    assert response.status_code == 202
    assert mail.outbox == []


def test_a_deactivated_user_cannot_redeem(api, user):
    assert request_link(api).status_code == 202
    token = mailed_token()
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert redeem(api, token).json()["code"] == "link_invalid"


def test_a_link_redeemed_twice_at_once_signs_in_once(transactional_db, user):
    assert request_link(APIClient()).status_code == 202
    token = mailed_token()

    def attempt(_: int) -> int:
        try:
            return int(redeem(APIClient(), token).status_code)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))
    assert statuses == [200, 400, 400, 400]
    assert len(services.list_sessions(user)) == 1
