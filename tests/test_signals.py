"""The tokens signals, with their keyword arguments, and Django's own login signals."""

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.core.management import call_command
from django.http import HttpRequest

from tests.conftest import PASSWORD, bearer, current_id, login
from tokens import signals

pytestmark = pytest.mark.django_db


class Catch:
    """Record every sending of a signal: the sender and the keyword arguments."""

    def __init__(self, signal):
        self.signal = signal
        self.calls = []
        signal.connect(self.receive, dispatch_uid=f"test-catch-{id(self)}")

    def receive(self, sender, signal, **kwargs):
        self.calls.append((sender, kwargs))

    def close(self):
        self.signal.disconnect(dispatch_uid=f"test-catch-{id(self)}")

    @property
    def kwargs(self):
        return [kwargs for _sender, kwargs in self.calls]


@pytest.fixture
def catch():
    catchers = []

    def make(signal):
        catchers.append(Catch(signal))
        return catchers[-1]

    yield make
    for catcher in catchers:
        catcher.close()


@pytest.fixture
def revoked(catch):
    return catch(signals.session_revoked)


def refresh(api, token):
    return api.post("/api/auth/refresh", {"refresh_token": token}, format="json")


def reasons(revoked):
    return [(kwargs["session_id"], kwargs["reason"]) for kwargs in revoked.kwargs]


# --- Tokens signals ------------------------------------------------------------------------


def test_session_created_on_login(api, user, catch):
    created = catch(signals.session_created)
    body = login(api)

    [(sender, kwargs)] = created.calls
    assert sender is get_user_model()
    assert set(kwargs) == {"user", "session_id", "request"}
    assert kwargs["user"] == user
    assert kwargs["session_id"] == current_id(api, body)
    assert isinstance(kwargs["request"], HttpRequest)
    assert kwargs["request"].path == "/api/auth/login"


def test_session_rotated_on_refresh_but_not_on_a_grace_replay(api, user, catch):
    rotated = catch(signals.session_rotated)
    body = login(api)

    first = refresh(api, body["refresh_token"])
    again = refresh(api, body["refresh_token"])  # Within the grace window: same successor.

    assert first.json()["refresh_token"] == again.json()["refresh_token"]
    [(sender, kwargs)] = rotated.calls
    assert sender is get_user_model()
    assert set(kwargs) == {"user_id", "session_id", "request"}
    assert kwargs["user_id"] == str(user.pk)
    assert kwargs["session_id"] == current_id(api, body)
    assert kwargs["request"].path == "/api/auth/refresh"


def test_session_revoked_carries_user_id_session_id_reason_and_request(api, user, revoked):
    body = login(api)
    sid = current_id(api, body)

    api.post("/api/auth/logout", **bearer(body["access_token"]))

    [(sender, kwargs)] = revoked.calls
    assert sender is get_user_model()
    assert set(kwargs) == {"user_id", "session_id", "reason", "request"}
    assert kwargs == {
        "user_id": str(user.pk),
        "session_id": sid,
        "reason": "logout",
        "request": kwargs["request"],
    }
    assert kwargs["request"].path == "/api/auth/logout"


def test_reason_logout_for_deleting_one_of_ones_own_sessions(api, user, revoked):
    body, other = login(api), login(api)
    sid = current_id(api, other)
    api.delete(f"/api/auth/sessions/{sid}", **bearer(body["access_token"]))
    assert reasons(revoked) == [(sid, "logout")]


def test_reason_logout_all(api, user, revoked):
    sessions = [login(api) for _ in range(3)]
    ids = {current_id(api, body) for body in sessions}
    api.post("/api/auth/logout-all", **bearer(sessions[0]["access_token"]))
    assert sorted(reasons(revoked)) == sorted((sid, "logout_all") for sid in ids)


def test_reason_password_change_spares_the_kept_session(api, user, revoked):
    other, current = login(api), login(api)
    other_id = current_id(api, other)
    api.post(
        "/api/user/password",
        {"old_password": PASSWORD, "new_password": "a-new-and-long-passphrase"},
        format="json",
        **bearer(current["access_token"]),
    )
    assert reasons(revoked) == [(other_id, "password_change")]


