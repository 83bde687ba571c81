"""django-allauth headless ending in the app's sessions (tokens.contrib.allauth), in process.

Every flow goes through allauth's real app API at /_allauth/app/v1/ and the app's own endpoints
at /api/auth/, on the run's real Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, bearer

APP = "/_allauth/app/v1"
UA = "allauth-test-agent/1.0"


def call(
    client: Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    access: str | None = None,
    session_token: str | None = None,
    **extra: Any,
) -> Any:
    """Send one JSON request to allauth's app API and return the response."""
    headers: dict[str, Any] = {"HTTP_USER_AGENT": UA, **extra}
    if access is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {access}"
    if session_token is not None:
        headers["HTTP_X_SESSION_TOKEN"] = session_token
    send = getattr(client, method)
    if body is None:
        return send(APP + path, **headers)
    return send(APP + path, body, content_type="application/json", **headers)


def allauth_login(client: Client, **credentials: str) -> dict[str, Any]:
    """Log in through allauth's app client and return the response's meta."""
    response = call(client, "post", "/auth/login", {"password": PASSWORD, **credentials})
    assert response.status_code == 200, response.content
    meta: dict[str, Any] = response.json()["meta"]
    assert meta["is_authenticated"] is True
    return meta


def my_sessions(client: Client, access: str) -> list[dict[str, Any]]:
    """Return the app's session list as the holder of `access` sees it."""
    response = client.get("/api/auth/sessions", **bearer(access))
    assert response.status_code == 200, response.content
    sessions: list[dict[str, Any]] = response.json()
    return sessions


def allauth_refresh(client: Client, refresh: str) -> Any:
    """Refresh through allauth's endpoint."""
    return call(client, "post", "/tokens/refresh", {"refresh_token": refresh})


def app_refresh(client: Client, refresh: str) -> Any:
    """Refresh through the app's own endpoint."""
    return client.post(
        "/api/auth/refresh", {"refresh_token": refresh}, content_type="application/json"
    )


def session_user(client: Client, access: str) -> Any:
    """Return allauth's `GET /auth/session` as the holder of `access` sees it."""
    return call(client, "get", "/auth/session", access=access)


def assert_full_session_life(client: Client, meta: dict[str, Any], username: str) -> None:
    """Hold a session a flow ended in to the app's rules: list, refresh both ways, reuse, end."""
    access, refresh = meta["access_token"], meta["refresh_token"]
    # It is one of the app's sessions, with the client's user agent.
    sessions = my_sessions(client, access)
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == UA
    assert current[0]["ip"] == "127.0.0.1"
    # The access token authenticates allauth's own endpoints.
    answer = session_user(client, access)
    assert answer.status_code == 200, answer.content
    assert answer.json()["data"]["user"]["username"] == username
    # allauth's refresh endpoint rotates: a new pair, the old refresh token is spent.
    rotated = allauth_refresh(client, refresh)
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()["data"]
    assert second["refresh_token"] != refresh
    # The app's refresh endpoint takes the successor: the same session goes on.
    third = app_refresh(client, second["refresh_token"])
    assert third.status_code == 200, third.content
    latest = third.json()
    assert [s["id"] for s in my_sessions(client, latest["access_token"]) if s["current"]] == [
        current[0]["id"]
    ]
    # The first refresh token, presented again after its successor's successor exists: reuse.
    # allauth refuses it, and the whole session is over, its live access token included.
    replay = allauth_refresh(client, refresh)
    assert replay.status_code == 400, replay.content
    assert client.get("/api/auth/sessions", **bearer(latest["access_token"])).status_code == 401
    assert session_user(client, latest["access_token"]).status_code == 401
    assert app_refresh(client, latest["refresh_token"]).status_code == 403


@pytest.fixture
def allauth_client(db: None) -> Client:
    """Return a Django test client (allauth's app client needs no cookies)."""
    return Client()


