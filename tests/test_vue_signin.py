"""The Vue example's sign-in screens in real Chromium, through django-allauth's headless API.

Sign-up with the emailed code, log in by username or email, the second factor (TOTP codes that
pyotp computes from the secret the screen shows, and recovery codes), the two-factor settings and
the password reset, against the site under gunicorn with real Redis and 3-second access tokens.
Each flow must end in one of the app's sessions: the refresh token in the HttpOnly cookie (never
in a response a script reads), the calls refreshing silently, the sessions page listing it.
The site writes its mail with Django's file backend into this module's directory, where the
tests read the codes a user would read in their mailbox.
"""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests import test_browser, test_vue
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.live]

chromium = test_browser.chromium
allow_db_beside_playwright = test_browser.allow_db_beside_playwright
context = test_browser.context
traffic = test_browser.traffic
page = test_browser.page
vue_dist = test_vue.vue_dist

ACCESS_SECONDS = test_browser.ACCESS_SECONDS
REFRESH = test_browser.REFRESH
INFO = test_browser.INFO
CALLS = test_vue.CALLS
ALLAUTH = "/_allauth/app/v1"
NEW_PASSWORD = "a-new-staple-battery-horse"
WRONG_USERNAME_OR_PASSWORD = "The username and/or password you specified are not correct."

# The line after which allauth's mails (email verification, password reset) put the code.
CODE_AFTER = re.compile(r"enter it in your open browser window\.\s+(\S+)")


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mail")


@pytest.fixture
def site(vue_dist, gunicorn_servers, mailbox, transactional_db):
    return gunicorn_servers(TEST_ACCESS_SECONDS=str(ACCESS_SECONDS), EMAIL_FILE_PATH=str(mailbox))


def mails_to(mailbox: Path, address: str) -> list[email.message.EmailMessage]:
    """Return the messages the site wrote for `address`, oldest first."""
    found = []
    # The file backend writes one file per connection, each message followed by a line of dashes.
    for file in sorted(mailbox.glob("*.log"), key=lambda f: (f.stat().st_mtime_ns, f.name)):
        for text in file.read_text().split("\n" + "-" * 79 + "\n"):
            if not text.strip():
                continue
            message = email.message_from_string(text.lstrip(), policy=policy.default)
            if address in str(message["To"]):
                found.append(message)
    return found


def code_from_mail(mailbox: Path, address: str, already: int = 0) -> str:
    """Return the code in the newest mail to `address`, waiting for mail number `already + 1`."""
    deadline = time.monotonic() + 10
    while len(messages := mails_to(mailbox, address)) <= already:
        assert time.monotonic() < deadline, f"no mail to {address} in {mailbox}"
        time.sleep(0.1)
    body = messages[-1].get_body(("plain",))
    assert body is not None
    match = CODE_AFTER.search(body.get_content())
    assert match, body.get_content()
    return match.group(1)


def sign_up(page: Page, mailbox: Path, username: str) -> None:
    """Sign up as `username` from the login page, verify the emailed code, land signed in."""
    address = f"{username}@example.com"
    page.goto("/vue/")
    expect(page.locator("#login")).to_be_visible()
    page.click("#to-signup")
    page.fill("#signup-email", address)
    page.fill("#signup-username", username)
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#verify-email")).to_be_visible()
    page.fill("#verify-code", code_from_mail(mailbox, address))
    with page.expect_response(f"**{ALLAUTH}/auth/email/verify") as verified:
        page.click("#verify-form button[type=submit]")
    meta = verified.value.json()["meta"]
    # The allauth response names the app's session by its access token only: the refresh
    # token went into the HttpOnly cookie.
    assert meta["is_authenticated"] is True
    assert meta["access_token"]
    assert "refresh_token" not in meta
    expect_signed_in(page, username)


def log_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.goto("/vue/login")
    page.fill("#username", login)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def expect_signed_in(page: Page, username: str) -> None:
    expect(page.locator("#calls")).to_be_visible()
    expect(page.locator("#user-name")).to_have_text(username)


