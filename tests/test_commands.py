"""The operator commands `tokens_sessions` and `tokens_revoke`."""

import string
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import bearer, current_id, login
from tests.harness import free_port
from tokens import services

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def status_of(api, body):
    return api.get("/api/user/info", **bearer(body["access_token"])).status_code


def test_tokens_sessions_lists_each_live_session_newest_first(api, user):
    first = login(api, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.9")
    second = login(api, HTTP_USER_AGENT="curl/8.5.0")

    lines = run("tokens_sessions", "alice").splitlines()

    assert lines[0].split() == [
        "SESSION",
        "DEVICE",
        "IP",
        "STARTED",
        "LAST",
        "REFRESHED",
        "EXPIRES",
    ]
    assert len(lines) == 3
    assert lines[1].startswith(current_id(api, second))
    assert "curl" in lines[1]
    assert lines[2].startswith(current_id(api, first))
    assert "Firefox on Linux" in lines[2]
    assert "203.0.113.9" in lines[2]


def test_tokens_sessions_says_when_there_are_none(user):
    assert run("tokens_sessions", "alice") == "alice has no live sessions.\n"


def test_tokens_revoke_ends_every_session_of_the_user_only(api, make_user):
    make_user("alice")
    make_user("bob")
    alices = [login(api, "alice") for _ in range(3)]
    bobs = login(api, "bob")

    assert run("tokens_revoke", "alice") == "Ended 3 sessions of alice.\n"

    assert [status_of(api, body) for body in alices] == [401, 401, 401]
    refresh = api.post(
        "/api/auth/refresh", {"refresh_token": alices[0]["refresh_token"]}, format="json"
    )
    assert refresh.status_code == 403
    assert refresh.json()["code"] == "session_revoked"
    assert status_of(api, bobs) == 200
    assert run("tokens_revoke", "alice") == "Ended 0 sessions of alice.\n"


def test_tokens_revoke_session_ends_just_that_one(api, user):
    kept, ended = login(api), login(api)
    sid = current_id(api, ended)

    assert run("tokens_revoke", "alice", "--session", sid) == f"Ended session {sid} of alice.\n"

    assert status_of(api, ended) == 401
    assert status_of(api, kept) == 200
    assert run("tokens_sessions", "alice").count("\n") == 2


URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_new_session_ids_never_start_with_a_dash_and_stay_url_safe_and_random():
    # One id in 64 started with "-" before (secrets.token_urlsafe); 20,000 draws would hold
    # about 300 of them.
    ids = [services.new_session_id() for _ in range(20000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {16}
    assert set("".join(ids)) == URL_SAFE  # "-" still appears, just never first
    assert {i[0] for i in ids} == URL_SAFE - {"-"}
    assert len(set(ids)) == len(ids)


def test_every_login_gets_such_an_id(api, user):
    body = login(api)
    sid = current_id(api, body)
    assert len(sid) == 16 and set(sid) <= URL_SAFE and not sid.startswith("-")


def test_tokens_revoke_ends_a_session_whose_id_starts_with_a_dash(api, user, monkeypatch):
    # A session made by an earlier version, whose ids could start with "-".
    monkeypatch.setattr(services, "new_session_id", lambda: "-0ldStyleSessi0n")
    legacy = login(api)
    monkeypatch.undo()
    kept = login(api)

    # As docs/sessions.md writes it: --session=ID (argparse reads `--session -0ld...` as
    # two options).
    out = run("tokens_revoke", "alice", "--session=-0ldStyleSessi0n")

    assert out == "Ended session -0ldStyleSessi0n of alice.\n"
    assert status_of(api, legacy) == 401
    assert status_of(api, kept) == 200


@pytest.mark.parametrize("command", ["tokens_sessions", "tokens_revoke"])
def test_unknown_user_is_a_clear_error(user, command):
    with pytest.raises(CommandError, match=r"^No user named 'nobody'\.$"):
        call_command(command, "nobody")


def test_unknown_or_foreign_session_id_is_a_clear_error_and_ends_nothing(api, make_user):
    make_user("alice")
    make_user("bob")
    bobs = login(api, "bob")

    with pytest.raises(CommandError, match=r"^alice has no live session 'nope'\.$"):
        call_command("tokens_revoke", "alice", "--session", "nope")
    with pytest.raises(CommandError, match="alice has no live session"):
        call_command("tokens_revoke", "alice", "--session", current_id(api, bobs))
    assert status_of(api, bobs) == 200


@pytest.mark.redis_store
def test_commands_report_a_store_outage_as_an_error(user, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    for command in ["tokens_sessions", "tokens_revoke"]:
        with pytest.raises(CommandError, match="The session store is unavailable"):
            call_command(command, "alice")
