"""`make run` on a machine with no Redis: the demo serves the site on SQLite, with its sessions
in the database store and the throttles' counts in Django's database cache."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess

import httpx
import pytest

from tests.conftest import ROOT
from tests.harness import free_port, wait_until

pytestmark = pytest.mark.live


def test_make_run_without_redis_serves_the_site_on_sqlite(tmp_path):
    port = free_port()
    database = tmp_path / "demo.sqlite3"
    # A PATH with what the Makefile's recipes run, and no redis-server.
    path = tmp_path / "bin"
    path.mkdir()
    for tool in ("sh", "echo", "test"):
        found = shutil.which(tool)
        assert found
        (path / tool).symlink_to(found)
    env = {
        "PATH": str(path),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    make = shutil.which("make")
    assert make
    process = subprocess.Popen(
        # -o: the virtualenv counts as installed (the tests run from it).
        [make, "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(
                lambda: httpx.get(f"{url}/api/user/info", timeout=1),
                "the demo",
                timeout=90,
                interval=0.2,
                process=process,
                errors=(httpx.TransportError,),
            )
        except RuntimeError as exc:
            exited = process.poll() is not None
            output = process.stdout.read().decode() if exited and process.stdout else ""
            raise AssertionError(f"{exc}\n{output}") from None
        credentials = {"username": "demo", "password": "demo-password-123"}
        login = httpx.post(f"{url}/api/auth/login", json=credentials, timeout=10)
        assert login.status_code == 200, login.text
        refreshed = httpx.post(
            f"{url}/api/auth/refresh",
            json={"refresh_token": login.json()["refresh_token"]},
            timeout=10,
        )
        assert refreshed.status_code == 200, refreshed.text
        access = refreshed.json()["access_token"]
        info = httpx.get(
            f"{url}/api/user/info", headers={"Authorization": f"Bearer {access}"}, timeout=10
        )
        assert info.status_code == 200
        assert info.json()["username"] == "demo"
        # The demo page's login form names the user `make run` made.
        page = httpx.get(url, timeout=10).text
        assert "<code>demo</code>" in page
        assert "<code>demo-password-123</code>" in page
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert "REDIS_URL is not set" in output
    # Hour-long tokens: the banner says how to watch a refresh (30-second tokens would not).
    assert "make run ACCESS_TOKEN_SECONDS=30" in output
    with sqlite3.connect(database) as connection:
        (sessions,) = connection.execute("SELECT COUNT(*) FROM tokens_storedsession").fetchone()
        (cached,) = connection.execute("SELECT COUNT(*) FROM django_cache").fetchone()
    assert sessions == 1  # one row, however many refreshes
    assert cached >= 1  # the login throttles counted in the database cache