def expect_a_session_like_any_other(page: Page, traffic: test_browser.Traffic) -> None:
    """Check the page's session: one refresh for twenty calls after expiry, listed, no secrets."""
    page.uncheck("#auto-refresh")
    page.wait_for_function("window.vueExample.auth.expiresAt < Date.now()")
    traffic.clear()
    test_vue.call_twenty(page)
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(INFO, 200) == CALLS
    page.click("#nav-sessions")
    expect(page.locator("tr.session .this-device")).to_have_count(1)
    assert "refresh_token" not in page.evaluate("document.cookie")
    stored = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert stored == "[{},{}]"


def test_sign_up_with_the_emailed_code_lands_signed_in_and_refreshes_silently(
    page, traffic, mailbox
):
    sign_up(page, mailbox, "bob")
    # Before its token expires, the timer refreshes it: nobody sees the page log out.
    before = int(page.locator("#refresh-count").inner_text())
    page.wait_for_function(
        f"Number(document.querySelector('#refresh-count').textContent) > {before}",
        timeout=2 * ACCESS_SECONDS * 1000,
    )
    expect_signed_in(page, "bob")
    expect_a_session_like_any_other(page, traffic)
    page.reload()
    expect(page.locator("tr.session .this-device")).to_have_count(1)


def test_a_wrong_verification_code_is_refused_and_the_right_one_signs_in(page, mailbox):
    page.goto("/vue/signup")
    page.fill("#signup-email", "dora@example.com")
    page.fill("#signup-username", "dora")
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#verify-email")).to_be_visible()
    code = code_from_mail(mailbox, "dora@example.com")
    page.fill("#verify-code", "WRONG1" if code != "WRONG1" else "WRONG2")
    page.click("#verify-form button[type=submit]")
    expect(page.locator("#verify-error")).to_have_text("Incorrect code.")
    page.fill("#verify-code", code)
    page.click("#verify-form button[type=submit]")
    expect_signed_in(page, "dora")


def test_a_flow_step_cannot_be_opened_without_its_flow(page):
    # A reload (or a typed address) forgets the pending flow, kept in memory only: start over.
    for step in ("/vue/signup/verify-email", "/vue/login/two-factor"):
        page.goto(step)
        expect(page.locator("#login")).to_be_visible()


def code_with_time_left(totp: pyotp.TOTP, seconds: float = 10) -> str:
    """Return the authenticator's code once `seconds` of its 30-second step are still left.

    allauth takes the current step's code only, and the screen may check it seconds after it
    was typed (turning TOTP on asks for the password first, then sends the code again): a code
    typed at the end of its step would be refused, and the test would fail one run in many.
    """
    left = totp.interval - time.time() % totp.interval
    if left < seconds:
        time.sleep(left + 0.1)
    return totp.now()


def turn_on_totp(page: Page) -> tuple[pyotp.TOTP, list[str]]:
    """Turn TOTP on from the two-factor page; return the app's TOTP and the recovery codes."""
    page.click("#nav-security")
    expect(page.locator("#totp-status")).to_contain_text("Off")
    page.click("#totp-begin")
    secret = page.locator("#totp-secret").inner_text()
    assert f"secret={secret}" in page.locator("#totp-url").inner_text()
    totp = pyotp.TOTP(secret)
    page.fill("#totp-code", "000000" if totp.now() != "000000" else "111111")
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#security-error")).to_have_text("Incorrect code.")
    page.fill("#totp-code", code_with_time_left(totp))
    page.click("#totp-form button[type=submit]")
    # allauth turns a second factor on only for a password confirmed just now; the screen asks
    # for it, then finishes what it was doing.
    page.fill("#reauth-password", "not the password")
    page.click("#reauth-form button[type=submit]")
    expect(page.locator("#security-error")).to_have_text("Incorrect password.")
    page.fill("#reauth-password", PASSWORD)
    page.click("#reauth-form button[type=submit]")
    expect(page.locator("#totp-status")).to_contain_text("On")
    codes = page.locator("#recovery-codes li")
    expect(codes).not_to_have_count(0)
    return totp, [code.strip() for code in codes.all_inner_texts()]


