"""Login by the user model's USERNAME_FIELD name, on a site whose users log in by email.

A user model cannot be swapped inside one process, so the cases (tests/email_login/cases.py)
run once in a pytest process of their own under the throwaway site's settings
(tests/wheel_site: email as USERNAME_FIELD, UUID primary key, the app at `auth/v1/`), with this
checkout's `tokens` and a database of the run's Redis. Each case is reported here as a test of
its own, from that run's JUnit report.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "email_login" / "cases.py"
# The cases' Redis database: their own, on the test run's Redis.
REDIS_DB = 4

CASE_NAMES = [
    node.name
    for node in ast.parse(CASES.read_text()).body
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
]


@pytest.fixture(scope="module")
def outcomes(redis_proc: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Run the cases once; return each one's failure text (None when it passed)."""
    work = tmp_path_factory.mktemp("email-login")
    report = work / "report.xml"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wheel_site.settings",
        "WHEEL_SITE_DIR": str(work),
        "WHEEL_SITE_REDIS_URL": f"redis://127.0.0.1:{redis_proc.port}/{REDIS_DB}",
    }
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-c", CASES.parent / "pytest.ini"),
            *("--ds", "wheel_site.settings", f"--junitxml={report}", CASES),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=CASES.parent,
        check=False,
        timeout=300,
    )
    assert report.exists(), f"the cases did not run:\n{result.stdout}\n{result.stderr}"
    found: dict[str, str | None] = {}
    # Our own pytest's report, written a moment ago: not untrusted input.
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314
        problems = [p for p in case if p.tag in ("failure", "error", "skipped")]
        found[case.attrib["name"]] = (
            "\n".join(f"{p.tag}: {p.attrib.get('message', '')}\n{p.text or ''}" for p in problems)
            or None
        )
    return found


@pytest.mark.parametrize("case", CASE_NAMES)
def test_with_email_as_username_field(outcomes: dict[str, str | None], case: str) -> None:
    assert case in outcomes, f"{case} did not run"
    assert outcomes[case] is None, outcomes[case]


# --- The demo's user model logs in by `username`: nothing changes there ----------------------


@pytest.mark.django_db
def test_on_a_username_site_the_login_still_asks_for_the_username(api: Any, user: User) -> None:
    response = api.post(
        "/api/auth/login", {"email": user.email, "password": "whatever"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["This field is required."]}


def test_on_a_username_site_the_schema_requires_the_username(api: Any) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    [login] = [s for name, s in schema["components"]["schemas"].items() if name.startswith("Login")]
    assert set(login["properties"]) == {"username", "password", "use_cookie"}
    assert set(login["required"]) == {"username", "password"}
