"""The one process harness: free ports, a redis-server, gunicorn, waiting for them to answer.

The test suite (tests/conftest.py), the benchmark (bench/) and the soak (soak/) all start their
servers through this module, so a fix to how a server starts, is waited for or is stopped is
made once. (The suite's one shared Redis is pytest-redis's `redis_proc`, on a port that
`free_port()` picks; every other Redis and every gunicorn comes from here.) It imports nothing
from Django or from the app, and is not shipped in the wheel (pyproject ships only `tokens`).

- `free_port()`: a loopback port nobody listens on, never the same one twice in a process.
- `wait_until(check, what)`: retry a check until it stops raising (a port, a ping, an HTTP GET).
- `wait_for_port(port)`: wait until something accepts TCP connections on a loopback port.
- `RedisServer`: one redis-server of the caller's own on a free loopback port, in a directory
  of its own; started, stopped, killed, frozen (SIGSTOP), thawed, wiped, restarted on the same
  port. Usable as a context manager.
- `Gunicorn`: the site (or any WSGI app) served by gunicorn on a free loopback port, in a
  process group of its own; waited for until a path answers over HTTP. A context manager too.
- `Uvicorn`: an ASGI app (the site's `config.asgi`) served by uvicorn, one event loop, likewise.
- `RedisSentinel` and `RedisCluster`: the two Redis topologies, built from `RedisServer`s (a
  primary, replicas and sentinels; primaries with a replica each), each in a directory of its
  own; a start that fails is tried once more on new ports (`_Topology`). Context managers too.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on (the kernel's pick), new to this process.

    A Sentinel or a Cluster chooses a dozen ports before its servers bind them, and the kernel
    hands a port it just gave out (and saw released) out again: in CI a node's bus port was
    another node's port, and a sentinel's port a server's. So no port is handed out twice.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


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
        except errors as error:
            if time.monotonic() > deadline:
                # The last error says which condition never came (a CI log has nothing else).
                raise RuntimeError(
                    f"{what} did not answer within {timeout:g} s (last: {error!r})"
                ) from None
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
        """Start it and wait until it answers (it, not another server that holds its port).

        `aof` turns on the append-only file with a sync on every write (what survives a crash);
        `options` are more redis-server arguments, e.g. ("--enable-debug-command", "yes").
        """
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if aof else []
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.directory), "--save", "", *persistence),
                *("--logfile", str(self.directory / "redis.log"), *options),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # No retries and a short timeout: a PING that something else's socket swallowed (the
        # port was taken after all) must not outlast the check that notices the server exited.
        client = redis.Redis(port=self.port, socket_timeout=1, retry=Retry(NoBackoff(), retries=0))
        process = self.process

        def answers() -> None:
            # Its own answer, not another server's that holds the port (this one then exits).
            if client.info("server")["process_id"] != process.pid:
                raise redis.exceptions.ConnectionError(f"another server answers on {self.port}")

        try:
            wait_until(
                answers,
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

    def flushall(self) -> None:
        """Empty it (a primary's replicas follow)."""
        with self.client() as client:
            client.flushall()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it with `sig` (SIGKILL: a crash, no shutdown save) and wait for it to exit."""
        if self.process is not None:
            stop_process(self.process, sig)

    @contextmanager
    def stalled(self, seconds: float) -> Iterator[None]:
        """Hold it in `DEBUG SLEEP` for `seconds` (started with `--enable-debug-command yes`).

        The block runs once Redis is asleep, proven by a PING that times out, not after a
        guessed pause (on a busy machine the sleeper may not even have sent its command yet).
        What the block sends meanwhile runs when Redis wakes; the exit waits for that.
        """
        sleeper = redis.Redis(port=self.port, socket_timeout=seconds + 10)
        # No retries: redis-py retries a timeout, with backoff, by default, past the stall.
        probe = redis.Redis(port=self.port, socket_timeout=0.2, retry=Retry(NoBackoff(), retries=0))
        with ThreadPoolExecutor(1) as pool:
            sleep = pool.submit(sleeper.execute_command, "DEBUG", "SLEEP", seconds)
            try:
                while True:
                    if sleep.done():
                        sleep.result()
                        raise RuntimeError(f"redis-server woke before its {seconds} s stall began")
                    try:
                        probe.ping()
                    except redis.exceptions.TimeoutError:
                        break
                    time.sleep(0.01)
                yield
            finally:
                sleep.result()
                probe.close()
                sleeper.close()

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


class _Server:
    """An HTTP server process on a free loopback port, started at construction, in its own group.

    It counts as started once `ready_path` answers HTTP, with any status (Django has then loaded
    in a worker). `env` is its whole environment (the caller merges os.environ in, and sets
    DJANGO_SETTINGS_MODULE). A subclass gives the command that serves on a port.
    """

    name = "server"

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        *,
        port: int,
        ready_path: str,
        ready_within: float,
        stderr: int | IO[bytes] | None,
        cwd: Path,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            list(command),
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
                self.name,
                timeout=ready_within,
                process=self.process,
                errors=(OSError, http.client.HTTPException),
            )
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        """Return the server's main pid (its workers' parent)."""
        return self.process.pid

    def _answers(self, path: str) -> None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=1) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError:
            pass  # an HTTP answer, whatever its status, is a server that has started

    def stop(self) -> None:
        """Stop the server and its workers (SIGTERM to the group, SIGKILL after 10 s)."""
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


class Gunicorn(_Server):
    """A gunicorn server (see `_Server`); its workers are children of `pid`.

    `port` names the port when a restart must come back at the same address; `python` runs
    gunicorn from another virtualenv (an installed wheel's).
    """

    name = "gunicorn"

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
        port: int | None = None,
        python: str | Path = sys.executable,
    ) -> None:
        port = free_port() if port is None else port
        command = [
            *(str(python), "-m", "gunicorn", app),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            *("--timeout", str(timeout), "--graceful-timeout", str(graceful_timeout)),
            *options,
        ]
        super().__init__(
            command,
            env,
            port=port,
            ready_path=ready_path,
            ready_within=ready_within,
            stderr=stderr,
            cwd=cwd,
        )


# A primary starts a replica's full sync at once, not after Redis' default 5 s wait for more
# replicas to share the transfer: that wait was most of a Sentinel's start-up. Only full syncs
# (a new replica, one that fell too far behind) wait; ongoing replication is the same.
FULL_SYNC_AT_ONCE = ("--repl-diskless-sync-delay", "0")


class _Topology:
    """What a Sentinel and a Cluster share: a start tried twice, a directory per try, `with`.

    A topology is a dozen processes that must find each other within a deadline; on a loaded
    CI machine (a stalled virtual machine, a port taken after all) one start in many misses
    it, which says nothing about the code under test. So a start that fails is stopped and
    tried once more from scratch, on new ports in a new directory; why the first failed goes
    to stderr, with the tails of its servers' logs. A subclass chooses its `servers` and ports
    in `_choose_ports()`, starts them in `_start()`, and stops what it adds in `stop()`.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.attempts = 0
        self.servers: list[RedisServer] = []

    def _new_try(self) -> None:
        self.attempts += 1
        self._choose_ports()

    def _try_directory(self, name: str) -> Path:
        """Return (and make) the directory `name` of this try's servers."""
        path = self.directory / f"try-{self.attempts}" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _choose_ports(self) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every server (thawed first: a frozen one would not hear the signal)."""
        for server in self.servers:
            server.thaw()
            server.stop()

    def start(self) -> Self:
        """Start it; if that fails, stop it and start it afresh once (see the class)."""
        try:
            self._start()
            return self
        except Exception as error:
            self.stop()
            logs = "".join(
                f"\n--- {log}:\n" + "".join(log.read_text(errors="replace").splitlines(True)[-8:])
                for log in sorted(self._try_directory("").glob("*/*.log"))
            )
            print(
                f"{type(self).__name__} did not start ({error}); once more{logs}", file=sys.stderr
            )
        except BaseException:
            self.stop()
            raise
        self._new_try()
        try:
            self._start()
            return self
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RedisSentinel(_Topology):
    """Redis Sentinel on loopback ports: a primary, `replicas` replicas and `sentinels` sentinels.

    Each server is a `RedisServer` in a directory of its own under `directory`. The sentinels
    watch the primary under the service name `master_name`, call it down after
    `down_after_ms` without an answer and agree on a failover with a quorum of 2. `sentinels`
    lists their (host, port) pairs, the addresses a Sentinel client needs.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        replicas: int = 2,
        sentinels: int = 3,
        master_name: str = "tokens",
        down_after_ms: int = 1000,
    ) -> None:
        super().__init__(directory)
        self.master_name = master_name
        self.down_after_ms = down_after_ms
        self.replicas = replicas
        self.sentinel_count = sentinels
        self._new_try()

    def _choose_ports(self) -> None:
        self.servers = [
            RedisServer(self._try_directory(f"redis-{i}")) for i in range(1 + self.replicas)
        ]
        self.sentinel_ports = [free_port() for _ in range(self.sentinel_count)]
        self.sentinel_processes: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """Return the sentinels' (host, port) pairs."""
        return [("127.0.0.1", port) for port in self.sentinel_ports]

    def _start(self) -> None:
        """Start the primary, its replicas (in sync) and the sentinels (watching all of them)."""
        primary, *replicas = self.servers
        primary.start(options=FULL_SYNC_AT_ONCE)
        for replica in replicas:
            replica.start(
                options=(*FULL_SYNC_AT_ONCE, "--replicaof", "127.0.0.1", str(primary.port))
            )
        for replica in replicas:
            wait_until(
                lambda r=replica: self._require(r.client().info("replication"), "up"),  # type: ignore[misc]
                "replica sync",
                timeout=60,
            )
        for index, port in enumerate(self.sentinel_ports):
            directory = self._try_directory(f"sentinel-{index}")
            conf = directory / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\nlogfile {directory}/sentinel.log\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master_name} 10000\n"
                f"sentinel parallel-syncs {self.master_name} 1\n"
            )
            self.sentinel_processes.append(
                subprocess.Popen(
                    ["redis-server", str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        # Ready once every sentinel knows both replicas and the other sentinels (a failover
        # needs the quorum and a replica to promote).
        for port, process in zip(self.sentinel_ports, self.sentinel_processes, strict=True):
            wait_until(
                lambda p=port: self._sentinel_ready(p),  # type: ignore[misc]
                f"sentinel on port {port}",
                timeout=60,
                process=process,
            )

    @staticmethod
    def _require(info: dict[str, Any], link: str) -> None:
        if info.get("master_link_status") != link:
            raise RuntimeError("replica not in sync yet")

    def _sentinel_ready(self, port: int) -> None:
        client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
        try:
            master: dict[str, Any] = client.sentinel_master(self.master_name)  # type: ignore[assignment]
            if int(master["num-slaves"]) < len(self.servers) - 1:
                raise RuntimeError("replicas not known yet")
            if int(master["num-other-sentinels"]) < len(self.sentinel_ports) - 1:
                raise RuntimeError("other sentinels not known yet")
        finally:
            client.close()

    def primary_address(self) -> tuple[str, int]:
        """Return the primary's (host, port) as the sentinels see it now."""
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=2, decode_responses=True)
        try:
            host, port = client.sentinel_get_master_addr_by_name(self.master_name)  # type: ignore[misc]
        finally:
            client.close()
        return str(host), int(port)

    def primary(self) -> RedisServer:
        """Return the server that is the primary now."""
        _, port = self.primary_address()
        return next(server for server in self.servers if server.port == port)

    def client(self) -> redis.Redis:
        """Return a new client of the current primary (2-second timeouts)."""
        return self.primary().client()

    def flushall(self) -> None:
        """Empty the primary (the replicas follow)."""
        self.primary().flushall()

    def stop(self) -> None:
        """Stop the sentinels, then every server."""
        for process in self.sentinel_processes:
            stop_process(process)
        super().stop()


class RedisCluster(_Topology):
    """A Redis Cluster on loopback ports: `primaries` primaries with `replicas` replicas each.

    Each node is a `RedisServer` (cluster mode on, a node timeout of `node_timeout_ms`: how long
    a primary may stay silent before its replica takes over) in a directory of its own, joined
    with `redis-cli --cluster create`. `url` is any node's, all a cluster client needs.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
    ) -> None:
        super().__init__(directory)
        self.node_timeout_ms = node_timeout_ms
        self.primaries = primaries
        self.replicas = replicas
        self._new_try()

    def _choose_ports(self) -> None:
        self.servers = [
            RedisServer(self._try_directory(f"node-{index}"))
            for index in range(self.primaries * (1 + self.replicas))
        ]

    @property
    def url(self) -> str:
        """Return the redis:// URL of the first node."""
        return f"redis://127.0.0.1:{self.servers[0].port}"

    @property
    def options(self) -> tuple[str, ...]:
        """Return the redis-server options every node starts with."""
        return (
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            *("--cluster-node-timeout", str(self.node_timeout_ms)),
            *FULL_SYNC_AT_ONCE,
        )

    def _start(self) -> None:
        """Start every node, create the cluster, and wait until every node calls it ok."""
        for server in self.servers:
            # The bus port is chosen too: the default (port + 10000) may be taken or past 65535.
            server.start(options=(*self.options, "--cluster-port", str(free_port())))
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{server.port}" for server in self.servers),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_ok(timeout=60)

    def wait_ok(self, timeout: float = 30) -> None:
        """Wait until every running node reports `cluster_state:ok` and knows every node."""
        for server in self.servers:
            if server.process is None or server.process.poll() is not None:
                continue
            wait_until(lambda s=server: self._node_ok(s), "cluster", timeout=timeout)  # type: ignore[misc]

    def _node_ok(self, server: RedisServer) -> None:
        client = server.client()
        try:
            info = client.execute_command("CLUSTER INFO")
            if isinstance(info, bytes):
                info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
            if info.get("cluster_state") != "ok":
                raise RuntimeError("cluster not ok yet")
            if int(info.get("cluster_known_nodes", 0)) < len(self.servers):
                raise RuntimeError("nodes not all known yet")
        finally:
            client.close()

    def client(self) -> redis.RedisCluster:
        """Return a new cluster client (2-second timeouts)."""
        return redis.RedisCluster.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def primary_servers(self) -> list[RedisServer]:
        """Return the nodes that are primaries now."""
        found = []
        for server in self.servers:
            if server.process is None or server.process.poll() is not None:
                continue
            client = server.client()
            try:
                if client.info("replication").get("role") == "master":
                    found.append(server)
            except redis.RedisError:
                pass
            finally:
                client.close()
        return found

    def primary_port_of(self, server: RedisServer) -> int | None:
        """Return the port of the primary `server` replicates (None for a primary)."""
        client = server.client()
        try:
            info = client.info("replication")
        finally:
            client.close()
        return int(info["master_port"]) if info.get("role") == "slave" else None

    def flushall(self) -> None:
        """Empty every primary (their replicas follow)."""
        for server in self.primary_servers():
            server.flushall()


class Uvicorn(_Server):
    """An ASGI app served by uvicorn (one worker: one event loop) on a free loopback port.

    See `_Server`.
    """

    name = "uvicorn"

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        app: str = "config.asgi:application",
        options: Sequence[str] = (),
        ready_path: str = "/api/user/info",
        ready_within: float = 30,
        stderr: int | IO[bytes] | None = subprocess.DEVNULL,
        cwd: Path = ROOT,
    ) -> None:
        port = free_port()
        command = [
            *(sys.executable, "-m", "uvicorn", app),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--no-access-log", "--lifespan", "off", "--timeout-graceful-shutdown", "2"),
            *options,
        ]
        super().__init__(
            command,
            env,
            port=port,
            ready_path=ready_path,
            ready_within=ready_within,
            stderr=stderr,
            cwd=cwd,
        )


class OIDCProvider(Gunicorn):
    """A real OpenID Connect provider (tests/oidc_provider: django-oauth-toolkit) in gunicorn.

    Its database, its signing key, its one user and its one confidential client are made at
    construction, in `directory`; `issuer` is what its discovery document and id tokens say
    (`http://127.0.0.1:PORT/o`). A `Gunicorn`: stopped by `stop()` or its with-block.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        username: str,
        password: str,
        email: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        rsa_private_key: str,
    ) -> None:
        self.username, self.password, self.email = username, password, email
        self.client_id, self.client_secret, self.redirect_uri = (
            client_id,
            client_secret,
            redirect_uri,
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
            "OIDC_PROVIDER_DB": str(Path(directory) / "provider.sqlite3"),
            "OIDC_PROVIDER_KEY": rsa_private_key,
            "OIDC_PROVIDER_USER": username,
            "OIDC_PROVIDER_PASSWORD": password,
            "OIDC_PROVIDER_EMAIL": email,
            "OIDC_PROVIDER_CLIENT_ID": client_id,
            "OIDC_PROVIDER_CLIENT_SECRET": client_secret,
            "OIDC_PROVIDER_REDIRECT_URI": redirect_uri,
        }
        subprocess.run(
            [sys.executable, "-m", "tests.oidc_provider.bootstrap"], cwd=ROOT, env=env, check=True
        )
        super().__init__(
            env,
            workers=2,
            app="tests.oidc_provider.wsgi:application",
            ready_path="/o/.well-known/openid-configuration",
        )
        self.issuer = f"{self.url}/o"