def test_reason_password_change_for_set_password_and_save(api, user, revoked):
    sid = current_id(api, login(api))
    user.set_password("a-new-and-long-passphrase")
    user.save()
    assert reasons(revoked) == [(sid, "password_change")]
    assert revoked.kwargs[0]["request"] is None


def test_reason_deactivated(api, user, revoked):
    sid = current_id(api, login(api))
    user.is_active = False
    user.save()
    assert reasons(revoked) == [(sid, "deactivated")]


def test_reason_deleted(api, user, revoked):
    sid = current_id(api, login(api))
    user.delete()
    assert reasons(revoked) == [(sid, "deleted")]


def test_reason_admin_from_the_admin_and_the_command(api, user, admin_client, revoked):
    first, second = login(api), login(api)
    first_id, second_id = current_id(api, first), current_id(api, second)

    admin_client.post(f"/admin/accounts/user/{user.pk}/sessions/{first_id}/end/")
    call_command("tokens_revoke", "alice", stdout=StringIO())

    assert reasons(revoked) == [(first_id, "admin"), (second_id, "admin")]
    assert revoked.kwargs[0]["request"].path.startswith("/admin/")


def test_reason_max_sessions(api, user, revoked, settings):
    settings.TOKENS = {**settings.TOKENS, "MAX_SESSIONS_PER_USER": 1}
    sid = current_id(api, login(api))
    login(api)
    assert reasons(revoked) == [(sid, "max_sessions")]
    assert revoked.kwargs[0]["request"].path == "/api/auth/login"


def test_reason_revoke_for_the_rfc7009_endpoint(api, user, revoked):
    body = login(api)
    sid = current_id(api, body)
    api.post("/api/auth/revoke", {"token": body["refresh_token"]}, format="json")
    assert reasons(revoked) == [(sid, "revoke")]


def test_refresh_token_reused_then_session_revoked_with_reason_reuse(
    api, user, catch, revoked, settings
):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    reused = catch(signals.refresh_token_reused)
    body = login(api)
    sid = current_id(api, body)
    assert refresh(api, body["refresh_token"]).status_code == 200

    response = refresh(api, body["refresh_token"])

    assert response.json()["code"] == "refresh_token_reused"
    [(sender, kwargs)] = reused.calls
    assert sender is get_user_model()
    assert set(kwargs) == {"user_id", "session_id", "request"}
    assert (kwargs["user_id"], kwargs["session_id"]) == (str(user.pk), sid)
    assert reasons(revoked) == [(sid, "reuse")]


def test_nothing_is_sent_when_nothing_ended(api, user, revoked):
    api.post("/api/auth/revoke", {"token": "not-a-token"}, format="json")
    user.email = "alice@example.org"
    user.save()
    assert revoked.calls == []


# --- Django's signals ----------------------------------------------------------------------


def test_user_logged_in_on_login(api, user, catch):
    logged_in = catch(user_logged_in)
    login(api)
    [(sender, kwargs)] = logged_in.calls
    assert sender is get_user_model()
    assert kwargs["user"] == user
    assert kwargs["request"].path == "/api/auth/login"
    user.refresh_from_db()
    assert user.last_login is not None  # Django's own receiver ran.


@pytest.mark.parametrize("path", ["/api/auth/logout", "/api/auth/logout-all"])
def test_user_logged_out_on_logout_and_logout_all(api, user, catch, path):
    logged_out = catch(user_logged_out)
    body = login(api)
    api.post(path, **bearer(body["access_token"]))
    [(sender, kwargs)] = logged_out.calls
    assert sender is get_user_model()
    assert kwargs["user"] == user
    assert kwargs["request"].path == path


def test_user_logged_out_when_logging_out_with_the_refresh_token(api, user, catch):
    logged_out = catch(user_logged_out)
    body = login(api)
    api.post("/api/auth/logout", {"refresh_token": body["refresh_token"]}, format="json")
    assert [kwargs["user"] for kwargs in logged_out.kwargs] == [user]


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_user_login_failed_has_the_password_scrubbed(api, user, catch, username):
    failed = catch(user_login_failed)
    response = api.post(
        "/api/auth/login", {"username": username, "password": "wrong-secret"}, format="json"
    )
    assert response.status_code == 400
    [(_sender, kwargs)] = failed.calls
    assert kwargs["credentials"]["username"] == username
    assert kwargs["credentials"]["password"] != "wrong-secret"
    assert "wrong-secret" not in repr(kwargs)
    assert kwargs["request"].path == "/api/auth/login"


