"""Fixtures: a real redis-server per test run, API clients, users, and real gunicorn servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pytest_redis import factories
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"

redis_proc = factories.redis_proc(port=int(os.environ["TOKENS_TEST_REDIS_PORT"]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "redis_store: about the Redis store itself (its keys, its outages); left out of a run "
        "on another store (TOKENS_TEST_STORE=db), whose own such tests are in tests/contract/",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the database store, deselect the tests about the Redis store itself."""
    if os.environ.get("TOKENS_TEST_STORE", "redis") == "redis":
        return
    kept = [item for item in items if item.get_closest_marker("redis_store") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(autouse=True)
def redis_server(redis_proc: Any) -> Iterator[redis.Redis]:
    """Give every test an empty Redis (the run's own server, never the machine's)."""
    client = redis.Redis(host="127.0.0.1", port=redis_proc.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def api() -> APIClient:
    """Return a DRF test client."""
    return APIClient()


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    """Return a function that creates a user with the test password."""

    def make(username: str = "alice", **fields: Any) -> Any:
        fields.setdefault("email", f"{username}@example.com")
        return django_user_model.objects.create_user(username=username, password=PASSWORD, **fields)

    return make


@pytest.fixture
def user(db: None, make_user: Callable[..., Any]) -> Any:
    """Return a user named alice whose password is `PASSWORD`."""
    return make_user()


def login(
    client: APIClient, username: str = "alice", password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    """Log in through the API and return the token response body."""
    response = client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json", **extra
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access_token: str) -> dict[str, str]:
    """Return test-client keyword arguments that send a bearer token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}


def sessions_of(client: APIClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Return `GET /api/auth/sessions` as the session of a token response sees it."""
    response = client.get("/api/auth/sessions", **bearer(body["access_token"]))
    assert response.status_code == 200, response.content
    return response.json()


def current_id(client: APIClient, body: dict[str, Any]) -> str:
    """Return the id of the session a token response belongs to."""
    return next(s["id"] for s in sessions_of(client, body) if s["current"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server of a test's own, on a free port: started, stopped, killed, frozen at will."""

    def __init__(self, directory) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self, *, aof: bool = False, options: tuple[str, ...] = ()) -> None:
        """Start it; `options` are more redis-server arguments ("--enable-debug-command", ...)."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if aof else []
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.directory), "--save", "", *persistence, *options),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.client().ping()
                return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def freeze(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGCONT)

    def wipe(self) -> None:
        self.stop()
        for name in os.listdir(self.directory):
            path = self.directory / name
            if path.is_dir():
                for inner in path.iterdir():
                    inner.unlink()
                path.rmdir()
            else:
                path.unlink()


class LiveServer:
    """A gunicorn server running the site with the test settings on a loopback port."""

    def __init__(self, env: dict[str, str], workers: int = 3) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.devnull, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "30",
                "--graceful-timeout",
                "2",
            ],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up")
            try:
                httpx.get(f"{self.url}/api/user/info", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer within 30 seconds")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def gunicorn_servers(
    django_db_setup: Any, django_db_blocker: Any, redis_proc: Any
) -> Iterator[Callable[..., LiveServer]]:
    """Return a function that starts (or reuses) a gunicorn server for the given TEST_* env."""
    servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}

    def start(workers: int = 3, **env: str) -> LiveServer:
        key = (("workers", str(workers)), *sorted(env.items()))
        if key not in servers:
            servers[key] = LiveServer(env, workers)
        return servers[key]

    yield start
    for server in servers.values():
        server.stop()


@pytest.fixture
def gunicorn_server(
    gunicorn_servers: Callable[..., LiveServer], transactional_db: None
) -> LiveServer:
    """A 3-worker gunicorn server with the default test settings."""
    return gunicorn_servers()