def test_turn_on_totp_then_log_in_with_a_recovery_code_and_with_a_code(page, traffic, mailbox):
    sign_up(page, mailbox, "erin")
    totp, recovery_codes = turn_on_totp(page)
    recovery_code = recovery_codes[0]
    total = len(recovery_codes)

    page.click("#logout")
    expect(page.locator("#login-message")).to_have_text("You have logged out.")
    # The password alone no longer signs in: the second step asks for a code.
    log_in(page, "erin")
    expect(page.locator("#two-factor")).to_be_visible()
    page.fill("#mfa-code", recovery_code)
    page.click("#mfa-form button[type=submit]")
    expect_signed_in(page, "erin")
    page.click("#nav-security")
    expect(page.locator("#recovery-count")).to_have_text(str(total - 1))

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    log_in(page, "erin@example.com")
    expect(page.locator("#two-factor")).to_be_visible()
    page.fill("#mfa-code", recovery_code)  # spent
    page.click("#mfa-form button[type=submit]")
    expect(page.locator("#mfa-error")).to_have_text("Incorrect code.")
    page.fill("#mfa-code", code_with_time_left(totp))
    page.click("#mfa-form button[type=submit]")
    expect_signed_in(page, "erin")
    expect_a_session_like_any_other(page, traffic)


def test_reset_a_forgotten_password_with_the_emailed_code(
    page, traffic, mailbox, make_user, chromium, site
):
    make_user("carol")
    other = chromium.new_context(base_url=site.url)
    try:
        laptop = other.new_page()
        log_in(laptop, "carol")
        expect_signed_in(laptop, "carol")

        log_in(page, "carol", password="forgotten")
        expect(page.locator("#login-error")).to_have_text(WRONG_USERNAME_OR_PASSWORD)
        page.click("#to-reset")
        page.fill("#reset-email", "carol@example.com")
        page.click("#reset-request-form button[type=submit]")
        expect(page.locator("#reset-sent")).to_be_visible()
        page.fill("#reset-code", code_from_mail(mailbox, "carol@example.com"))
        page.fill("#reset-password", NEW_PASSWORD)
        page.click("#reset-form button[type=submit]")
        # The demo site signs in after a reset (ACCOUNT_LOGIN_ON_PASSWORD_RESET).
        expect_signed_in(page, "carol")
        # The new password ended the sessions the old one had started.
        laptop.click("#call-api")
        test_vue.expect_login_page(laptop, "Your session has ended. Please log in again.")
    finally:
        other.close()
    page.click("#logout")
    log_in(page, "carol", password=PASSWORD)
    expect(page.locator("#login-error")).to_have_text(WRONG_USERNAME_OR_PASSWORD)
    # By email this time: allauth takes either.
    log_in(page, "carol@example.com", password=NEW_PASSWORD)
    expect_signed_in(page, "carol")
    expect_a_session_like_any_other(page, traffic)


def test_turn_totp_off_and_the_password_alone_signs_in_again(page, mailbox):
    sign_up(page, mailbox, "frank")
    turn_on_totp(page)
    page.click("#totp-off")
    expect(page.locator("#totp-status")).to_contain_text("Off")
    expect(page.locator("#recovery-count")).to_have_count(0)
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    log_in(page, "frank")
    expect_signed_in(page, "frank")


def test_a_sign_in_in_one_tab_signs_in_the_tab_on_the_login_page(page, context, mailbox):
    waiting = context.new_page()
    waiting.goto("/vue/login")
    expect(waiting.locator("#login")).to_be_visible()
    sign_up(page, mailbox, "gina")
    # The client hands the session to the other tabs, whichever way it started.
    expect_signed_in(waiting, "gina")
    test_vue.call_twenty(waiting)
