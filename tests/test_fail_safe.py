"""Revocation never fails open, a login in flight never outlives a password change, and a store
fault answers 503 with Retry-After and costs the client nothing (issue 13, items 1, 2, 5, 6).

The store faults are real: an unreachable Redis (a port nothing listens on), a Redis whose
writes are paused (`CLIENT PAUSE ... WRITE`: reads answer, the session scripts wait past the
socket timeout), a Redis stalled by `DEBUG SLEEP` (what it was sent meanwhile runs when it
wakes), a Redis out of memory under `noeviction`, a Redis turned read-only replica.
"""

from __future__ import annotations

import getpass
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, bearer, login
from tests.harness import RedisServer, free_port
from tokens import services
from tokens.errors import LoginInterrupted, StoreUnavailable
from tokens.stores import redis as redis_store

NEW_PASSWORD = "a-new-and-long-passphrase"
REFRESH = "/api/auth/refresh"
INFO = "/api/user/info"


def refresh(api: APIClient, token: str) -> Any:
    return api.post(REFRESH, {"refresh_token": token}, format="json")


def can_log_in(password: str) -> bool:
    response = APIClient().post(
        "/api/auth/login", {"username": "alice", "password": password}, format="json"
    )
    return response.status_code == 200


def assert_503(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "store_unavailable"
    assert int(response["Retry-After"]) >= 1


@pytest.fixture
def store_unreachable(settings) -> Iterator[None]:
    """Point the store at a port nothing listens on, for the block's duration."""

    @contextmanager
    def unreachable() -> Iterator[None]:
        good = settings.CACHES
        settings.CACHES = {
            "default": {**good["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
        }
        try:
            yield
        finally:
            settings.CACHES = good

    return unreachable  # type: ignore[return-value]


@contextmanager
def writes_paused(redis_server: Any, seconds: float = 3) -> Iterator[None]:
    """Hold every write (and every session script) for `seconds`; reads still answer."""
    redis_server.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")
    try:
        yield
    finally:
        redis_server.execute_command("CLIENT", "UNPAUSE")


# --- Item 1: a password change, deactivation or deletion either ends the sessions or fails --


@pytest.mark.django_db
def test_a_password_change_the_store_cannot_confirm_is_503_and_changes_nothing(
    api, user, redis_server
):
    body = login(api)
    with writes_paused(redis_server):
        response = api.post(
            "/api/user/password",
            {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
            format="json",
            **bearer(body["access_token"]),
        )
    assert_503(response)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert can_log_in(PASSWORD)
    assert not can_log_in(NEW_PASSWORD)


@pytest.mark.django_db
def test_set_password_and_save_with_the_store_down_raises_and_leaves_the_password(
    api, user, store_unreachable, django_user_model
):
    body = login(api)
    with store_unreachable():
        user.set_password(NEW_PASSWORD)
        with pytest.raises(StoreUnavailable):
            user.save()
    assert django_user_model.objects.get(pk=user.pk).check_password(PASSWORD)
    # When the store answers again, nothing changed: the old session and password both hold,
    # consistently (the hole was a new password with the old session still live).
    assert api.get(INFO, **bearer(body["access_token"])).status_code == 200
    assert can_log_in(PASSWORD)


@pytest.mark.django_db
def test_deactivating_or_deleting_with_the_store_down_does_not_happen(
    api, user, store_unreachable, django_user_model
):
    login(api)
    with store_unreachable():
        user.is_active = False
        with pytest.raises(StoreUnavailable):
            user.save()
        # In its own transaction, as the admin and any view deletes: the failure rolls it back.
        with pytest.raises(StoreUnavailable), transaction.atomic():
            django_user_model.objects.get(pk=user.pk).delete()
    assert django_user_model.objects.get(pk=user.pk).is_active is True


@pytest.mark.django_db
def test_changepassword_with_the_store_down_is_a_clear_error(
    user, store_unreachable, monkeypatch, django_user_model
):
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": NEW_PASSWORD)
    with store_unreachable(), pytest.raises(CommandError, match="password was not changed"):
        call_command("changepassword", "alice", stdout=None)
    assert django_user_model.objects.get(pk=user.pk).check_password(PASSWORD)


# Transactional: a test transaction around the request would be one the admin's bulk delete
# marks for rollback, which no site in autocommit has.
@pytest.mark.django_db(transaction=True)
def test_the_admin_says_the_store_is_down_instead_of_a_500(
    admin_client, user, store_unreachable, django_user_model
):
    base = f"/admin/accounts/user/{user.pk}"
    with store_unreachable():
        password = admin_client.post(
            f"{base}/password/",
            {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
            follow=True,
        )
        deleted = admin_client.post(f"{base}/delete/", {"post": "yes"}, follow=True)
        bulk = admin_client.post(
            "/admin/accounts/user/",
            {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"},
            follow=True,
        )
    for response in (password, deleted, bulk):
        assert response.status_code == 200
        assert b"nothing was changed" in response.content
    after = django_user_model.objects.get(pk=user.pk)
    assert after.check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_deactivating_in_the_admin_with_the_store_down_is_a_message(
    admin_client, user, store_unreachable, django_user_model
):
    change = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    form = change.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "live_sessions", "groups")
    }
    data.update({"is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    with store_unreachable():
        response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data, follow=True)
    assert response.status_code == 200
    assert b"nothing was changed" in response.content
    assert django_user_model.objects.get(pk=user.pk).is_active is True


@pytest.mark.django_db
def test_a_login_between_the_ending_and_the_commit_is_ended_after_the_commit(
    api, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        user.set_password(NEW_PASSWORD)
        user.save()
        # A login that checked the old password (still committed) after the sessions
        # were ended, before the change commits (in a later millisecond than the ending: one
        # started in the ending's own millisecond is refused outright).
        time.sleep(0.002)
        slipped_in = services.login(user, started_at=time.time())
        assert services.authenticate_access(slipped_in.access_token)
    response = api.get(INFO, **bearer(slipped_in.access_token))
    assert (response.status_code, response.json()["code"]) == (401, "session_revoked")


# --- Item 2: a login in flight during a password change or logout-all ---------------------


@pytest.mark.django_db
def test_a_login_that_started_before_logout_everywhere_creates_no_session(api, user):
    started = time.time()
    services.logout_everywhere(user)
    with pytest.raises(LoginInterrupted):
        services.login(user, started_at=started)
    assert services.list_sessions(user) == []
    # A login that starts after the ending works (times compare to the millisecond, and one
    # started in the same millisecond as the ending is refused).
    time.sleep(0.002)
    assert services.login(user, started_at=time.time())


@pytest.mark.django_db(transaction=True)
def test_a_login_racing_a_password_change_never_survives_it(settings, make_user):
    """Real PBKDF2, real threads: the login checks the old password while the change commits.

    The issue saw 6 of 9 such logins survive with working tokens. Each trial starts the
    change, then a login with the old password a little later, so the login reads the old hash
    before the change commits and finishes hashing after it.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = make_user("alice")
    outcomes = []
    for trial in range(9):
        old, new = (PASSWORD, NEW_PASSWORD) if trial % 2 == 0 else (NEW_PASSWORD, PASSWORD)
        results: dict[str, Any] = {}

        def change(new: str = new) -> None:
            fresh = type(user).objects.get(pk=user.pk)
            fresh.set_password(new)
            fresh.save()

        def log_in(old: str = old, results: dict[str, Any] = results) -> None:
            response = APIClient().post(
                "/api/auth/login", {"username": "alice", "password": old}, format="json"
            )
            results["login"] = response

        changer = threading.Thread(target=change)
        logger = threading.Thread(target=log_in)
        changer.start()
        time.sleep(0.05 * trial)
        logger.start()
        changer.join()
        logger.join()
        response = results["login"]
        outcomes.append(response.status_code)
        if response.status_code == 200:
            body = response.json()
            api = APIClient()
            info = api.get(INFO, **bearer(body["access_token"]))
            assert (info.status_code, info.json()["code"]) == (401, "session_revoked"), trial
            assert refresh(api, body["refresh_token"]).status_code == 403, trial
        else:
            assert response.status_code in (400, 409), response.content
            if response.status_code == 409:
                assert response.json()["code"] == "login_interrupted"
    # The race is real: some logins checked the old password and were refused or ended.
    assert {200, 409} & set(outcomes), outcomes


# --- Item 5: a 503 costs the client nothing ----------------------------------------------


@pytest.fixture(scope="module")
def debug_redis(tmp_path_factory):
    """A Redis of this module's own that accepts DEBUG SLEEP (the run's shared one does not)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start(options=("--enable-debug-command", "yes"))
    yield server
    server.stop()


@pytest.fixture
def stalled(debug_redis, settings):
    """Use `debug_redis` as the store; return a function that stalls it (DEBUG SLEEP)."""
    debug_redis.flushall()
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{debug_redis.port}/0",
        }
    }

    @contextmanager
    def stall(seconds: float = 2) -> Iterator[None]:
        # DEBUG SLEEP holds Redis itself: commands sent meanwhile run when it wakes, after the
        # site's 0.5 s socket timeout has already answered 503.
        with debug_redis.stalled(seconds):
            yield

    return stall


class Skew:
    """This server's clocks as the store reads them, `seconds` off (negative: behind Redis').

    `jump` moves them that much further at every read (a Redis clock that keeps jumping).
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.jump = 0.0

    def _read(self) -> float:
        self.seconds += self.jump
        return self.seconds

    def monotonic(self) -> float:
        return time.monotonic() + self._read()

    def wall(self) -> float:
        return time.time() + self._read()


@pytest.fixture
def skew(monkeypatch) -> Skew:
    """Make the Redis store read clocks a test can set off from Redis' (real scripts, real
    Redis: only this server's view of the time moves, which is what disagreeing clocks are)."""
    clocks = Skew()
    monkeypatch.setattr(
        redis_store, "redis_clock", redis_store.RedisClock(clocks.monotonic, clocks.wall)
    )
    return clocks


def store_warnings(caplog: Any, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "tokens.store" and r.levelno == level
    ]


# (this server's clock against Redis' from the start, then a step of Redis' clock once learned)
CLOCKS = {
    "agreeing": (0, 0),
    "this server 5 s behind": (-5, 0),
    "this server 5 s ahead": (5, 0),
    "Redis' clock stepped 5 s back": (0, -5),
}


def set_clocks(skew: Skew, api: APIClient, body: dict[str, Any], case: str) -> dict[str, Any]:
    """Step Redis' clock as `case` says, after `body`'s login taught the store its offset.

    The first refresh after the step answers; the next calls carry the corrected deadline.
    """
    step = CLOCKS[case][1]
    if not step:
        return body
    skew.seconds -= step  # Redis' clock back against ours: ours ahead against it
    response = refresh(api, body["refresh_token"])
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("case", CLOCKS)
def test_a_refresh_that_got_503_works_when_retried_after_the_grace_window(
    api, user, stalled, settings, skew, case
):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(seconds=0.3)}
    skew.seconds = CLOCKS[case][0]
    # One refresh first: Redis then knows the script (an unknown one would fail NOSCRIPT when
    # Redis wakes, and hide the hole).
    body = set_clocks(skew, api, refresh(api, login(api)["refresh_token"]).json(), case)
    with stalled(2):
        first = refresh(api, body["refresh_token"])
    assert_503(first)
    time.sleep(0.5)  # past the grace window
    retried = refresh(api, body["refresh_token"])
    assert retried.status_code == 200, retried.content
    pair = retried.json()
    assert api.get(INFO, **bearer(pair["access_token"])).status_code == 200
    assert refresh(api, pair["refresh_token"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("case", CLOCKS)
def test_a_login_that_got_503_leaves_no_session_behind(api, user, stalled, skew, case):
    skew.seconds = CLOCKS[case][0]
    set_clocks(skew, api, login(api), case)
    services.logout_everywhere(user)
    # The service directly: through the API the login throttle's own Redis call answers 503
    # first, before the session is even sent.
    with stalled(2), pytest.raises(StoreUnavailable):
        services.login(user)
    assert services.list_sessions(user) == []


# --- Clocks that disagree stop nothing ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [-5, 5])
def test_logins_and_refreshes_work_whatever_this_servers_clock_says(
    api, user, skew, caplog, seconds
):
    # Before, each script's deadline was this server's time + the socket timeout, compared
    # with Redis' TIME: with clocks 5 s apart every login and refresh answered 503 (or, this
    # server ahead, a stalled Redis applied what the client had given up on).
    skew.seconds = seconds
    with caplog.at_level(logging.WARNING, logger="tokens.store"):
        first = login(api)
        second = refresh(api, first["refresh_token"])
        assert second.status_code == 200, second.content
        # The grace window and the replay count work as ever.
        again = refresh(api, first["refresh_token"])
        assert again.json()["refresh_token"] == second.json()["refresh_token"]
        body = second.json()
        for _ in range(3):
            response = refresh(api, body["refresh_token"])
            assert response.status_code == 200, response.content
            body = response.json()
        assert api.get(INFO, **bearer(body["access_token"])).status_code == 200
        assert len(services.list_sessions(user)) == 1
        login(api)
    # Said once, with the difference: the operator fixes the clock, nobody is logged out.
    [warning] = store_warnings(caplog)
    assert "5.0" in warning and ("ahead of" if seconds < 0 else "behind") in warning
    assert not store_warnings(caplog, logging.ERROR)


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "said"), [(5, "+5.0"), (-5, "-5.0")])
def test_a_step_of_redis_clock_is_followed_and_said_once(api, user, skew, caplog, step, said):
    # Redis' clock steps (an NTP step, a failover to a Redis whose clock differs) after this
    # process learned it. Forward: the next script is refused as late although the site was
    # still waiting, so the site learns the new offset from that reply and runs it once more.
    # Back: the next reply shows it, and the deadlines follow from then on.
    body = refresh(api, login(api)["refresh_token"]).json()
    skew.seconds -= step
    with caplog.at_level(logging.WARNING, logger="tokens.store"):
        for _ in range(4):
            response = refresh(api, body["refresh_token"])
            assert response.status_code == 200, response.content
            body = response.json()
        login(api)
    [warning] = store_warnings(caplog)
    assert said in warning
    assert not store_warnings(caplog, logging.ERROR)
    assert api.get(INFO, **bearer(body["access_token"])).status_code == 200


@pytest.mark.django_db
def test_a_redis_clock_that_keeps_jumping_answers_503_and_applies_nothing(api, user, skew, caplog):
    # A script refused as late twice in a row although the site was waiting: the site gives
    # up (503, logged with the hint) rather than loop, and nothing was applied.
    body = refresh(api, login(api)["refresh_token"]).json()
    [before] = services.list_sessions(user)
    skew.jump = -5
    with caplog.at_level(logging.WARNING, logger="tokens.store"):
        assert_503(refresh(api, body["refresh_token"]))
    [error] = store_warnings(caplog, logging.ERROR)
    assert "clock" in error
    skew.jump = 0
    assert services.list_sessions(user) == [before]
    assert refresh(api, body["refresh_token"]).status_code == 200


# --- Item 6: every store error is a 503, logged once with its cause -------------------------


@pytest.fixture
def redis_config(redis_server):
    """Let a test change the run's Redis configuration; put it back afterwards."""
    saved = redis_server.config_get("maxmemory*")
    yield redis_server
    redis_server.execute_command("REPLICAOF", "NO", "ONE")
    redis_server.config_set("maxmemory", saved["maxmemory"])
    redis_server.config_set("maxmemory-policy", saved["maxmemory-policy"])


def _out_of_memory(redis_server: Any) -> None:
    redis_server.config_set("maxmemory-policy", "noeviction")
    redis_server.config_set("maxmemory", "1")


def _read_only(redis_server: Any) -> None:
    # A replica of a master that does not exist: it keeps its data and refuses writes.
    redis_server.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "cause"), [(_out_of_memory, "OutOfMemoryError"), (_read_only, "ReadOnlyError")]
)
def test_a_redis_that_refuses_writes_answers_503_logged_once_with_its_cause(
    api, user, redis_config, caplog, fault, cause
):
    body = login(api)
    fault(redis_config)
    calls = [
        lambda: refresh(api, body["refresh_token"]),
        lambda: api.post(
            "/api/auth/token",
            {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
            format="json",
        ),
        lambda: api.post("/api/auth/logout-all", **bearer(body["access_token"])),
    ]
    for make_call in calls:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tokens.store"):
            assert_503(make_call())
        errors = [r for r in caplog.records if r.name == "tokens.store"]
        assert len(errors) == 1, errors
        assert errors[0].levelno == logging.ERROR
        assert cause in errors[0].getMessage()
    # Reads still answer: the session is live, and it works once Redis takes writes again.
    assert api.get(INFO, **bearer(body["access_token"])).status_code == 200
    redis_config.execute_command("REPLICAOF", "NO", "ONE")
    redis_config.config_set("maxmemory", "0")
    assert refresh(api, body["refresh_token"]).status_code == 200