def test_password_login_by_username_starts_one_of_the_apps_sessions(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    assert {"access_token", "refresh_token", "session_token"} <= set(meta)
    assert meta["token_type"] == "Bearer"
    assert_full_session_life(allauth_client, meta, "alice")


def test_password_login_by_email_starts_one_of_the_apps_sessions(allauth_client, user):
    meta = allauth_login(allauth_client, email="alice@example.com")
    assert_full_session_life(allauth_client, meta, "alice")


def test_a_wrong_password_starts_no_session(allauth_client, user):
    response = call(
        allauth_client, "post", "/auth/login", {"username": "alice", "password": "wrong-one"}
    )
    assert response.status_code == 400
    assert "access_token" not in response.json().get("meta", {})


def test_a_session_from_allauth_is_the_same_as_one_from_the_login_endpoint(allauth_client, user):
    # The pair works on the app's side exactly like /api/auth/login's.
    meta = allauth_login(allauth_client, username="alice")
    response = allauth_client.get("/api/user/info", **bearer(meta["access_token"]))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    own = allauth_client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    ).json()
    assert len(my_sessions(allauth_client, own["access_token"])) == 2


def test_the_access_token_authenticates_allauths_account_endpoints(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    emails = call(allauth_client, "get", "/account/email", access=meta["access_token"])
    assert emails.status_code == 200, emails.content
    assert [e["email"] for e in emails.json()["data"]] == []  # made by create_user: no rows
    added = call(
        allauth_client,
        "post",
        "/account/email",
        {"email": "alice2@example.com"},
        access=meta["access_token"],
    )
    assert added.status_code == 200, added.content
    assert [e["email"] for e in added.json()["data"]] == ["alice2@example.com"]
    authenticators = call(
        allauth_client, "get", "/account/authenticators", access=meta["access_token"]
    )
    assert authenticators.status_code == 200, authenticators.content
    # Such a request is not a new sign-in: no new tokens, no new session token.
    assert "access_token" not in authenticators.json().get("meta", {})
    assert "session_token" not in added.json().get("meta", {})
    assert len(my_sessions(allauth_client, meta["access_token"])) == 1


def test_an_invalid_access_token_is_anonymous_to_allauth(allauth_client, user):
    assert session_user(allauth_client, "not-a-token").status_code == 401
    response = call(allauth_client, "get", "/account/email", access="not-a-token")
    assert response.status_code == 401


def test_allauth_reads_the_bearer_header_simplejwt_s_settings_name(allauth_client, user, settings):
    """The header and types of SIMPLE_JWT, as the DRF class and Ninja's bearers read them."""
    meta = allauth_login(allauth_client, username="alice")
    access = meta["access_token"]
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        "AUTH_HEADER_NAME": "HTTP_X_ACCESS",
        "AUTH_HEADER_TYPES": ("JWT",),
    }

    assert (
        call(allauth_client, "get", "/account/email", HTTP_X_ACCESS=f"JWT {access}").status_code
        == 200
    )
    # The header and the scheme it no longer names: anonymous, as the DRF class answers.
    assert call(allauth_client, "get", "/account/email", access=access).status_code == 401
    assert (
        call(allauth_client, "get", "/account/email", HTTP_X_ACCESS=f"Bearer {access}").status_code
        == 401
    )
    # One of ours that is not "<type> <token>" names no session either.
    assert (
        call(allauth_client, "get", "/account/email", HTTP_X_ACCESS=f"JWT {access} x").status_code
        == 401
    )


