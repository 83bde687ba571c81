"""Every admin page of the app in real Chromium, on the Django this run has (5.2, 6.0 or 6.1).

The pages are served by gunicorn. Each check is one a user sees: the breadcrumbs are a bar, in
the running Django's own markup; the live sessions list has its search box above a table that
fits; the secret of a service client shows on its page and in no cookie. Every page is written
as a screenshot to test-artifacts/admin/<Django version>/ (git-ignored) for a person to look at.
`make test` runs this on the development Django; `make matrix` on 6.0 and 6.1 too (noxfile.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect
from rest_framework.test import APIClient

from tests import test_browser
from tests.conftest import PASSWORD, login

pytestmark = [pytest.mark.browser, pytest.mark.live]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "admin" / django.__version__
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# Django 6.1 made the breadcrumbs an ordered list; its stylesheet draws the bar on that only.
# (6.0 made the changelist's container a flex row: the search box's place changed then.)
BREADCRUMBS_TAG = "OL" if django.VERSION >= (6, 1) else "DIV"
# A login budget this small lets one test reach the throttled login page in a few attempts.
USERNAME_BUDGET = "3/min"

# What a user sees of the breadcrumbs: the element's tag, its background, each crumb's text.
BREADCRUMBS_JS = """() => {
  const bar = document.querySelector('.breadcrumbs');
  if (!bar) return null;
  const items = bar.tagName === 'OL'
    ? [...bar.querySelectorAll('li')].map(li => li.innerText.trim())
    : bar.innerText.split('\\u203a').map(text => text.trim());
  const box = bar.getBoundingClientRect();
  return {tag: bar.tagName, background: getComputedStyle(bar).backgroundColor, items,
          height: box.height, width: box.width, pageWidth: document.body.clientWidth};
}"""

# How a table sits on the page: each header's text against its cell, the lines each cell's text
# takes, the table against the box that holds it.
TABLE_JS = """(table) => {
  // The lines an element's text takes, and its width: from the boxes of its text only.
  const lines = (element) => {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const rects = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      rects.push(...[...range.getClientRects()].filter(rect => rect.width > 0));
    }
    const tops = [];
    for (const rect of rects) {
      if (!tops.some(top => Math.abs(top - rect.top) < 4)) tops.push(rect.top);
    }
    const left = Math.min(...rects.map(rect => rect.left));
    const right = Math.max(...rects.map(rect => rect.right));
    return {count: tops.length, width: rects.length ? right - left : 0};
  };
  // The checkbox column's header says "Select" to screen readers only.
  const shown = [...table.querySelectorAll('thead th')].filter(
    th => !th.classList.contains('action-checkbox-column'));
  const headers = shown.map(th => {
    const text = lines(th);
    return {text: th.innerText.trim(), cell: th.getBoundingClientRect().width,
            textWidth: text.width, lines: text.count};
  });
  const cells = [...table.querySelectorAll('tbody td')].map(td => ({
    text: td.innerText.trim(), lines: lines(td).count}));
  const holder = table.parentElement;
  return {headers, cells, width: table.getBoundingClientRect().width,
          scrollWidth: holder.scrollWidth, holderWidth: holder.clientWidth};
}"""


# The browser tests' fixtures, shared: Debian's Chromium, and the database beside Playwright.
chromium = test_browser.chromium
allow_db_beside_playwright = test_browser.allow_db_beside_playwright


@pytest.fixture
def site(gunicorn_servers: Any, transactional_db: None) -> Any:
    return gunicorn_servers(workers=1, TEST_THROTTLE_USERNAME=USERNAME_BUDGET)


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    """A superuser, and alice and bob with live sessions (alice's from Firefox)."""
    root = make_user("root", is_staff=True, is_superuser=True)
    alice, bob = make_user("alice"), make_user("bob")
    api = APIClient()
    for _ in range(2):
        login(api, "alice", HTTP_USER_AGENT=FIREFOX)
    login(api, "bob")
    return {"root": root, "alice": alice, "bob": bob}


@pytest.fixture
def admin_page(chromium: Browser, site: Any, people: dict[str, Any]) -> Iterator[Page]:
    """A 1280x800 page logged in to the admin as the superuser."""
    client = Client()
    client.force_login(people["root"])
    context: BrowserContext = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": site.url}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_breadcrumbs(page: Page, *crumbs: str) -> None:
    """The crumbs read `crumbs`, in Django's own markup, on its bar across the page, one line."""
    bar = page.evaluate(BREADCRUMBS_JS)
    assert bar is not None, "no breadcrumbs"
    assert bar["tag"] == BREADCRUMBS_TAG
    assert bar["items"] == list(crumbs)
    assert bar["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), "no breadcrumbs bar"
    assert bar["width"] >= bar["pageWidth"] * 0.7
    assert bar["height"] < 60


def assert_table_fits(table: Any) -> dict[str, Any]:
    """Each header wider than its text on one line, no cell over two lines, no overflow."""
    shape = table.evaluate(TABLE_JS)
    for header in shape["headers"]:
        assert header["lines"] <= 1, header
        assert header["cell"] > header["textWidth"], header
    for cell in shape["cells"]:
        assert cell["lines"] <= 2, cell
    assert shape["scrollWidth"] <= shape["holderWidth"] + 1, shape
    return shape


def test_live_sessions_list(admin_page: Page, site: Any) -> None:
    page = admin_page
    page.goto(f"{site.url}/admin/tokens/livesession/")
    expect(page.locator("h1")).to_have_text("Live sessions")
    shoot(page, "livesession_changelist")

    assert_breadcrumbs(page, "Home", "Tokens", "Live sessions")
    toolbar = page.locator("#toolbar").bounding_box()
    table = page.locator("#result_list")
    box = table.bounding_box()
    assert toolbar is not None and box is not None
    # The search box is a bar above the table, as wide as it, not a column beside it.
    assert toolbar["y"] + toolbar["height"] <= box["y"]
    assert abs(toolbar["x"] - box["x"]) < 20
    assert toolbar["width"] >= box["width"] * 0.9
    shape = assert_table_fits(table)
    assert [h["text"].lower() for h in shape["headers"]] == [
        "user", "device", "ip address", "started", "last refreshed", "expires", "session",
    ]  # fmt: skip
    assert page.locator("input[name=_selected_session]").count() == 3
    expect(page.locator(".paginator")).to_contain_text("3 live sessions")

    page.fill("#searchbar", "alice")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=alice"))
    shoot(page, "livesession_search")
    assert_breadcrumbs(page, "Home", "Tokens", "Live sessions")
    assert page.locator("input[name=_selected_session]").count() == 2
    expect(page.locator("#toolbar")).to_contain_text("2 results")
    assert_table_fits(page.locator("#result_list"))


def test_user_page_sessions_and_ending_one(
    admin_page: Page, site: Any, people: dict[str, Any]
) -> None:
    page = admin_page
    alice = people["alice"]
    page.goto(f"{site.url}/admin/accounts/user/{alice.pk}/change/")
    shoot(page, "user_change")
    assert_breadcrumbs(page, "Home", "Accounts", "Users", "alice")
    sessions = page.locator("table.tokens-user-sessions")
    expect(sessions.locator("tbody tr")).to_have_count(2)
    assert_table_fits(sessions)

    page.locator("a.tokens-end-session").first.click()
    expect(page.locator("h1")).to_have_text("End this session?")
    shoot(page, "end_session_confirmation")
    assert_breadcrumbs(page, "Home", "Accounts", "Users", "alice")
    # Django's stylesheet draws the confirmation's two buttons side by side, on one line.
    confirm = page.locator("input[type=submit]").bounding_box()
    cancel = page.locator("a.cancel-link").bounding_box()
    assert confirm is not None and cancel is not None
    assert abs(confirm["y"] - cancel["y"]) < 10 and cancel["x"] > confirm["x"]

    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Ended session")
    expect(page.locator("table.tokens-user-sessions tbody tr")).to_have_count(1)

    # The users list, with the mixin's action.
    page.goto(f"{site.url}/admin/accounts/user/")
    assert_breadcrumbs(page, "Home", "Accounts", "Users")
    page.locator(f"input[name=_selected_action][value='{alice.pk}']").check()
    page.select_option("select[name=action]", "end_all_sessions")
    page.locator("button[name=index]").first.click()
    expect(page.locator(".messagelist")).to_contain_text("Ended 1 session of the selected users.")
    shoot(page, "user_changelist_action")
    assert_table_fits(page.locator("#result_list"))


def test_service_client_pages(admin_page: Page, site: Any) -> None:
    page = admin_page
    page.goto(f"{site.url}/admin/tokens/serviceclient/add/")
    shoot(page, "serviceclient_add")
    assert_breadcrumbs(page, "Home", "Tokens", "Service clients", "Add service client")
    page.fill("#id_name", "search")
    page.locator("input[name=_save]").click()

    expect(page.locator("h1")).to_have_text("Copy the secret now")
    shoot(page, "serviceclient_secret")
    assert_breadcrumbs(page, "Home", "Tokens", "Service clients", "search")
    secret = page.locator(".tokens-secrets code").inner_text()
    assert len(secret) >= 32
    assert not [c for c in page.context.cookies() if secret in c["value"]]

    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/admin/tokens/serviceclient/$"))
    shoot(page, "serviceclient_changelist")
    assert_breadcrumbs(page, "Home", "Tokens", "Service clients")
    assert_table_fits(page.locator("#result_list"))

    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "reset_secrets")
    page.locator("button[name=index]").first.click()
    expect(page.locator("h1")).to_have_text("Copy the secret now")
    shoot(page, "serviceclient_reset")
    assert_breadcrumbs(page, "Home", "Tokens", "Service clients", "search")
    assert page.locator(".tokens-secrets code").inner_text() != secret

    page.goto(f"{site.url}/admin/tokens/serviceclient/")
    page.get_by_role("link", name="search", exact=True).click()
    shoot(page, "serviceclient_change")
    assert_breadcrumbs(page, "Home", "Tokens", "Service clients", "search")


def test_throttled_login_page(chromium: Browser, site: Any, people: dict[str, Any]) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
    try:
        for _ in range(4):
            page.goto(f"{site.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "mallory")
            page.fill("#id_password", PASSWORD + "-wrong")
            page.locator("input[type=submit]").click()
            page.wait_for_load_state()
        assert statuses[-1] == 429, statuses
        shoot(page, "login_throttled")
        note = page.locator(".errornote")
        expect(note).to_contain_text("Too many login attempts. Try again in")
        # The note sits in the login box, which keeps its width and place.
        box = page.locator("#container").bounding_box()
        inner = note.bounding_box()
        assert box is not None and inner is not None
        assert box["x"] <= inner["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"]
        assert box["width"] < 800
        page.get_by_role("link", name="Log in").click()
        expect(page.locator("#id_username")).to_be_visible()
    finally:
        context.close()
