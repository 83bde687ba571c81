"""The bench's processes and data: its Redis, gunicorn, the database and the users.

Servers start through the one process harness the tests and the soak use (tests/harness.py);
this module adds what only the bench needs: bench.settings behind gunicorn's sync workers, a
fresh SQLite file or PostgreSQL database, and users sharing one PBKDF2 hash.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.harness import ROOT, Gunicorn, RedisServer

__all__ = [
    "PASSWORD",
    "ROOT",
    "Server",
    "create_users",
    "database_url",
    "engine_name",
    "ensure_postgres_database",
    "gunicorn",
    "log",
    "redis_server",
]

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

PASSWORD = "bench-password-0123"


def log(message: str) -> None:
    """Print a progress line to stderr (stdout carries the table)."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Run the bench's own redis-server on a free loopback port; yield its URL."""
    with RedisServer(workdir) as server:
        yield server.url


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it listens, and its master's pid (its workers are children)."""

    url: str
    pid: int


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[Server]:
    """Serve bench.settings with gunicorn sync workers on a free loopback port."""
    with Gunicorn(
        env,
        workers=workers,
        timeout=60,
        graceful_timeout=5,
        options=("--worker-class", "sync", "--log-level", "warning"),
        ready_path="/bench/bare",
        stderr=None,  # gunicorn's warnings reach the bench's terminal
    ) as server:
        yield Server(server.url, server.pid)


def database_url(spec: str, workdir: Path) -> str:
    """Return the DATABASE_URL for a --db value ("sqlite" means a fresh file in workdir)."""
    if spec == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    if spec.startswith(("postgres://", "postgresql://")):
        ensure_postgres_database(spec)
    return spec


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database of `url` if it does not exist."""
    import psycopg

    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def engine_name(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


def create_users(count: int) -> list[AbstractBaseUser]:
    """Create `count` users sharing one PBKDF2 password hash (hashing once, not `count` times)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    model = get_user_model()
    model.objects.filter(username__startswith="bench-").delete()
    hashed = make_password(PASSWORD)
    model.objects.bulk_create(
        model(username=f"bench-{i}", email=f"bench-{i}@example.com", password=hashed)
        for i in range(count)
    )
    return list(model.objects.filter(username__startswith="bench-").order_by("pk"))
