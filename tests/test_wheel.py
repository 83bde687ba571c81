"""The built package: an sdist and a wheel that pass `twine check`, hold every file the app
needs, and run a throwaway site from a fresh virtualenv.

The site (tests/wheel_site/) is shaped like one a new user would write from the README: its
own user model (UUID primary key, email as USERNAME_FIELD, no username field), the app mounted
at `auth/v1/`, its own Redis database, no demo apps. It runs under real gunicorn from the
virtualenv the wheel is installed into, so nothing of this checkout is importable there.

Each step of a user's life is one test against that server; add a step as another test
function that takes `site` (a `WheelSite`) and logs in with `site.login()` (by email, under the
model's USERNAME_FIELD name). Cookie steps go through `BrowserCookieClient`, whose jar applies a
browser's path rules, so the refresh cookie must really carry the `auth/v1/` mount's path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_cookies import BrowserCookieClient
from tests.harness import Gunicorn, free_port

ROOT = Path(__file__).resolve().parent.parent
SITE_SOURCE = Path(__file__).resolve().parent / "wheel_site"
PASSWORD = "correct-horse-battery"
EMAIL = "ada@example.com"
# The site's Redis database: its own, on the test run's Redis.
REDIS_DB = 3
LANGUAGES = ["de", "fr", "es", "pt_BR", "zh_Hans", "ja"]

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist and the wheel as a release would (`python -m build`) and return the dir."""
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy: the build must not depend on (or leave) anything in the checkout.
    source = tmp_path_factory.mktemp("source") / "django-tokens"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".nox", ".git", "node_modules", "__pycache__", "*.egg-info", "build", "dist"
        ),
    )
    _run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, source)
    return out


def _one(directory: Path, pattern: str) -> Path:
    [path] = directory.glob(pattern)
    return path


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    sdist = _one(dist, "django_tokens-*.tar.gz")
    wheel = _one(dist, "django_tokens-*-py3-none-any.whl")
    result = _run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
    assert result.stdout.count("PASSED") == 2


def test_wheel_is_named_by_the_one_version(dist: Path) -> None:
    from tokens import __version__

    assert _one(dist, "*.whl").name == f"django_tokens-{__version__}-py3-none-any.whl"
    assert _one(dist, "*.tar.gz").name == f"django_tokens-{__version__}.tar.gz"


def test_wheel_holds_every_file_the_app_needs_and_nothing_of_the_demo(dist: Path) -> None:
    names = set(zipfile.ZipFile(_one(dist, "*.whl")).namelist())
    lua = {Path(name).name for name in names if name.startswith("tokens/stores/lua/")}
    assert lua == {p.name for p in (ROOT / "tokens" / "stores" / "lua").glob("*.lua")}
    assert "tokens/static/tokens/auth-client.js" in names
    for template in (ROOT / "tokens" / "templates").rglob("*.html"):
        assert template.relative_to(ROOT).as_posix() in names
    assert "tokens/migrations/0001_initial.py" in names
    assert "tokens/py.typed" in names
    for language in LANGUAGES:
        assert f"tokens/locale/{language}/LC_MESSAGES/django.mo" in names
        assert f"tokens/locale/{language}/LC_MESSAGES/django.po" in names
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"tokens", next(t for t in tops if t.endswith(".dist-info"))}


def test_wheel_metadata_states_the_supported_versions(dist: Path) -> None:
    wheel = zipfile.ZipFile(_one(dist, "*.whl"))
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(metadata).decode()
    for classifier in (
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ):
        assert f"Classifier: {classifier}" in text
    assert "Requires-Dist: Django<6.2,>=5.2" in text
    assert "Requires-Python: >=3.11" in text


