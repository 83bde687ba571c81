"""The anchor: simplejwt + its blacklist app as a project of its own, served beside this one.

The anchor (`../shared/anchors/simplejwt_baseline` by default, `--anchor` or $BENCH_ANCHOR
elsewhere) is read-only: it runs from where it is, with bytecode writing off, from a virtualenv
of its own that the bench creates from its requirements.txt under `.bench/` (git-ignored) and
reuses while those requirements and the Python version stay the same. Its database is its own,
on the same server as this app's: for PostgreSQL the bench database's name with `_simplejwt`
appended (created if missing), for SQLite a fresh file. Its gunicorn has 2 sync workers, as
this app's. bench/anchor_side.py runs inside the anchor's interpreter to prepare its data.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Server, ensure_postgres_database, log
from tests.harness import Gunicorn

DEFAULT_ANCHOR = ROOT.parent / "shared" / "anchors" / "simplejwt_baseline"
VENVS = ROOT / ".bench"
SIDE = ROOT / "bench" / "anchor_side.py"


def anchor_dir() -> Path:
    """Return the anchor project's directory ($BENCH_ANCHOR, else the default beside the repo)."""
    path = Path(os.environ.get("BENCH_ANCHOR") or DEFAULT_ANCHOR).resolve()
    if not (path / "requirements.txt").is_file() or not (path / "benchproj").is_dir():
        sys.exit(f"the simplejwt anchor is not at {path} (set BENCH_ANCHOR or pass --anchor)")
    return path


def anchor_python(anchor: Path) -> Path:
    """Return the anchor's virtualenv's python, creating or refreshing the virtualenv first."""
    requirements = (anchor / "requirements.txt").read_bytes()
    stamp_text = hashlib.sha256(requirements + sys.version.encode()).hexdigest()
    venv = VENVS / "anchor-venv"
    stamp = venv / "bench-requirements.sha256"
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python
    log(f"[anchor] creating its virtualenv in {venv.relative_to(ROOT)} from requirements.txt")
    # The base interpreter, not this project's virtualenv: nothing of ours leaks into it.
    subprocess.run(
        [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--clear", str(venv)],
        check=True,
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(anchor / "requirements.txt")],
        check=True,
    )
    stamp.write_text(stamp_text)
    return python


def anchor_env(database_url: str, workdir: Path) -> dict[str, str]:
    """Return the environment the anchor's settings read, for this run's database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PG", "DATABASE_URL", "REDIS", "BENCH_", "PYTHON"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "benchproj.settings"
    # The anchor is read-only: no __pycache__ written into it.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if database_url.startswith("sqlite"):
        env["SQLITE_PATH"] = str(workdir / "simplejwt.sqlite3")
        return env
    parts = urllib.parse.urlparse(database_url)
    name = parts.path.lstrip("/") + "_simplejwt"
    ensure_postgres_database(parts._replace(path="/" + name).geturl())
    env.update(PG="1", PGDATABASE=name, PGHOST=parts.hostname or "", PGUSER=parts.username or "")
    if parts.port:
        env["PGPORT"] = str(parts.port)  # libpq reads it; the anchor's settings name no port
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


class Anchor:
    """The anchor project for one database: its interpreter, environment and data."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.dir = anchor_dir()
        self.python = anchor_python(self.dir)
        self.env = anchor_env(database_url, workdir)
        self.workdir = workdir

    def side(self, *args: str) -> Any:
        """Run bench/anchor_side.py in the anchor's interpreter; return its JSON answer."""
        result = subprocess.run(
            [str(self.python), str(SIDE), *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"anchor_side.py {args[0]} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def prep(self, users: int, chains: int, rounds: int, password: str) -> dict[str, Any]:
        """Migrate the anchor's database, create its users, write its token files."""
        out: dict[str, Any] = self.side(
            "prep", str(self.workdir), str(users), str(chains), str(rounds), password
        )
        return out

    def rows(self) -> int:
        """Return the rows of the anchor's blacklist tables."""
        return int(self.side("rows"))

    def rotations(self, count: int) -> dict[str, Any]:
        """Rotate one anchor token `count` times in-process; return the rows before and after."""
        out: dict[str, Any] = self.side("rotations", str(count))
        return out

    def version(self, package: str) -> str:
        """Return the version of a package installed in the anchor's virtualenv."""
        code = f"from importlib.metadata import version; print(version({package!r}))"
        return subprocess.run(
            [str(self.python), "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()

    @contextmanager
    def serve(self, workers: int = 2) -> Iterator[Server]:
        """Serve the anchor with its own gunicorn, sync workers, on a free loopback port."""
        with Gunicorn(
            self.env,
            workers=workers,
            app="benchproj.wsgi:application",
            timeout=60,
            graceful_timeout=5,
            options=("--worker-class", "sync", "--log-level", "warning"),
            ready_path="/api/ping",
            stderr=None,
            cwd=self.dir,
            python=self.python,
        ) as server:
            log(f"[anchor] gunicorn (2 sync workers, its own virtualenv) at {server.url}")
            yield Server(server.url, server.pid)
