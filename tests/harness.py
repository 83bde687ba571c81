"""The one process harness: free ports, a redis-server, gunicorn, waiting for them to answer.

The test suite (tests/conftest.py), the benchmark (bench/) and the soak (soak/) all start their
servers through this module, so a fix to how a server starts, is waited for or is stopped is
made once. It imports nothing from Django or from the app, and is not shipped in the wheel
(pyproject ships only `tokens`).

- `free_port()`: a loopback port nobody listens on.
- `wait_until(check, what)`: retry a check until it stops raising (a port, a ping, an HTTP GET).
- `wait_for_port(port)`: wait until something accepts TCP connections on a loopback port.
- `RedisServer`: one redis-server of the caller's own on a free loopback port, in a directory
  of its own; started, stopped, killed, frozen (SIGSTOP), thawed, wiped, restarted on the same
  port. Usable as a context manager.
- `Gunicorn`: the site (or any WSGI app) served by gunicorn on a free loopback port, in a
  process group of its own; waited for until a path answers over HTTP. A context manager too.

Room for more Redis topologies: a Redis Sentinel starter and a Redis Cluster starter belong
beside `RedisServer`, as classes of their own (say `RedisSentinel` and `RedisCluster`) built from
`RedisServer`s started with the options they need (`options=("--replicaof", ...)` for the
replicas, `("--cluster-enabled", "yes", ...)` for cluster nodes; a sentinel is `redis-server
sentinel.conf --sentinel`). They should offer what `RedisServer` offers to callers: `start()`,
`stop()`, a `url` (or the URLs and service name a client needs) and `client()`, so a fixture or
the benchmark can take any of the three.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], object],
    what: str,
    *,
    timeout: float = 30,
    interval: float = 0.1,
    process: subprocess.Popen[Any] | None = None,
    errors: tuple[type[BaseException], ...] = (Exception,),
) -> None:
    """Call `check` until it returns without raising one of `errors`, or raise RuntimeError.

    With `process`, give up at once when that process exits: a server that died during start-up
    will never answer, and waiting out the timeout would only hide why.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up (status {process.returncode})")
        try:
            check()
            return
        except errors:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {timeout:g} s") from None
            time.sleep(interval)


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 30) -> None:
    """Wait until something accepts TCP connections on host:port."""

    def connect() -> None:
        with socket.create_connection((host, port), timeout=1):
            pass

    wait_until(connect, f"port {port}", timeout=timeout, interval=0.05, errors=(OSError,))


def stop_process(
    process: subprocess.Popen[Any],
    sig: int = signal.SIGTERM,
    *,
    group: bool = False,
    timeout: float = 10,
) -> None:
    """Send `sig` to a process (its whole process group with `group`), wait, then SIGKILL it."""
    if process.poll() is not None:
        return
    send: Callable[[int], None] = (
        (lambda s: os.killpg(process.pid, s)) if group else process.send_signal
    )
    send(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()


class RedisServer:
    """A redis-server of the caller's own on a free loopback port, storing in `directory`.

    Nothing is saved to disk unless `start(aof=True)`. The port is chosen once, so a server
    stopped and started again (a restart, a crash with `stop(signal.SIGKILL)`) comes back where
    its clients expect it.
    """

    def __init__(self, directory: Path | str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.directory = Path(directory)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the redis:// URL of its database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, aof: bool = False, options: Sequence[str] = ()) -> Self:
        """Start it and wait until it answers PING.

        `aof` turns on the append-only file with a sync on every write (what survives a crash);
        `options` are more redis-server arguments, e.g. ("--enable-debug-command", "yes").
        """
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if aof else []
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.directory), "--save", "", *persistence, *options),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        try:
            wait_until(
                client.ping,
                "redis-server",
                timeout=10,
                interval=0.05,
                process=self.process,
                errors=(redis.exceptions.RedisError,),
            )
        finally:
            client.close()
        return self

    def client(self) -> redis.Redis:
        """Return a new client of it, with 2-second timeouts (a frozen server cannot hang it)."""
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it with `sig` (SIGKILL: a crash, no shutdown save) and wait for it to exit."""
        if self.process is not None:
            stop_process(self.process, sig)

    def freeze(self) -> None:
        """Stop it answering without closing its connections (SIGSTOP), as a stalled server."""
        assert self.process is not None, "freeze() before start()"
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server run again (SIGCONT); harmless when it is not frozen."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def wipe(self) -> None:
        """Stop it and delete everything it stored, so the next start is empty."""
        self.stop()
        for path in self.directory.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def __enter__(self) -> Self:
        if self.process is None or self.process.poll() is not None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.thaw()
        self.stop()


class Gunicorn:
    """A gunicorn server on a free loopback port, started at construction, in its own group.

    `env` is the servers' whole environment (the caller merges os.environ in, and sets
    DJANGO_SETTINGS_MODULE). The server counts as started once `ready_path` answers HTTP, with
    any status: Django has then loaded in a worker. Its workers are children of `pid`.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 3,
        app: str = "config.wsgi:application",
        timeout: int = 30,
        graceful_timeout: int = 2,
        options: Sequence[str] = (),
        ready_path: str = "/api/user/info",
        ready_within: float = 30,
        stderr: int | IO[bytes] | None = subprocess.DEVNULL,
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", app),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)),
                *("--timeout", str(timeout), "--graceful-timeout", str(graceful_timeout)),
                *options,
            ],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            # Its own process group: stop() ends the master and every worker, and a Ctrl-C
            # in the caller's terminal does not kill it before the caller's cleanup runs.
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: self._answers(ready_path),
                "gunicorn",
                timeout=ready_within,
                process=self.process,
                errors=(OSError, http.client.HTTPException),
            )
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        """Return the gunicorn master's pid (its workers' parent)."""
        return self.process.pid

    def _answers(self, path: str) -> None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=1) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError:
            pass  # an HTTP answer, whatever its status, is a server that has started

    def stop(self) -> None:
        """Stop the master and its workers (SIGTERM to the group, SIGKILL after 10 s)."""
        stop_process(self.process, group=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
