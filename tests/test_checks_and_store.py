"""System checks, and the store's behaviour when Redis cannot be reached."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import PASSWORD, bearer, login
from tests.harness import free_port
from tokens.checks import check_settings

pytestmark = pytest.mark.django_db


def ids(messages):
    return {m.id for m in messages}


def test_default_settings_pass_the_checks():
    assert check_settings() == []


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({"NOT_A_SETTING": 1}, "tokens.E001"),
        ({"ROTATION_GRACE_PERIOD": 10}, "tokens.E002"),
        ({"SESSION_MAX_AGE": timedelta(seconds=-1)}, "tokens.E002"),
        ({"MAX_SESSIONS_PER_USER": 0}, "tokens.E003"),
        ({"CACHE_ALIAS": "missing"}, "tokens.E004"),
    ],
)
def test_bad_settings_are_reported_with_a_hint(settings, tokens, expected):
    settings.TOKENS = tokens
    messages = check_settings()
    assert expected in ids(messages)
    assert all(m.hint for m in messages)


def test_check_command_fails_on_bad_settings(settings):
    settings.TOKENS = {"MAX_SESSIONS_PER_USER": -1}
    with pytest.raises(SystemCheckError, match=r"tokens\.E003"):
        call_command("check")


def test_redis_down_answers_503_fast_everywhere(api, user, settings):
    body = login(api)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    calls = [
        lambda: api.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        ),
        lambda: api.post(
            "/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json"
        ),
        lambda: api.get("/api/user/info", **bearer(body["access_token"])),
        lambda: api.post("/api/auth/logout", **bearer(body["access_token"])),
    ]
    for make_call in calls:
        started = time.monotonic()
        response = make_call()
        assert response.status_code == 503
        assert response.json()["code"] == "store_unavailable"
        # Every 503 says when to try again; the same request is then safe to send again.
        assert response["Retry-After"] == "1"
        # Generous bound: the point is "no hang", the fault tests measure the real figure.
        assert time.monotonic() - started < 5


def test_site_recovers_when_redis_is_back(api, user, settings):
    good = settings.CACHES
    settings.CACHES = {
        "default": {**good["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    assert (
        api.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        ).status_code
        == 503
    )
    settings.CACHES = good
    body = login(api)
    assert api.get("/api/user/info", **bearer(body["access_token"])).status_code == 200
