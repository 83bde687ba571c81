"""The support matrix: the app's API and store tests on each supported Django and Python.

`make matrix` runs every session; `make matrix NOX_ARGS='-s "tests(3.13-django6.1)"'` runs
one. Each session installs from the package registries into its own virtualenv: the app (from
this checkout), the newest release of one Django series, and the test dependencies named in
pyproject.toml. The tests are the ones that need no server, browser or Node (MATRIX_TESTS), and,
on the newest Python of each Django series, the app's admin pages in Chromium (ADMIN_PAGES: their
markup is Django's and changes with it). The whole suite, Chromium included, runs on the
development Django in `make test`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "venv"
# Never fetch an interpreter: use the machine's (pyenv's shims and versions count).
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")

# Django series -> the Pythons it supports, as Django's own release notes state them
# (Django 6.0 and 6.1 need Python 3.12 or later).
DJANGO_PYTHONS = {
    "5.2": ["3.11", "3.12", "3.13"],
    "6.0": ["3.12", "3.13"],
    "6.1": ["3.12", "3.13"],
}


def interpreter(version: str) -> str:
    """Return the machine's Python `version`: on PATH, or the newest pyenv install of it.

    pyenv's shims on PATH answer only for the active versions, so its install directory is
    searched directly; a version found nowhere stays a bare name, and nox reports it missing.
    """
    name = f"python{version}"
    found = shutil.which(name)
    # A pyenv shim is on PATH even for a version it refuses to run: try it.
    if found is not None:
        probe = subprocess.run([found, "-V"], capture_output=True, check=False)  # noqa: S603
        if probe.returncode == 0:
            return found
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    installs = sorted(
        glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", name)),
        key=lambda path: [int(part) for part in path.split(os.sep)[-3].split(".")[:3]],
    )
    return installs[-1] if installs else name


MATRIX = [(python, django) for django, pythons in DJANGO_PYTHONS.items() for python in pythons]
# The Python each Django series also runs the admin pages on: its newest.
BROWSER_PYTHONS = {django: pythons[-1] for django, pythons in DJANGO_PYTHONS.items()}

# The app's API and store tests: HTTP contract, rotation and grace, sessions, OAuth endpoints,
# cookie transport, security, store format and checks, throttles, signals, admin, commands,
# errors, translations and simplejwt settings. Left out: Chromium and Node (test_browser,
# test_js_client), the Python client's process tests (test_client), Redis fault injection
# (test_redis_faults), and the long runs (soak, bench, fuzz, the README walk-through, the wheel).
# Every test that needs no gunicorn server, no browser and no Node (`make test-fast`'s
# selection), so that a test file added or renamed is in the matrix without anyone listing it.
# The files below import what the matrix does not install (Playwright, schemathesis, build) or
# drive Node.
MATRIX_TESTS = [
    "-m",
    "not live and not browser",
    "--ignore=tests/test_browser.py",
    "--ignore=tests/test_vue.py",
    "--ignore=tests/test_vue_signin.py",
    "--ignore=tests/test_js_client.py",
    "--ignore=tests/test_fuzz.py",
    "--ignore=tests/test_wheel.py",
    # Imports Playwright; runs on its own where it is installed (ADMIN_PAGES).
    "--ignore=tests/test_admin_pages.py",
]

# Every admin page of the app in Debian's Chromium (Playwright drives /usr/bin/chromium; no browser
# is downloaded), with screenshots in test-artifacts/admin/<Django version>/: about half a minute.
ADMIN_PAGES = ["tests/test_admin_pages.py"]

# Test dependencies the matrix does not need: the browser driver (installed only where the admin
# pages run), the fuzzer, the packaging tools.
NOT_NEEDED = ("playwright", "schemathesis", "build", "twine")


def _requirements(*wanted: str) -> list[str]:
    """Return the site's and the tests' requirements, less NOT_NEEDED except those `wanted`."""
    groups = nox.project.dependency_groups(PYPROJECT, "site", "test")
    return [
        req
        for req in groups
        if not req.lower().startswith(NOT_NEEDED) or req.lower().startswith(wanted)
    ]


@nox.session
@nox.parametrize(
    ("python", "django", "browser"),
    [(interpreter(python), django, python == BROWSER_PYTHONS[django]) for python, django in MATRIX],
    ids=[f"{python}-django{django}" for python, django in MATRIX],
)
def tests(session: nox.Session, django: str, browser: bool) -> None:
    """Run the app's API and store tests on one Python and the newest Django of one series.

    On the series' newest Python, also run its admin pages in Chromium (ADMIN_PAGES).
    """
    wanted = ("playwright",) if browser else ()
    session.install(".", f"Django~={django}.0", *_requirements(*wanted))
    version = session.run("python", "-c", "import django; print(django.__version__)", silent=True)
    session.log(f"Django {str(version).strip()}")
    # Arguments after `--` replace the test list: `nox -s ... -- tests/test_rotation.py -x`.
    if session.posargs:
        session.run("python", "-m", "pytest", "-q", *session.posargs)
        return
    session.run("python", "-m", "pytest", "-q", *MATRIX_TESTS)
    if browser:
        session.run("python", "-m", "pytest", "-q", *ADMIN_PAGES)
