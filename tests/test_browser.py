"""The demo page and the JS client in real Chromium, against gunicorn with real Redis.

The server runs with DEBUG off, so the refresh cookie is Secure: Chromium accepts Secure cookies
from http://127.0.0.1 (a potentially trustworthy origin), as it would from https in production.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import PASSWORD
from tokens import services

pytestmark = [pytest.mark.browser, pytest.mark.live]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACCESS_SECONDS = 3
REFRESH = "/api/auth/refresh"
INFO = "/api/user/info"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def allow_db_beside_playwright(monkeypatch):
    # Playwright's sync API keeps an event loop running in this thread; Django would take the
    # test's own database calls (creating users, flushing) for calls from async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def alice(transactional_db, make_user):
    return make_user("alice")


@pytest.fixture
def site(gunicorn_servers, alice):
    return gunicorn_servers(TEST_ACCESS_SECONDS=str(ACCESS_SECONDS))


class Traffic:
    """The requests and responses a browser context sends and receives, by path."""

    def __init__(self, context: BrowserContext) -> None:
        self.requests: list[str] = []
        self.responses: list[tuple[str, int]] = []
        context.on("request", lambda r: self.requests.append(urlparse(r.url).path))
        context.on("response", lambda r: self.responses.append((urlparse(r.url).path, r.status)))

    def clear(self) -> None:
        self.requests.clear()
        self.responses.clear()

    def sent(self, path: str) -> int:
        return self.requests.count(path)

    def answered(self, path: str, status: int) -> int:
        return self.responses.count((path, status))


@pytest.fixture
def context(chromium, site) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=site.url)
    context.set_default_timeout(10_000)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    yield context
    context.close()
    assert errors == [], errors


@pytest.fixture
def traffic(context) -> Traffic:
    return Traffic(context)


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


def log_in(page: Page, password: str = PASSWORD) -> None:
    page.goto("/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#username", "alice")
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def expect_signed_in(page: Page) -> None:
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#user-name")).to_have_text("alice")


def call_api_ten_times(page: Page) -> None:
    page.click("#call-api")
    expect(page.locator("#api-result")).to_have_text("10 of 10 calls succeeded")


def test_wrong_password_shows_the_error_and_the_right_one_signs_in(page):
    log_in(page, password="wrong password")
    expect(page.locator("#login-error")).to_have_text(
        "Unable to log in with the provided credentials."
    )
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect_signed_in(page)
    expect(page.locator("#user-email")).to_have_text("alice@example.com")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^\d\.\d s$"))


def test_refresh_cookie_is_httponly_and_invisible_to_scripts(page, context):
    log_in(page)
    expect_signed_in(page)
    cookies = {c["name"]: c for c in context.cookies()}
    refresh = cookies["refresh_token"]
    assert (refresh["httpOnly"], refresh["secure"], refresh["path"]) == (True, True, "/api/auth/")
    visible = page.evaluate("document.cookie")
    assert "csrftoken=" in visible
    assert "refresh_token" not in visible
    assert refresh["value"] not in visible
    # Nor is the refresh token anywhere a script could read it.
    stored = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert refresh["value"] not in stored


def test_ten_calls_after_the_token_expired_send_one_refresh(page, traffic):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    page.wait_for_function("window.demo.client.expiresAt < Date.now()")
    expect(page.locator("#countdown")).to_have_text("expired")
    traffic.clear()
    call_api_ten_times(page)
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(REFRESH, 200) == 1
    # The calls waited for the refresh: none went out with the expired token.
    assert traffic.sent(INFO) == 10
    assert traffic.answered(INFO, 200) == 10


def test_a_forgotten_token_takes_the_401_path_with_one_refresh(page, traffic):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    traffic.clear()
    page.click("#forget-token")
    call_api_ten_times(page)
    assert traffic.answered(INFO, 401) == 10
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(INFO, 200) == 10


def test_the_token_is_refreshed_in_the_background_before_it_expires(page, traffic):
    log_in(page)
    expect_signed_in(page)
    expect(page.locator("#refresh-count")).to_have_text("2", timeout=3 * ACCESS_SECONDS * 1000)
    call_api_ten_times(page)
    assert traffic.answered(INFO, 401) == 0


def test_a_reload_restores_the_session_through_the_cookie(page, traffic):
    log_in(page)
    expect_signed_in(page)
    traffic.clear()
    page.reload()
    expect_signed_in(page)
    expect(page.locator("#log")).to_contain_text("Session restored through the refresh cookie")
    assert traffic.answered(REFRESH, 200) == 1
    call_api_ten_times(page)


def test_two_tabs_refreshing_at_the_same_moment_both_stay_signed_in(page, context, traffic):
    log_in(page)
    expect_signed_in(page)
    second = context.new_page()
    second.goto("/")
    expect_signed_in(second)
    for tab in (page, second):
        tab.uncheck("#auto-refresh")
    traffic.clear()
    moment = int(time.time() * 1000) + 500
    start = """at => setTimeout(() => {
        window.demo.client.refresh().then(() => { window.outcome = "ok"; },
                                          (error) => { window.outcome = error.name; });
    }, at - Date.now())"""
    for tab in (page, second):
        tab.evaluate(start, moment)
    for tab in (page, second):
        tab.wait_for_function("window.outcome !== undefined")
        assert tab.evaluate("window.outcome") == "ok"
    # The lock lets one tab refresh; the other gets the token by broadcast (or, if the message
    # comes late, rotates once more with the new cookie). Never twice with the same cookie.
    assert 1 <= traffic.sent(REFRESH) <= 2
    assert traffic.answered(REFRESH, 403) == 0
    for tab in (page, second):
        call_api_ten_times(tab)
        expect_signed_in(tab)
    # Both tabs end up holding the same access token (the broadcast reaches the other tab).
    deadline = time.monotonic() + 5
    while len({tab.evaluate("window.demo.client.accessToken") for tab in (page, second)}) != 1:
        assert time.monotonic() < deadline, "the tabs kept different access tokens"
        page.wait_for_timeout(50)


def test_two_tabs_refreshing_on_their_own_timers_stay_signed_in(page, context, traffic):
    log_in(page)
    expect_signed_in(page)
    second = context.new_page()
    second.goto("/")
    expect_signed_in(second)
    traffic.clear()
    # Three token lifetimes: each tab's timer comes due, the lock and the broadcast share the work.
    page.wait_for_timeout(3 * ACCESS_SECONDS * 1000)
    assert traffic.answered(REFRESH, 200) >= 2
    assert traffic.answered(REFRESH, 403) == 0
    for tab in (page, second):
        call_api_ten_times(tab)


def test_revoking_the_session_on_the_server_sends_the_page_to_login(page, alice):
    log_in(page)
    expect_signed_in(page)
    ended = services.end_all_sessions(services.user_id_of(alice), reason="admin")
    assert len(ended) == 1
    # No click needed: the next background refresh is refused and the page says so.
    expect(page.locator("#login")).to_be_visible(timeout=3 * ACCESS_SECONDS * 1000)
    expect(page.locator("#login-message")).to_contain_text("Your session has ended")
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def test_logout_signs_out_every_tab_and_removes_the_cookie(page, context):
    log_in(page)
    expect_signed_in(page)
    second = context.new_page()
    second.goto("/")
    expect_signed_in(second)
    page.click("#logout")
    expect(page.locator("#login-message")).to_have_text("You have logged out.")
    expect(second.locator("#login-message")).to_have_text("You logged out in another tab.")
    wait_until_the_refresh_cookie_is_gone(page, context)
    second.reload()
    expect(second.locator("#login")).to_be_visible()


def test_logout_everywhere_ends_the_other_devices_sessions(page, chromium, site):
    log_in(page)
    expect_signed_in(page)
    other = chromium.new_context(base_url=site.url)
    try:
        laptop = other.new_page()
        log_in(laptop)
        expect_signed_in(laptop)
        page.click("#logout-all")
        expect(page.locator("#login-message")).to_have_text("You have logged out on every device.")
        laptop.click("#call-api")
        expect(laptop.locator("#login")).to_be_visible()
        expect(laptop.locator("#login-message")).to_contain_text("Your session has ended")
    finally:
        other.close()


def test_the_site_reads_the_access_lifetime_from_access_token_seconds(gunicorn_servers, alice):
    # `make run ACCESS_TOKEN_SECONDS=30`: what lets the demo page show a refresh before expiry.
    server = gunicorn_servers(workers=1, ACCESS_TOKEN_SECONDS="30")
    response = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 30


def wait_until_the_refresh_cookie_is_gone(page: Page, context: BrowserContext) -> None:
    """Wait (at most 5 s) until the browser no longer holds the refresh cookie."""
    deadline = time.monotonic() + 5
    while "refresh_token" in {c["name"] for c in context.cookies()}:
        assert time.monotonic() < deadline, "the refresh cookie was not deleted"
        page.wait_for_timeout(50)


@pytest.mark.parametrize(("seconds", "hint_shown"), [("30", False), ("3600", True)])
def test_the_hint_to_use_short_tokens_shows_only_where_it_would_shorten_them(
    chromium, gunicorn_servers, alice, seconds, hint_shown
):
    server = gunicorn_servers(workers=1, ACCESS_TOKEN_SECONDS=seconds)
    context = chromium.new_context(base_url=server.url)
    try:
        page = context.new_page()
        log_in(page)
        expect_signed_in(page)
        hint = page.locator("#short-token-hint")
        if hint_shown:
            expect(hint).to_be_visible()
        else:
            expect(hint).to_be_hidden()
    finally:
        context.close()