def test_readme_install_snippet_runs_as_pasted_with_its_imports() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- install-settings -->\n```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its install-settings block"
    # What a site's settings.py and urls.py already have before the lines are pasted.
    namespace: dict[str, Any] = {"INSTALLED_APPS": ["django.contrib.auth"], "urlpatterns": []}
    exec(compile(match.group(1), "README.md", "exec"), namespace)  # noqa: S102
    # Before django.contrib.auth, where its changepassword command stands in for Django's.
    apps = namespace["INSTALLED_APPS"]
    assert apps.index("tokens") < apps.index("django.contrib.auth")
    assert {"rest_framework", "drf_spectacular"} <= set(apps)
    assert namespace["urlpatterns"][0].pattern.describe() == "'api/'"
    site = (SITE_SOURCE / "settings.py").read_text()
    # The throwaway site is configured by the same lines.
    for name in (
        'INSTALLED_APPS.insert(INSTALLED_APPS.index("django.contrib.auth"), "tokens")',
        "CSRF_COOKIE_SECURE",
        "REST_FRAMEWORK",
        "SIMPLE_JWT",
        "TOKENS",
        "CACHES",
    ):
        assert name in site


@dataclass
class WheelSite:
    """The throwaway site under gunicorn, with its virtualenv's python."""

    url: str
    python: Path
    env: dict[str, str]
    cwd: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def login(self, client: httpx.Client, **extra: Any) -> dict[str, Any]:
        """Log in the site's user, by email under its own name (the model's USERNAME_FIELD)."""
        response = client.post(
            "/auth/v1/auth/login", json={"email": EMAIL, "password": PASSWORD, **extra}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(self.python, "-m", "django", *args, env=self.env, cwd=self.cwd)


@pytest.fixture(scope="module")
def site(
    dist: Path, tmp_path_factory: pytest.TempPathFactory, redis_proc: Any
) -> Iterator[WheelSite]:
    """Install the wheel into a fresh virtualenv and serve the throwaway site with gunicorn."""
    base = tmp_path_factory.mktemp("wheel-site")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", _one(dist, "*.whl"), "gunicorn")
    work = base / "site"
    shutil.copytree(SITE_SOURCE, work / "wheel_site", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(base),
        "PYTHONPATH": str(work),
        "DJANGO_SETTINGS_MODULE": "wheel_site.settings",
        "WHEEL_SITE_DIR": str(work),
        "WHEEL_SITE_REDIS_URL": f"redis://127.0.0.1:{redis_proc.port}/{REDIS_DB}",
    }
    port = free_port()
    site = WheelSite(f"http://127.0.0.1:{port}", python, env, work)
    site.manage("migrate", "--noinput")
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({EMAIL!r}, {PASSWORD!r})",
    )
    with Gunicorn(
        env,
        app="wheel_site.wsgi:application",
        python=python,
        port=port,
        workers=2,
        ready_path="/me",
        cwd=work,
    ):
        yield site


# --- The steps: one test each, against the same installed site ------------------------------


def test_the_site_runs_the_installed_wheel_not_this_checkout(site: WheelSite) -> None:
    from tokens import __version__

    where = _run(
        site.python,
        "-c",
        "import tokens; print(tokens.__file__); print(tokens.__version__)",
        env=site.env,
        cwd=site.cwd,
    ).stdout.split()
    assert where[0].startswith(str(site.python.parent.parent))
    assert "site-packages" in where[0]
    assert where[1] == __version__


def test_the_readme_shaped_site_passes_its_system_checks(site: WheelSite) -> None:
    result = site.manage("check", "--fail-level", "WARNING")
    assert "no issues" in result.stdout


def test_login_by_email_reaches_the_sites_own_view(site: WheelSite) -> None:
    with site.client() as client:
        body = site.login(client)
        me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == EMAIL
    assert len(me.json()["id"]) == 36  # the UUID primary key


def test_login_also_takes_the_email_as_username_and_the_password_grant_too(
    site: WheelSite,
) -> None:
    with site.client() as client:
        as_username = client.post(
            "/auth/v1/auth/login", json={"username": EMAIL, "password": PASSWORD}
        )
        grant = client.post(
            "/auth/v1/auth/token",
            data={"grant_type": "password", "username": EMAIL, "password": PASSWORD},
        )
        nameless = client.post("/auth/v1/auth/login", json={"password": PASSWORD})
    assert as_username.status_code == 200, as_username.text
    assert grant.status_code == 200, grant.text
    assert nameless.status_code == 400
    assert nameless.json()["errors"] == {"email": ["This field is required."]}


def test_refresh_rotates_the_pair(site: WheelSite) -> None:
    with site.client() as client:
        first = site.login(client)
        second = client.post(
            "/auth/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert second.status_code == 200, second.text
        assert second.json()["refresh_token"] != first["refresh_token"]
        me = client.get("/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
        assert me.status_code == 200


def test_grace_replay_gets_the_same_successor_and_a_later_replay_ends_the_session(
    site: WheelSite,
) -> None:
    with site.client() as client:
        first = site.login(client)
        old = {"refresh_token": first["refresh_token"]}
        a = client.post("/auth/v1/auth/refresh", json=old).json()
        b = client.post("/auth/v1/auth/refresh", json=old).json()
        assert a["refresh_token"] == b["refresh_token"]
        time.sleep(1.3)  # past the site's one-second grace window
        reused = client.post("/auth/v1/auth/refresh", json=old)
        assert reused.status_code == 403
        assert reused.json()["code"] == "refresh_token_reused"
        # The whole session ended: its newest refresh token and its access token too.
        newest = client.post("/auth/v1/auth/refresh", json={"refresh_token": a["refresh_token"]})
        assert newest.status_code == 403
        me = client.get("/me", headers={"Authorization": f"Bearer {a['access_token']}"})
        assert me.status_code == 401
        assert me.json()["code"] == "session_revoked"


def test_logout_all_ends_every_session_at_once(site: WheelSite) -> None:
    with site.client() as client:
        one, two = site.login(client), site.login(client)
        ended = client.post(
            "/auth/v1/auth/logout-all", headers={"Authorization": f"Bearer {two['access_token']}"}
        )
        assert ended.status_code == 200
        assert ended.json()["ended"] >= 2
        for body in (one, two):
            me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
            assert me.status_code == 401
            again = client.post(
                "/auth/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
            )
            assert again.status_code == 403


def test_a_caller_the_sites_own_drf_defaults_let_in_has_no_session_here(site: WheelSite) -> None:
    # The site keeps DRF's SessionAuthentication, BasicAuthentication and AllowAny: Basic
    # credentials authenticate there, but they are no session of the app's to list or end.
    basic = httpx.BasicAuth(EMAIL, PASSWORD)
    with site.client() as client:
        bearer = {"Authorization": f"Bearer {site.login(client)['access_token']}"}
        sessions = client.get("/auth/v1/auth/sessions", headers=bearer).json()
        [current] = [s for s in sessions if s["current"]]
        calls = [
            ("GET", "/auth/v1/auth/sessions", None),
            ("DELETE", f"/auth/v1/auth/sessions/{current['id']}", None),
            ("POST", "/auth/v1/auth/logout-all", {}),
            ("POST", "/auth/v1/auth/password", {"old_password": PASSWORD, "new_password": "x"}),
        ]
        for method, path, body in calls:
            for auth in (None, basic):
                response = client.request(method, path, json=body, auth=auth)
                assert response.status_code == 401, (method, path, auth, response.text)
                assert response.json()["code"] == "not_authenticated"
                assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        # Nothing was ended or changed: the session is still live, the password the same.
        listed = client.get("/auth/v1/auth/sessions", headers=bearer)
        assert current["id"] in {s["id"] for s in listed.json() if s["current"]}
        site.login(client)


def test_errors_under_the_mount_are_json_and_translated_by_the_shipped_catalogs(
    site: WheelSite,
) -> None:
    with site.client() as client:
        missing = client.get("/auth/v1/auth/nothing-here")
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
        wrong_method = client.get("/auth/v1/auth/login")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["code"] == "method_not_allowed"
        german = client.post(
            "/auth/v1/auth/login",
            json={"username": EMAIL, "password": "wrong"},
            headers={"Accept-Language": "de"},
        )
    assert german.status_code == 400
    assert german.json() == {
        "code": "invalid_credentials",
        "detail": "Anmeldung mit den angegebenen Zugangsdaten nicht möglich.",
    }


def test_cookie_refresh_and_logout_work_under_auth_v1(site: WheelSite) -> None:
    with BrowserCookieClient(site.url) as browser:
        login = browser.post(
            "/auth/v1/auth/login", json={"email": EMAIL, "password": PASSWORD, "use_cookie": True}
        )
        assert login.status_code == 200, login.text
        assert "refresh_token" not in login.json()
        assert "Path=/auth/v1/auth/" in login.headers["set-cookie"]
        csrf = {"X-CSRFToken": browser.cookie("csrftoken") or ""}
        for _ in range(2):  # each refresh sends the cookie the previous one rotated in
            refreshed = browser.post("/auth/v1/auth/refresh", json={}, headers=csrf)
            assert refreshed.status_code == 200, refreshed.text
        access = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert browser.get("/me", headers=access).status_code == 200
        assert browser.post("/auth/v1/auth/logout", json={}, headers=csrf).status_code == 200
        assert browser.cookie("refresh_token") is None  # deleted at its own path
        gone = browser.post("/auth/v1/auth/refresh", json={}, headers=csrf)
        assert (gone.status_code, gone.json()["code"]) == (403, "refresh_token_invalid")
        assert browser.get("/me", headers=access).status_code == 401


def test_password_change_at_auth_v1_keeps_the_callers_session_and_ends_the_others(
    site: WheelSite,
) -> None:
    new_password = "a-new-and-long-passphrase"
    with site.client() as client:
        other, current = site.login(client), site.login(client)

        def change(old: str, new: str) -> httpx.Response:
            return client.post(
                "/auth/v1/auth/password",
                json={"old_password": old, "new_password": new},
                headers={"Authorization": f"Bearer {current['access_token']}"},
            )

        changed = change(PASSWORD, new_password)
        try:
            assert changed.status_code == 200, changed.text
            for body, status in ((current, 200), (other, 401)):
                me = client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
                assert me.status_code == status
            assert (
                client.post(
                    "/auth/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
                ).json()["code"]
                == "session_revoked"
            )
            old = client.post("/auth/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            assert old.status_code == 400
            new = client.post(
                "/auth/v1/auth/login", json={"email": EMAIL, "password": new_password}
            )
            assert new.status_code == 200
        finally:
            # The other steps log in with the first password.
            if changed.status_code == 200:
                assert change(new_password, PASSWORD).status_code == 200
