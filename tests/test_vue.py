"""The Vue 3 example (examples/vue) in real Chromium: its Vite build served by the site under
gunicorn with real Redis and 3-second access tokens, its axios calls going through the package's
adapter. Its login goes through django-allauth's headless API; the sign-up, email verification,
second factor and password reset screens are in tests/test_vue_signin.py.

The build runs once per test session (npm ci when the lockfile changed, then vite build), so a
fresh machine needs npm and the npm registry, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests import test_browser
from tests.conftest import PASSWORD
from tests.npm_helpers import build_vue_example
from tokens import services

pytestmark = [pytest.mark.browser, pytest.mark.live]

# The demo page's browser fixtures, shared: Chromium, the database beside Playwright, a context
# (which starts from this module's `site`), its traffic and a page.
chromium = test_browser.chromium
allow_db_beside_playwright = test_browser.allow_db_beside_playwright
context = test_browser.context
traffic = test_browser.traffic
page = test_browser.page

ACCESS_SECONDS = test_browser.ACCESS_SECONDS
INFO = test_browser.INFO
REFRESH = test_browser.REFRESH

CALLS = 20
SESSIONS = "/api/auth/sessions"

# Twenty calls at once through the app's axios instance, each reported as "ok" or the name of
# the error it rejected with; a call still unsettled after 15 seconds is reported as "pending".
CALL_TWENTY = """async () => {
    const { api } = window.vueExample;
    const deadline = new Promise((resolve) => setTimeout(() => resolve("pending"), 15000));
    const calls = Array.from({ length: 20 }, () =>
        api.get("user/info").then(() => "ok", (error) => error.name));
    return Promise.all(calls.map((call) => Promise.race([call, deadline])));
}"""


@pytest.fixture(scope="session")
def vue_dist() -> Path:
    return build_vue_example()


@pytest.fixture
def alice(transactional_db, make_user):
    return make_user("alice")


@pytest.fixture
def site(vue_dist, gunicorn_servers, alice):
    return gunicorn_servers(TEST_ACCESS_SECONDS=str(ACCESS_SECONDS))


def log_in(page: Page, password: str = PASSWORD) -> None:
    page.goto("/vue/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#username", "alice")
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def expect_signed_in(page: Page) -> None:
    expect(page.locator("#calls")).to_be_visible()
    expect(page.locator("#user-name")).to_have_text("alice")


def call_twenty(page: Page) -> None:
    page.click("#nav-calls")
    page.click("#call-api")
    expect(page.locator("#api-result")).to_have_text(f"{CALLS} of {CALLS} calls succeeded")


def expect_login_page(page: Page, message: str) -> None:
    expect(page.locator("#login")).to_be_visible(timeout=3 * ACCESS_SECONDS * 1000)
    expect(page.locator("#login-message")).to_have_text(message)
    assert "/vue/login" in page.url


def test_a_wrong_password_shows_the_servers_message_then_the_right_one_signs_in(page):
    # The app logs in through django-allauth (tests/test_vue_signin.py has its other screens),
    # which takes a user made with create_user by username.
    log_in(page, password="wrong password")
    expect(page.locator("#login-error")).to_have_text(
        "The username and/or password you specified are not correct."
    )
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect_signed_in(page)
    assert page.url.endswith("/vue/")


def test_twenty_calls_after_the_token_expired_send_one_refresh_and_all_succeed(page, traffic):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    page.wait_for_function("window.vueExample.auth.expiresAt < Date.now()")
    expect(page.locator("#countdown")).to_have_text("expired")
    traffic.clear()
    call_twenty(page)
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(REFRESH, 200) == 1
    # The calls waited for the refresh: none went out with the expired token.
    assert traffic.sent(INFO) == CALLS
    assert traffic.answered(INFO, 200) == CALLS


def test_twenty_calls_the_server_refuses_are_replayed_after_one_refresh(page, traffic):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    page.evaluate("window.vueExample.auth.forgetAccessToken()")
    traffic.clear()
    call_twenty(page)
    assert traffic.answered(INFO, 401) == CALLS
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(INFO, 200) == CALLS


def test_two_tabs_stay_signed_in_through_several_lifetimes(page, context, traffic):
    log_in(page)
    expect_signed_in(page)
    second = context.new_page()
    second.goto("/vue/")
    expect_signed_in(second)
    traffic.clear()
    # Three token lifetimes: each tab's timer comes due; the lock and the broadcast share work.
    page.wait_for_timeout(3 * ACCESS_SECONDS * 1000)
    assert traffic.answered(REFRESH, 200) >= 2
    assert traffic.answered(REFRESH, 403) == 0
    for tab in (page, second):
        call_twenty(tab)
        expect_signed_in(tab)


def test_a_session_ended_from_the_django_admin_sends_the_app_to_login_with_a_message(
    page, chromium, site, alice, make_user
):
    make_user("root", is_staff=True, is_superuser=True)
    log_in(page)
    expect_signed_in(page)
    admin_context = chromium.new_context(base_url=site.url)
    try:
        admin = admin_context.new_page()
        admin.goto("/admin/login/")
        admin.fill("#id_username", "root")
        admin.fill("#id_password", PASSWORD)
        admin.click("input[type=submit]")
        admin.goto("/admin/accounts/user/")
        admin.check(f"input[name=_selected_action][value='{alice.pk}']")
        admin.select_option("select[name=action]", "end_all_sessions")
        admin.click("button[name=index]")
        expect(admin.locator(".messagelist")).to_contain_text("Ended 1 session")
    finally:
        admin_context.close()
    # No click needed: the next background refresh is refused and the app says so.
    expect_login_page(page, "Your session has ended. Please log in again.")
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def test_a_reload_keeps_the_session_and_the_page(page, context, traffic):
    log_in(page)
    expect_signed_in(page)
    page.click("#nav-sessions")
    expect(page.locator("tr.session")).to_have_count(1)
    traffic.clear()
    page.reload()
    # Back on the same page of the app, signed in again through the HttpOnly cookie.
    expect(page.locator("tr.session")).to_have_count(1)
    assert page.url.endswith("/vue/sessions")
    assert traffic.answered(REFRESH, 200) == 1
    call_twenty(page)
    refresh = next(c for c in context.cookies() if c["name"] == "refresh_token")
    assert refresh["httpOnly"]
    assert "refresh_token" not in page.evaluate("document.cookie")
    # Nothing of the session is kept where a script could read it.
    stored = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert stored == "[{},{}]"


def test_a_refused_refresh_settles_every_waiting_request_and_shows_the_login_page(
    page, traffic, alice
):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    services.end_all_sessions(services.user_id_of(alice), reason="admin")
    traffic.clear()
    # The seed's interceptor left these pending forever when its refresh failed.
    outcomes = page.evaluate(CALL_TWENTY)
    assert outcomes == ["SessionExpiredError"] * CALLS
    assert traffic.sent(REFRESH) == 1
    assert traffic.answered(REFRESH, 403) == 1
    expect_login_page(page, "Your session has ended. Please log in again.")


def test_an_unreachable_refresh_settles_every_waiting_request_and_keeps_the_session(
    page, context, traffic
):
    log_in(page)
    expect_signed_in(page)
    page.uncheck("#auto-refresh")
    page.wait_for_function("window.vueExample.auth.expiresAt < Date.now()")
    context.route(f"**{REFRESH}", lambda route: route.abort("connectionrefused"))
    outcomes = page.evaluate(CALL_TWENTY)
    assert outcomes == ["RefreshFailedError"] * CALLS
    # A passing failure: the session is kept, and works again once the server can be reached.
    context.unroute(f"**{REFRESH}")
    expect_signed_in(page)
    call_twenty(page)


def test_the_sessions_page_ends_another_devices_session(page, chromium, site):
    log_in(page)
    expect_signed_in(page)
    other = chromium.new_context(base_url=site.url)
    try:
        laptop = other.new_page()
        log_in(laptop)
        expect_signed_in(laptop)
        page.click("#nav-sessions")
        rows = page.locator("tr.session")
        expect(rows).to_have_count(2)
        expect(rows.filter(has=page.locator(".this-device"))).to_have_count(1)
        rows.filter(has_not=page.locator(".this-device")).locator("button.end").click()
        expect(rows).to_have_count(1)
        expect(rows.locator(".this-device")).to_have_count(1)
        # The laptop's access token stopped working at once; its refresh is refused.
        laptop.click("#call-api")
        expect_login_page(laptop, "Your session has ended. Please log in again.")
    finally:
        other.close()
    call_twenty(page)


def test_logout_signs_out_every_tab_and_removes_the_cookie(page, context: BrowserContext):
    log_in(page)
    expect_signed_in(page)
    second = context.new_page()
    second.goto("/vue/sessions")
    expect(second.locator("tr.session")).to_have_count(1)
    page.click("#logout")
    expect_login_page(page, "You have logged out.")
    expect_login_page(second, "You logged out in another tab.")
    test_browser.wait_until_the_refresh_cookie_is_gone(page, context)
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
        expect_login_page(page, "You have logged out on every device.")
        laptop.click("#call-api")
        expect_login_page(laptop, "Your session has ended. Please log in again.")
    finally:
        other.close()


def test_the_site_serves_the_apps_routes_and_files_but_nothing_beside_them(
    client, settings, tmp_path
):
    settings.VUE_APP_DIR = tmp_path
    response = client.get("/vue/sessions")
    assert (response.status_code, response.json()["code"]) == (404, "not_built")
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets" / "app.js").write_text("export {};")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    # Every route of the app answers the app's page, with the CSRF cookie its refresh needs.
    for path in ("/vue/", "/vue/sessions", "/vue/login?next=/"):
        page = client.get(path)
        assert page.status_code == 200
        assert b"".join(page.streaming_content) == b"<!doctype html><title>app</title>"
        assert "csrftoken" in page.cookies
    asset = client.get("/vue/assets/app.js")
    assert b"".join(asset.streaming_content) == b"export {};"
    assert "javascript" in asset["Content-Type"]
    for escape in ("/vue/../secret.txt", "/vue/%2e%2e/secret.txt", "/vue//etc/passwd"):
        response = client.get(escape)
        assert b"not for the web" not in response.getvalue(), escape
        assert b"root:" not in response.getvalue(), escape