def test_user_login_failed_on_the_oauth_password_grant(api, user, catch):
    failed = catch(user_login_failed)
    api.post(
        "/api/auth/token",
        {"grant_type": "password", "username": "alice", "password": "wrong-secret"},
        format="json",
    )
    assert len(failed.calls) == 1
    assert "wrong-secret" not in repr(failed.kwargs)


def test_a_deactivated_users_session_ends_on_refresh_and_a_replay_is_still_reuse(
    api, make_user, django_user_model, catch, revoked, settings
):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    user = make_user("alice")
    first = login(api)
    second = login(api)
    successor = refresh(api, second["refresh_token"]).json()
    first_id, second_id = current_id(api, first), current_id(api, successor)
    reused = catch(signals.refresh_token_reused)
    # update() sends no signal: the sessions stay in Redis until a refresh finds out.
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)

    ended = refresh(api, first["refresh_token"])
    assert (ended.status_code, ended.json()["code"]) == (403, "session_revoked")
    replay = refresh(api, second["refresh_token"])  # rotated away: a replay, whoever sends it
    assert (replay.status_code, replay.json()["code"]) == (403, "refresh_token_reused")

    assert reasons(revoked) == [(first_id, "deactivated"), (second_id, "reuse")]
    assert len(reused.calls) == 1
    assert refresh(api, successor["refresh_token"]).json()["code"] == "session_revoked"


# --- The grace window is visible; a rotated-away token presented to end a session is reuse ---


def test_refresh_token_grace_and_an_info_log_for_every_replay_inside_the_window(
    api, user, catch, caplog
):
    grace = catch(signals.refresh_token_grace)
    rotated = catch(signals.session_rotated)
    body = login(api)
    sid = current_id(api, body)
    assert refresh(api, body["refresh_token"]).status_code == 200
    with caplog.at_level(logging.INFO, logger="django.security.tokens"):
        for _ in range(3):
            assert refresh(api, body["refresh_token"]).status_code == 200
    assert len(rotated.calls) == 1
    assert [kwargs["replays"] for kwargs in grace.kwargs] == [1, 2, 3]
    [(sender, kwargs), *_] = grace.calls
    assert sender is get_user_model()
    assert set(kwargs) == {"user_id", "session_id", "replays", "request"}
    assert (kwargs["user_id"], kwargs["session_id"]) == (str(user.pk), sid)
    hits = [r for r in caplog.records if "grace window" in r.getMessage()]
    assert [r.levelno for r in hits] == [logging.INFO] * 3
    assert all(sid in r.getMessage() for r in hits)


@pytest.mark.parametrize("how", ["revoke", "logout"])
def test_ending_a_session_with_a_rotated_away_refresh_token_ends_it_as_reuse(
    api, user, catch, revoked, settings, caplog, how
):
    settings.TOKENS = {**settings.TOKENS, "ROTATION_GRACE_PERIOD": timedelta(0)}
    reused = catch(signals.refresh_token_reused)
    body = login(api)
    sid = current_id(api, body)
    successor = refresh(api, body["refresh_token"]).json()

    with caplog.at_level(logging.WARNING, logger="django.security.tokens"):
        if how == "revoke":
            response = api.post("/api/auth/revoke", {"token": body["refresh_token"]}, format="json")
        else:
            response = api.post(
                "/api/auth/logout", {"refresh_token": body["refresh_token"]}, format="json"
            )

    assert response.status_code == 200
    info = api.get("/api/user/info", **bearer(successor["access_token"]))
    assert (info.status_code, info.json()["code"]) == (401, "session_revoked")
    assert [(k["user_id"], k["session_id"]) for k in reused.kwargs] == [(str(user.pk), sid)]
    assert reasons(revoked) == [(sid, "reuse")]
    assert any("reuse" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_ending_a_session_with_its_current_refresh_token_is_no_reuse(api, user, catch, revoked):
    reused = catch(signals.refresh_token_reused)
    body = login(api)
    sid = current_id(api, body)
    successor = refresh(api, body["refresh_token"]).json()
    api.post("/api/auth/revoke", {"token": successor["refresh_token"]}, format="json")
    assert reused.calls == []
    assert reasons(revoked) == [(sid, "revoke")]