def test_allauths_logout_ends_the_apps_session(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    response = call(allauth_client, "delete", "/auth/session", access=meta["access_token"])
    assert response.status_code == 401  # allauth's answer: now signed out
    assert allauth_client.get("/api/user/info", **bearer(meta["access_token"])).status_code == 401
    assert app_refresh(allauth_client, meta["refresh_token"]).status_code == 403
    assert allauth_refresh(allauth_client, meta["refresh_token"]).status_code == 400
    # The session token allauth handed out is spent too.
    again = call(allauth_client, "get", "/auth/session", session_token=meta["session_token"])
    assert again.status_code in (401, 410)


def test_allauths_logout_by_session_token_ends_the_apps_session(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    response = call(allauth_client, "delete", "/auth/session", session_token=meta["session_token"])
    assert response.status_code == 401
    assert allauth_client.get("/api/user/info", **bearer(meta["access_token"])).status_code == 401


@pytest.mark.parametrize("how", ["logout", "logout-all", "password", "admin"])
def test_ending_the_session_on_the_apps_side_signs_the_client_out_of_allauth(
    allauth_client, user, admin_client, how
):
    meta = allauth_login(allauth_client, username="alice")
    access = meta["access_token"]
    assert session_user(allauth_client, access).status_code == 200
    if how == "logout":
        response = allauth_client.post(
            "/api/auth/logout", {}, content_type="application/json", **bearer(access)
        )
    elif how == "logout-all":
        response = allauth_client.post(
            "/api/auth/logout-all", {}, content_type="application/json", **bearer(access)
        )
    elif how == "password":
        user.set_password("another-horse-battery-staple")
        user.save()
        response = None
    else:
        # The admin's End button on the user's page.
        session_id = next(s["id"] for s in my_sessions(allauth_client, access) if s["current"])
        ended = admin_client.post(f"/admin/accounts/user/{user.pk}/sessions/{session_id}/end/")
        assert ended.status_code == 302
        response = None
    if response is not None:
        assert response.status_code == 200, response.content
    assert session_user(allauth_client, access).status_code == 401
    assert call(allauth_client, "get", "/account/email", access=access).status_code == 401
    by_token = call(allauth_client, "get", "/auth/session", session_token=meta["session_token"])
    assert by_token.status_code == 410
    assert allauth_refresh(allauth_client, meta["refresh_token"]).status_code == 400


def test_a_refresh_inside_the_grace_window_gives_the_same_successor(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    first = allauth_refresh(allauth_client, meta["refresh_token"])
    again = allauth_refresh(allauth_client, meta["refresh_token"])
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["refresh_token"] == again.json()["data"]["refresh_token"]


def test_an_invalid_refresh_token_is_refused_as_allauth_refuses(allauth_client, db):
    response = allauth_refresh(allauth_client, "garbage")
    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.mark.redis_store
def test_a_store_outage_is_a_clear_503_never_a_500(allauth_client, user, redis_server, settings):
    meta = allauth_login(allauth_client, username="alice")
    # The store's Redis stops answering: a port nothing listens on.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    for response in (
        allauth_refresh(allauth_client, meta["refresh_token"]),
        session_user(allauth_client, meta["access_token"]),
        call(allauth_client, "get", "/auth/session", session_token=meta["session_token"]),
    ):
        assert response.status_code == 503, response.content
        assert response.json()["code"] == "store_unavailable"
        assert response["Retry-After"]


def test_the_cookie_transport_sets_the_apps_refresh_cookie(allauth_client, user):
    response = call(
        allauth_client,
        "post",
        "/auth/login",
        {"username": "alice", "password": PASSWORD},
        HTTP_X_TOKENS_TRANSPORT="cookie",
    )
    assert response.status_code == 200, response.content
    meta = response.json()["meta"]
    assert "access_token" in meta
    assert "refresh_token" not in meta
    cookie = response.cookies["refresh_token"]
    assert cookie["httponly"]
    assert cookie["path"] == "/api/auth/"
    # The same flags as /api/auth/login with use_cookie.
    own = Client().post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD, "use_cookie": True},
        content_type="application/json",
    )
    own_cookie = own.cookies["refresh_token"]
    for flag in ("path", "secure", "httponly", "samesite", "domain"):
        assert cookie[flag] == own_cookie[flag], flag
    assert "csrftoken" in response.cookies
    # The browser refreshes through /api/auth/refresh with the cookie and the CSRF header.
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = allauth_client.cookies
    csrf = response.cookies["csrftoken"].value
    refreshed = browser.post(
        "/api/auth/refresh", {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert refreshed.status_code == 200, refreshed.content
    assert "refresh_token" not in refreshed.json()
    assert refreshed.cookies["refresh_token"].value != cookie.value


# Sign-up with email verification by code, and password reset by code: the codes are read from
# the emails Django's file backend writes, as the demo does with EMAIL_FILE_PATH.


@pytest.fixture
def mailbox(settings, tmp_path):
    """Send the site's email to files in a fresh directory; return that directory."""
    import django

    backend = "django.core.mail.backends.filebased.EmailBackend"
    if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND and EMAIL_FILE_PATH
        settings.MAILERS = {
            "default": {"BACKEND": backend, "OPTIONS": {"file_path": str(tmp_path)}}
        }
    else:
        settings.EMAIL_BACKEND = backend
        settings.EMAIL_FILE_PATH = str(tmp_path)
    return tmp_path


def last_code(mailbox: Any, to: str) -> str:
    """Return the code in the newest email to `to` that the file backend wrote."""
    import re

    mails = sorted(mailbox.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    bodies = [p.read_text() for p in mails]
    bodies = [b for b in bodies if f"To: {to}" in b]
    assert bodies, f"no email to {to} in {mailbox}"
    codes = re.findall(r"^\s*([A-Z0-9]{3,4}-?[A-Z0-9]{3,4})\s*$", bodies[-1], re.MULTILINE)
    assert codes, bodies[-1]
    return codes[-1]


def test_sign_up_verifies_the_email_by_code_and_ends_in_a_session(allauth_client, mailbox):
    signup = call(
        allauth_client,
        "post",
        "/auth/signup",
        {"email": "carol@example.com", "username": "carol", "password": "a-long-Pass-phrase-7"},
    )
    assert signup.status_code == 401, signup.content
    body = signup.json()
    pending = [f["id"] for f in body["data"]["flows"] if f.get("is_pending")]
    assert pending == ["verify_email"]
    assert "access_token" not in body["meta"]
    flow = body["meta"]["session_token"]
    wrong = call(
        allauth_client, "post", "/auth/email/verify", {"key": "WRONG1"}, session_token=flow
    )
    assert wrong.status_code == 400
    code = last_code(mailbox, "carol@example.com")
    verified = call(allauth_client, "post", "/auth/email/verify", {"key": code}, session_token=flow)
    assert verified.status_code == 200, verified.content
    meta = verified.json()["meta"]
    assert_full_session_life(allauth_client, meta, "carol")
    # Carol now logs in with her email or her username, each time a new session.
    again = allauth_login(
        allauth_client, email="carol@example.com", password="a-long-Pass-phrase-7"
    )
    assert len(my_sessions(allauth_client, again["access_token"])) == 1


def test_password_reset_by_code_ends_every_session_and_starts_a_new_one(
    allauth_client, user, mailbox
):
    # alice has a verified email row, as a user who signed up would.
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email="alice@example.com", verified=True, primary=True)
    before = allauth_login(allauth_client, username="alice")
    request = call(allauth_client, "post", "/auth/password/request", {"email": "alice@example.com"})
    assert request.status_code == 401, request.content
    flow = request.json()["meta"]["session_token"]
    code = last_code(mailbox, "alice@example.com")
    new_password = "another-Horse-battery-9"
    reset = call(
        allauth_client,
        "post",
        "/auth/password/reset",
        {"key": code, "password": new_password},
        session_token=flow,
    )
    assert reset.status_code == 200, reset.content
    meta = reset.json()["meta"]
    # The reset ended the session that knew the old password, on both sides.
    assert session_user(allauth_client, before["access_token"]).status_code == 401
    assert app_refresh(allauth_client, before["refresh_token"]).status_code == 403
    assert len(my_sessions(allauth_client, meta["access_token"])) == 1
    assert_full_session_life(allauth_client, meta, "alice")
    allauth_login(allauth_client, username="alice", password=new_password)


# Two-factor: TOTP with real codes (pyotp) and a recovery code.


def activate_totp(client: Client, access: str) -> tuple[Any, list[str]]:
    """Turn TOTP on for the access token's user through allauth; return it and recovery codes."""
    import pyotp

    # Set up TOTP with the access token alone: allauth reads the secret, the app scans it.
    offer = call(client, "get", "/account/authenticators/totp", access=access)
    assert offer.status_code == 404, offer.content
    totp = pyotp.TOTP(offer.json()["meta"]["secret"])
    # allauth asks for a fresh password first; it remembers that in the Django session the
    # access token names, for the next request.
    refused = call(
        client, "post", "/account/authenticators/totp", {"code": totp.now()}, access=access
    )
    assert refused.status_code == 401
    assert "reauthenticate" in [f["id"] for f in refused.json()["data"]["flows"]]
    again = call(client, "post", "/auth/reauthenticate", {"password": PASSWORD}, access=access)
    assert again.status_code == 200, again.content
    assert "session_token" not in again.json().get("meta", {})
    assert "access_token" not in again.json().get("meta", {})
    activated = call(
        client,
        "post",
        "/account/authenticators/totp",
        {"code": totp.now()},
        access=access,
    )
    assert activated.status_code == 200, activated.content
    codes = call(client, "get", "/account/authenticators/recovery-codes", access=access)
    assert codes.status_code == 200, codes.content
    recovery = codes.json()["data"]["unused_codes"]
    assert recovery
    return totp, recovery


def test_totp_and_a_recovery_code_each_end_in_a_session(allauth_client, user):
    meta = allauth_login(allauth_client, username="alice")
    totp, recovery = activate_totp(allauth_client, meta["access_token"])

    # A password alone no longer signs alice in: no session, the second factor is pending.
    first = call(allauth_client, "post", "/auth/login", {"username": "alice", "password": PASSWORD})
    assert first.status_code == 401, first.content
    assert "access_token" not in first.json()["meta"]
    assert [f["id"] for f in first.json()["data"]["flows"] if f.get("is_pending")] == [
        "mfa_authenticate"
    ]
    flow = first.json()["meta"]["session_token"]
    wrong = call(
        allauth_client, "post", "/auth/2fa/authenticate", {"code": "000000"}, session_token=flow
    )
    assert wrong.status_code == 400
    done = call(
        allauth_client, "post", "/auth/2fa/authenticate", {"code": totp.now()}, session_token=flow
    )
    assert done.status_code == 200, done.content
    assert_full_session_life(allauth_client, done.json()["meta"], "alice")

    # A recovery code instead of the TOTP code.
    second = call(
        allauth_client, "post", "/auth/login", {"username": "alice", "password": PASSWORD}
    )
    assert second.status_code == 401, second.content
    flow = second.json()["meta"]["session_token"]
    done = call(
        allauth_client,
        "post",
        "/auth/2fa/authenticate",
        {"code": recovery[0]},
        session_token=flow,
    )
    assert done.status_code == 200, done.content
    assert_full_session_life(allauth_client, done.json()["meta"], "alice")
    # A recovery code works once.
    third = call(allauth_client, "post", "/auth/login", {"username": "alice", "password": PASSWORD})
    flow = third.json()["meta"]["session_token"]
    reused = call(
        allauth_client, "post", "/auth/2fa/authenticate", {"code": recovery[0]}, session_token=flow
    )
    assert reused.status_code == 400


def test_a_live_access_token_outlives_an_expired_django_session(allauth_client, user):
    # Django's session (allauth's scratch state) expired or was cleared while the app's session
    # lives on: the access token still opens allauth's endpoints, for the same user.
    from django.contrib.sessions.models import Session

    meta = allauth_login(allauth_client, username="alice")
    Session.objects.all().delete()
    answer = session_user(allauth_client, meta["access_token"])
    assert answer.status_code == 200, answer.content
    assert answer.json()["data"]["user"]["username"] == "alice"
    assert "session_token" not in answer.json().get("meta", {})
    # And allauth's logout still ends the app's session.
    out = call(allauth_client, "delete", "/auth/session", access=meta["access_token"])
    assert out.status_code == 401
    assert app_refresh(allauth_client, meta["refresh_token"]).status_code == 403


def test_the_cookie_transport_without_its_middleware_is_refused_loudly(
    allauth_client, user, settings
):
    from django.core.exceptions import ImproperlyConfigured

    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "tokens.contrib.allauth.RefreshCookieMiddleware"
    ]
    allauth_client.raise_request_exception = True
    with pytest.raises(ImproperlyConfigured, match="RefreshCookieMiddleware"):
        call(
            allauth_client,
            "post",
            "/auth/login",
            {"username": "alice", "password": PASSWORD},
            HTTP_X_TOKENS_TRANSPORT="cookie",
        )
    # No session was started for it.
    own = allauth_login(allauth_client, username="alice")
    assert len(my_sessions(allauth_client, own["access_token"])) == 1


def test_the_app_s_password_login_refuses_an_account_with_a_second_factor(allauth_client, user):
    # POST /api/auth/login checks the password only: an account whose second factor allauth
    # asks for must not get a session there (TOKENS["PASSWORD_LOGIN_ALLOWED"] in the demo).
    meta = allauth_login(allauth_client, username="alice")
    activate_totp(allauth_client, meta["access_token"])
    before = len(my_sessions(allauth_client, meta["access_token"]))

    refused = allauth_client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    grant = allauth_client.post(
        "/api/auth/token",
        {"grant_type": "password", "username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    wrong = allauth_client.post(
        "/api/auth/login",
        {"username": "alice", "password": "not-the-password"},
        content_type="application/json",
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "password_login_refused")
    assert (grant.status_code, grant.json()["code"]) == (400, "password_login_refused")
    # Only the right password learns that the account has a second factor.
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_credentials")
    assert len(my_sessions(allauth_client, meta["access_token"])) == before


def test_the_app_s_password_login_still_signs_in_an_account_without_one(allauth_client, user):
    response = allauth_client.post(
        "/api/auth/login",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
