"""Benchmark this app against simplejwt + its blacklist app, served by the same processes.

    python -m bench.run                      # SQLite (or $DATABASE_URL), full size
    python -m bench.run --db sqlite --db postgres://postgres@127.0.0.1:5432/tokens_bench
    python -m bench.run --tiny               # a few seconds: proves the harness works
    python -m bench.run --db-store postgres://postgres@127.0.0.1:5432/tokens_bench
                                             # the database store on PostgreSQL, too
    python -m bench.run --write-docs         # also write the table into docs/benchmarks.md

For each database, a child process migrates a fresh bench database, creates users and tokens,
starts gunicorn (2 sync workers, bench.settings) on a free loopback port and drives it with wrk
(bench/lua/*.lua). Every measured pair (this app, simplejwt) runs back to back, in alternating
order, `rounds` times; the table reports medians and the median of the rounds' ratios, and a
second table the CPU each process (gunicorn's workers, Redis, PostgreSQL, wrk) spent per request,
read from /proc around every run. The Redis server is the run's own, on a free port, and is
flushed between phases; the machine's Redis is never used. A database given with --db-store is
measured once more with the database store (tokens.stores.db) as "this app", on the same
database as simplejwt's blacklist, and its rows per session counted across the rotations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "bench" / "lua"
DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"
PASSWORD = "bench-password-0123"
# A typical browser user agent, 120 characters, recorded with every session of the memory test.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.113"
)
assert len(USER_AGENT) == 120


@dataclass(frozen=True)
class Size:
    """How long and how large a run is."""

    duration: int  # seconds per wrk run
    rounds: int  # measured repetitions of every scenario
    connections: int  # wrk connections (and threads) per run
    users: int  # users with a session each, for the authenticated GET
    sessions: int  # live sessions in the Redis memory test
    rotations: int  # rotations in the memory test
    warmup: int  # seconds of unrecorded load per scenario before the first round
    # simplejwt rotations counted in-process (each costs milliseconds and table rows: 100,000
    # would take most of an hour, so the run rotates this many and reports the rate per rotation)
    sj_rotations: int
    # Login is PBKDF2-bound (a few per second): fewer, longer runs give it enough requests.
    login_rounds: int
    login_duration: int


FULL = Size(
    duration=2,
    rounds=9,
    connections=4,
    users=200,
    sessions=100_000,
    rotations=100_000,
    warmup=1,
    sj_rotations=1000,
    login_rounds=3,
    login_duration=5,
)
TINY = Size(
    duration=1,
    rounds=1,
    connections=2,
    users=8,
    sessions=500,
    rotations=500,
    warmup=0,
    sj_rotations=100,
    login_rounds=1,
    login_duration=2,
)


@dataclass(frozen=True)
class Scenario:
    """One wrk run: an endpoint of one implementation."""

    key: str  # the table row
    impl: str  # "ours", "simplejwt" or "-" (neither: the bare view, the I/O floor)
    script: str
    path: str
    env: tuple[tuple[str, str], ...] = ()


SCENARIOS = [
    Scenario("bare", "-", "bare.lua", "/bench/bare"),
    # {user}: a bench user's id, filled in once the users exist.
    Scenario("io_floor", "-", "bare.lua", "/bench/refresh-io-floor/{user}"),
    Scenario("get", "ours", "auth_get.lua", "/bench/ours/id", (("BENCH_TOKENS", "ours_access"),)),
    Scenario(
        "get", "simplejwt", "auth_get.lua", "/bench/simplejwt/id", (("BENCH_TOKENS", "sj_access"),)
    ),
    Scenario(
        "get_user", "ours", "auth_get.lua", "/bench/ours/user", (("BENCH_TOKENS", "ours_access"),)
    ),
    Scenario(
        "get_user",
        "simplejwt",
        "auth_get.lua",
        "/bench/simplejwt/user",
        (("BENCH_TOKENS", "sj_access"),),
    ),
    Scenario(
        "refresh",
        "ours",
        "refresh_chain.lua",
        "/api/auth/refresh",
        (
            ("BENCH_TOKENS", "ours_refresh"),
            ("BENCH_FIELD_IN", "refresh_token"),
            ("BENCH_FIELD_OUT", "refresh_token"),
        ),
    ),
    Scenario(
        "refresh",
        "simplejwt",
        "refresh_chain.lua",
        "/bench/simplejwt/token/refresh",
        (
            ("BENCH_TOKENS", "sj_refresh"),
            ("BENCH_FIELD_IN", "refresh"),
            ("BENCH_FIELD_OUT", "refresh"),
        ),
    ),
    Scenario("login", "ours", "login.lua", "/api/auth/login", (("BENCH_BODIES", "logins"),)),
    Scenario(
        "login", "simplejwt", "login.lua", "/bench/simplejwt/token", (("BENCH_BODIES", "logins"),)
    ),
]

# Rows measured once, with no simplejwt counterpart (the bare view, the I/O floor).
SOLO_ROWS = {s.key for s in SCENARIOS if s.impl == "-"}

ROWS = {
    "bare": "bare DRF view, no auth (the floor)",
    "io_floor": "a refresh's I/O alone: one Redis command and the user check, no tokens",
    "get": "authenticated GET, answers the user id",
    "get_user": "authenticated GET, answers a user column",
    "refresh": "refresh (chains; simplejwt: rotation + blacklist)",
    "login": "login (PBKDF2, Django default)",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Processes: Redis, gunicorn, wrk -------------------------------------------------------


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Run the bench's own redis-server on a free loopback port; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it listens, and its master's pid (its workers are children)."""

    url: str
    pid: int


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[Server]:
    """Serve bench.settings with gunicorn sync workers on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/bench/bare", timeout=1) as response:  # noqa: S310
                    response.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield Server(url, process.pid)
    finally:
        stop(process)


def wrk(url: str, scenario: Scenario, files: dict[str, Path], connections: int, seconds: int):
    """Run wrk for one scenario; return the numbers its Lua `done()` printed."""
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR)}
    for name, value in scenario.env:
        env[name] = str(files[value]) if value in files else value
    before = children_cpu()
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(connections),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "20s",
            "-s",
            str(LUA_DIR / scenario.script),
            url + scenario.path,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH "):
            numbers = json.loads(line[len("BENCH ") :])
            numbers["rps"] = numbers["requests"] / (numbers["duration_us"] / 1e6)
            numbers["wrk_cpu"] = children_cpu() - before
            return numbers
    raise RuntimeError(f"wrk printed no result:\n{result.stdout}\n{result.stderr}")


# --- CPU: which process spends the machine's cores on a request --------------------------------
# On a 2-core machine wrk, the workers, Redis and PostgreSQL share the cores, and a run keeps them
# busy: a request's latency then follows the CPU every process spends on it, not only the
# worker's. Linux only (/proc), as wrk and the rest of the bench are.

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> Iterator[tuple[str, str, int, float]]:
    """Yield every process's pid, name, parent pid and CPU seconds so far (user + system)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # it exited while we looked
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        yield pid, name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_idle(master: int, timeout: float = 30) -> None:
    """Wait until gunicorn's workers finish the requests a finished wrk run left in them.

    wrk stops on the clock, not when the server does: a login (PBKDF2, most of a second) still
    running in a worker would otherwise count as the next run's CPU and latency.
    """
    window, threshold = 0.2, 0.02  # /proc counts CPU in 10 ms ticks

    def workers() -> float:
        return sum(seconds for _, _, parent, seconds in processes() if parent == master)

    deadline = time.monotonic() + timeout
    last = workers()
    while time.monotonic() < deadline:
        time.sleep(window)
        now = workers()
        if now - last < threshold:
            return
        last = now


def children_cpu() -> float:
    """Return the CPU seconds of this process's finished children (wrk: one run at a time)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """Return the machine's busy and total CPU seconds since boot, over all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS


def cpu_snapshot(master: int, redis_info: dict[str, Any], postgres: bool) -> dict[str, Any]:
    """Return CPU seconds so far: per gunicorn worker, per PostgreSQL process, Redis, machine.

    Processes are kept by pid, so that one that exits between two snapshots (a PostgreSQL
    backend replaced after CONN_MAX_AGE) drops out instead of counting negative. With SQLite
    (`postgres` false) the database runs inside the workers, and the machine's PostgreSQL,
    idle, is left out.
    """
    workers: dict[str, float] = {}
    database: dict[str, float] = {}
    for pid, name, parent, seconds in processes():
        if parent == master:
            workers[pid] = seconds
        elif postgres and name == "postgres":
            database[pid] = seconds
    busy, total = machine_cpu()
    return {
        "workers": workers,
        "database": database,
        "redis": float(redis_info["used_cpu_user"]) + float(redis_info["used_cpu_sys"]),
        "busy": busy,
        "total": total,
    }


def cpu_per_request(before: dict[str, Any], after: dict[str, Any], numbers: dict) -> dict:
    """Return µs of CPU per request by process kind, and how busy the machine was."""

    def spent(kind: str) -> float:
        return sum(t - before[kind].get(pid, 0.0) for pid, t in after[kind].items())

    per = 1e6 / max(numbers["requests"], 1)
    parts = {
        "cpu_workers_us": spent("workers") * per,
        "cpu_redis_us": (after["redis"] - before["redis"]) * per,
        "cpu_database_us": spent("database") * per,
        "cpu_wrk_us": numbers["wrk_cpu"] * per,
    }
    return {
        **parts,
        "cpu_total_us": sum(parts.values()),
        "machine_busy": (after["busy"] - before["busy"])
        / max(after["total"] - before["total"], 1e-9),
    }


# --- The child: one database -----------------------------------------------------------------


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


def size_of(args: argparse.Namespace) -> Size:
    """Return the run's size: tiny or full, with --rounds and --duration applied."""
    size = TINY if args.tiny else FULL
    if args.rounds:
        size = replace(size, rounds=args.rounds)
    if args.duration:
        size = replace(size, duration=args.duration)
    return size


def child(args: argparse.Namespace) -> None:
    """Measure every scenario on one database; write the results as JSON to args.out."""
    size = size_of(args)
    workdir = Path(tempfile.mkdtemp(prefix="tokens-bench-"))
    url = database_url(args.db[0], workdir)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=url,
        REDIS_URL=args.redis_url,
        BENCH_STORE=args.store,
    )
    os.environ.pop("TEST_URLCONF", None)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connections

    redis_client = redis.Redis.from_url(args.redis_url)
    redis_client.flushall()
    log(f"[{engine_name(url)}] migrating and creating {size.users} users")
    call_command("migrate", verbosity=0, interactive=False)
    users = create_users(size.users)
    files = write_inputs(workdir, users, size)
    connections.close_all()

    results: dict[str, Any] = {
        "database": engine_name(url),
        "store": args.store,
        "runs": [],
        "size": asdict(size),
        "load_before": os.getloadavg()[0],
    }
    sj_rows_before = simplejwt_rows()
    connections.close_all()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scenarios = [replace(s, path=s.path.format(user=users[0].pk)) for s in SCENARIOS]
    postgres = engine_name(url) == "PostgreSQL"
    with gunicorn(env) as server:
        base = server.url
        log(f"[{engine_name(url)}] gunicorn (2 sync workers) at {base}")
        if size.warmup:
            for scenario in scenarios:
                if scenario.key == "refresh":
                    # Chains need tokens of their own; warm the refresh views with a few
                    # in-process-minted chains instead of the measured ones.
                    continue
                wrk(base, scenario, files, size.connections, size.warmup)
                wait_idle(server.pid)
        for round_no in range(size.rounds):
            order = scenarios if round_no % 2 == 0 else swap_pairs(scenarios)
            for scenario in order:
                seconds = size.duration
                if scenario.key == "login":
                    if round_no >= size.login_rounds:
                        continue
                    seconds = size.login_duration
                if scenario.key == "refresh":
                    files[scenario.env[0][1]] = files[f"{scenario.env[0][1]}_{round_no}"]
                before = redis_snapshot(redis_client)
                cpu_before = cpu_snapshot(server.pid, before["info"], postgres)
                numbers = wrk(base, scenario, files, size.connections, seconds)
                after = redis_snapshot(redis_client)
                cpu_after = cpu_snapshot(server.pid, after["info"], postgres)
                wait_idle(server.pid)
                numbers.update(redis_per_request(before, after, numbers["requests"]))
                numbers.update(cpu_per_request(cpu_before, cpu_after, numbers))
                numbers.update(key=scenario.key, impl=scenario.impl, round=round_no)
                results["runs"].append(numbers)
                log(
                    f"[{engine_name(url)}] round {round_no + 1}/{size.rounds} "
                    f"{scenario.key:<9} {scenario.impl:<9} {numbers['rps']:8.1f} req/s "
                    f"p50 {numbers['p50_us'] / 1000:6.2f} ms  errors "
                    f"{numbers['status_errors'] + numbers['socket_errors']}"
                )
    results["load_after"] = os.getloadavg()[0]
    sj_rows_after = simplejwt_rows()
    sj_rotations = sum(
        r["requests"] for r in results["runs"] if r["key"] == "refresh" and r["impl"] != "ours"
    )
    results["simplejwt_http"] = {
        "rotations": sj_rotations,
        "rows_before": sj_rows_before,
        "rows_after": sj_rows_after,
    }
    results["sql"] = count_sql(users)
    if args.store == "database":
        results["rows"] = database_rows(size)
    if args.memory:
        results["memory"] = redis_memory(redis_client, size, RECOMMENDED_LISTPACK_VALUE)
        results["memory_default"] = redis_memory(redis_client, size, 64)
    if args.simplejwt_rotations:
        results["simplejwt_rotations"] = simplejwt_rotations(users[0], args.simplejwt_rotations)
    redis_client.flushall()
    connections.close_all()
    Path(args.out).write_text(json.dumps(results))
    shutil.rmtree(workdir, ignore_errors=True)


def swap_pairs(scenarios: list[Scenario]) -> list[Scenario]:
    """Return the scenarios with each (ours, simplejwt) pair in the other order."""
    out: list[Scenario] = []
    for scenario in scenarios:
        if out and out[-1].key == scenario.key:
            out.insert(len(out) - 1, scenario)
        else:
            out.append(scenario)
    return out


def create_users(count: int) -> list[Any]:
    """Create `count` users sharing one PBKDF2 password hash (hashing once, not `count` times)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    model = get_user_model()
    model.objects.filter(username__startswith="bench-").delete()
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    OutstandingToken.objects.all().delete()  # cascades to BlacklistedToken
    hashed = make_password(PASSWORD)
    model.objects.bulk_create(
        model(username=f"bench-{i}", email=f"bench-{i}@example.com", password=hashed)
        for i in range(count)
    )
    return list(model.objects.filter(username__startswith="bench-").order_by("pk"))


def write_inputs(workdir: Path, users: list[Any], size: Size) -> dict[str, Path]:
    """Mint the tokens and bodies the wrk scripts read, one a line; return their files."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from tokens import services

    def write(name: str, lines: list[str]) -> None:
        files[name] = workdir / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n")

    files: dict[str, Path] = {}
    write("ours_access", [services.login(user).access_token for user in users])
    write("sj_access", [str(RefreshToken.for_user(user).access_token) for user in users])
    for round_no in range(size.rounds):
        chains = users[: size.connections]
        write(f"ours_refresh_{round_no}", [services.login(u).refresh_token for u in chains])
        write(f"sj_refresh_{round_no}", [str(RefreshToken.for_user(u)) for u in chains])
    # Logins spread over a few users, so no one user's session list grows long.
    write(
        "logins",
        [json.dumps({"username": u.username, "password": PASSWORD}) for u in users[:16]],
    )
    return files


def redis_snapshot(client: Any) -> dict[str, Any]:
    info = client.info("all")
    return {
        "info": info,
        "reads": info["total_reads_processed"],
        "commands": {
            name[len("cmdstat_") :]: stats["calls"]
            for name, stats in info.items()
            if name.startswith("cmdstat_")
        },
    }


def redis_per_request(before: dict[str, Any], after: dict[str, Any], requests: int) -> dict:
    """Return Redis round trips and commands per request between two snapshots.

    A round trip is one read the server processed (`total_reads_processed`): a pipeline or a
    script call is one, however many commands it runs. The snapshot's own INFO is taken off.
    `INFO commandstats` also counts the commands a script runs, so it shows the mix, not trips.
    """
    trips = after["reads"] - before["reads"] - 1
    commands = {
        name: (calls - before["commands"].get(name, 0)) / max(requests, 1)
        for name, calls in after["commands"].items()
        if name != "info" and calls - before["commands"].get(name, 0) > 0
    }
    return {"redis_trips": trips / max(requests, 1), "redis_commands": commands}


def simplejwt_rows() -> int:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    return OutstandingToken.objects.count() + BlacklistedToken.objects.count()


def count_sql(users: list[Any]) -> dict[str, dict[str, int]]:
    """Count the SQL statements (Django's query log) one request of each scenario runs."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import RefreshToken

    from tokens import services

    client = Client(HTTP_HOST="127.0.0.1")
    user = users[0]
    ours = services.login(user)
    sj = RefreshToken.for_user(user)
    login_body = {"username": user.username, "password": PASSWORD}
    requests = {
        ("bare", "-"): ("get", "/bench/bare", None, None),
        ("io_floor", "-"): ("get", f"/bench/refresh-io-floor/{user.pk}", None, None),
        ("get", "ours"): ("get", "/bench/ours/id", ours.access_token, None),
        ("get", "simplejwt"): ("get", "/bench/simplejwt/id", str(sj.access_token), None),
        ("get_user", "ours"): ("get", "/bench/ours/user", ours.access_token, None),
        ("get_user", "simplejwt"): ("get", "/bench/simplejwt/user", str(sj.access_token), None),
        ("refresh", "ours"): (
            "post",
            "/api/auth/refresh",
            None,
            {"refresh_token": ours.refresh_token},
        ),
        ("refresh", "simplejwt"): (
            "post",
            "/bench/simplejwt/token/refresh",
            None,
            {"refresh": str(sj)},
        ),
        ("login", "ours"): ("post", "/api/auth/login", None, login_body),
        ("login", "simplejwt"): ("post", "/bench/simplejwt/token", None, login_body),
    }
    counts: dict[str, dict[str, int]] = {}
    for (key, impl), (method, path, bearer, body) in requests.items():
        extra = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
        with CaptureQueriesContext(connection) as queries:
            if method == "get":
                response = client.get(path, **extra)
            else:
                response = client.post(path, body, content_type="application/json", **extra)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
        counts.setdefault(key, {})[impl] = len(queries.captured_queries)
    return counts


# What docs/operations.md recommends in redis.conf; Redis' own default is 64.
RECOMMENDED_LISTPACK_VALUE = 256


def redis_memory(client: Any, size: Size, listpack_value: int) -> dict[str, Any]:
    """Measure Redis memory per live session, and keys and memory across rotations.

    `listpack_value` is Redis' `hash-max-listpack-value`, set for the run.
    """
    from tokens.stores import SessionRecord, get_store
    from tokens.tokens import new_jti

    client.flushall()
    client.config_set("hash-max-listpack-value", listpack_value)
    store = get_store()
    log(f"[memory] creating {size.sessions:,} sessions (one per user, 120-character user agent)")
    base = used_memory(client)
    base_keys = client.dbsize()
    now = time.time()
    jtis: list[str] = []
    for i in range(size.sessions):
        jti = new_jti()
        jtis.append(jti)
        store.create(
            SessionRecord(
                session_id=f"{i:016x}",
                user_id=str(1_000_000 + i),
                created_at=now,
                last_used_at=now,
                expires_at=int(now) + 7 * 86400,
                ip="203.0.113.7",
                user_agent=USER_AGENT,
                current_jti=jti,
            ),
            max_sessions=None,
        )
    created = used_memory(client)
    created_keys = client.dbsize()

    def rotate_all(count: int) -> None:
        for n in range(count):
            i = n % size.sessions
            new = new_jti()
            rotation = store.rotate(
                str(1_000_000 + i),
                f"{i:016x}",
                jtis[i],
                new_jti=new,
                now=time.time(),
                lifetime=7 * 86400,
                grace=10.0,
                max_age=30 * 86400,
            )
            assert rotation.outcome == "rotated", rotation
            jtis[i] = new

    # The first rotation of a session fills its "previous token" slot; from then on a
    # rotation overwrites in place. Measure both, and the steady state per session.
    log(f"[memory] {size.rotations:,} rotations, then {size.rotations:,} more")
    started = time.perf_counter()
    rotate_all(size.rotations)
    first = used_memory(client)
    first_keys = client.dbsize()
    rotate_all(size.rotations)
    second = used_memory(client)
    second_keys = client.dbsize()
    elapsed = time.perf_counter() - started
    client.flushall()
    return {
        "listpack_value": listpack_value,
        "sessions": size.sessions,
        "rotations": size.rotations,
        "base": base,
        "base_keys": base_keys,
        "created": created,
        "created_keys": created_keys,
        "after_first": first,
        "after_first_keys": first_keys,
        "after_second": second,
        "after_second_keys": second_keys,
        "rotations_per_second": 2 * size.rotations / elapsed,
    }


def used_memory(client: Any) -> int:
    # Let lazy frees and the allocator's stats settle before reading them.
    client.execute_command("MEMORY", "PURGE")
    return int(client.info("memory")["used_memory"])


def simplejwt_rotations(user: Any, count: int) -> dict[str, Any]:
    """Rotate one simplejwt refresh token `count` times through its own serializer; count rows."""
    from rest_framework_simplejwt.serializers import TokenRefreshSerializer
    from rest_framework_simplejwt.tokens import RefreshToken

    before = simplejwt_rows()
    raw = str(RefreshToken.for_user(user))
    log(f"[simplejwt] {count:,} rotations through TokenRefreshSerializer")
    started = time.perf_counter()
    for _ in range(count):
        serializer = TokenRefreshSerializer(data={"refresh": raw})
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh"]
    elapsed = time.perf_counter() - started
    return {
        "rotations": count,
        "rows_before": before,
        "rows_after": simplejwt_rows(),
        "seconds": elapsed,
    }


def database_rows(size: Size) -> dict[str, Any]:
    """Count the database store's rows across `size.rotations` rotations of 1,000 sessions."""
    from tokens.models import SessionOwner, StoredSession
    from tokens.stores import SessionRecord, get_store
    from tokens.tokens import new_jti

    store = get_store()
    sessions = min(1000, size.sessions)

    def rows() -> int:
        return StoredSession.objects.count() + SessionOwner.objects.count()

    StoredSession.objects.all().delete()
    SessionOwner.objects.all().delete()
    now = time.time()
    jtis: list[str] = []
    for i in range(sessions):
        jtis.append(new_jti())
        store.create(
            SessionRecord(
                session_id=f"{i:016x}",
                user_id=str(1_000_000 + i),
                created_at=now,
                last_used_at=now,
                expires_at=int(now) + 7 * 86400,
                ip="203.0.113.7",
                user_agent=USER_AGENT,
                current_jti=jtis[i],
            ),
            max_sessions=None,
        )
    created = rows()
    from django.db import connection

    if connection.vendor == "postgresql":
        # Rows, not speed, are measured here: without waiting for each commit's flush to disk
        # (about 10 ms on this kind of machine), 100,000 rotations take a minute, not twenty.
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    log(f"[database store] {size.rotations:,} rotations of {sessions:,} sessions")
    started = time.perf_counter()
    for n in range(size.rotations):
        i = n % sessions
        new = new_jti()
        rotation = store.rotate(
            str(1_000_000 + i),
            f"{i:016x}",
            jtis[i],
            new_jti=new,
            now=time.time(),
            lifetime=7 * 86400,
            grace=10.0,
            max_age=30 * 86400,
        )
        assert rotation.outcome == "rotated", rotation
        jtis[i] = new
    elapsed = time.perf_counter() - started
    return {
        "sessions": sessions,
        "rotations": size.rotations,
        "rows_created": created,
        "rows_after": rows(),
        "rotations_per_second": size.rotations / elapsed,
    }


# --- The parent: run the children, print and write the table ---------------------------------


def ratio_of(runs: list[dict[str, Any]], key: str) -> float:
    """Return the median over rounds of this app's req/s over simplejwt's in the same round.

    The two runs of a round are back to back, so a round's ratio sees the same machine; the
    median then drops the rounds where other load came and went between them.
    """
    ours = {r["round"]: r["rps"] for r in runs if r["key"] == key and r["impl"] == "ours"}
    theirs = {r["round"]: r["rps"] for r in runs if r["key"] == key and r["impl"] == "simplejwt"}
    ratios = [ours[n] / theirs[n] for n in ours if theirs.get(n)]
    return statistics.median(ratios) if ratios else float("nan")


def median_of(runs: list[dict[str, Any]], key: str, impl: str, field: str) -> float:
    values = [r[field] for r in runs if r["key"] == key and r["impl"] == impl]
    return statistics.median(values) if values else float("nan")


def render(results: list[dict[str, Any]], command: str) -> str:
    """Return the Markdown results: machine line, command, one table per database, targets."""
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine_line()}",
        "",
    ]
    for result in results:
        lines += render_database(result)
        lines += render_cpu(result)
    memory = next((r["memory"] for r in results if "memory" in r), None)
    if memory:
        default = next((r["memory_default"] for r in results if "memory_default" in r), None)
        lines += render_memory(memory, default)
    for result in results:
        if "simplejwt_rotations" in result:
            lines += render_simplejwt_rows(result)
    lines += render_targets(results, memory)
    return "\n".join(lines) + "\n"


def title_of(result: dict[str, Any]) -> str:
    """Return a result's heading: its database, and the store when it is not Redis."""
    store = result.get("store", "redis")
    return result["database"] + (", database store" if store == "database" else "")


def render_database(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    size = result["size"]
    errors = sum(r["status_errors"] + r["socket_errors"] for r in runs)
    lines = [
        f"### {title_of(result)}",
        "",
        f"Medians of {size['rounds']} interleaved rounds of {size['duration']} s runs; the ratio "
        "is the median of the rounds' ratios (each pair runs back to back); login: "
        f"{size['login_rounds']} rounds of {size['login_duration']} s. "
        f"{size['connections']} connections; errors (non-2xx or socket) over all runs: {errors}. "
        f"Load average (1 min) before / after: {result['load_before']:.1f} / "
        f"{result['load_after']:.1f}.",
        "",
        "| endpoint | this app req/s | simplejwt req/s | ratio | p50 ms (this app / simplejwt) "
        "| p99 ms (this app / simplejwt) | Redis round trips per request (this app / simplejwt) "
        "| SQL statements per request (this app / simplejwt) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sql = result.get("sql", {})
    for key, title in ROWS.items():
        if key in SOLO_ROWS:
            rps = median_of(runs, key, "-", "rps")
            p50 = median_of(runs, key, "-", "p50_us") / 1000
            p99 = median_of(runs, key, "-", "p99_us") / 1000
            trips = median_of(runs, key, "-", "redis_trips")
            lines.append(
                f"| {title} | {rps:,.0f} | | | {p50:.2f} | {p99:.2f} | {trips:.2f} "
                f"| {sql.get(key, {}).get('-', '')} |"
            )
            continue
        ours, theirs = (median_of(runs, key, impl, "rps") for impl in ("ours", "simplejwt"))
        p50 = [median_of(runs, key, impl, "p50_us") / 1000 for impl in ("ours", "simplejwt")]
        p99 = [median_of(runs, key, impl, "p99_us") / 1000 for impl in ("ours", "simplejwt")]
        trips = [median_of(runs, key, impl, "redis_trips") for impl in ("ours", "simplejwt")]
        counts = sql.get(key, {})
        lines.append(
            f"| {title} | {fmt_rps(ours)} | {fmt_rps(theirs)} | **{ratio_of(runs, key):.2f}x** "
            f"| {p50[0]:.2f} / {p50[1]:.2f} | {p99[0]:.2f} / {p99[1]:.2f} "
            f"| {trips[0]:.2f} / {trips[1]:.2f} "
            f"| {counts.get('ours', '')} / {counts.get('simplejwt', '')} |"
        )
    mix = []
    for key in ("get", "refresh", "login"):
        commands = [r["redis_commands"] for r in runs if r["key"] == key and r["impl"] == "ours"]
        if commands:
            last = commands[len(commands) // 2]
            mix.append(
                f"{key}: "
                + ", ".join(f"{name} {calls:.2f}" for name, calls in sorted(last.items()))
            )
    http = result["simplejwt_http"]
    lines.append("")
    if result.get("store", "redis") == "redis":
        lines += [
            "Redis commands per request of this app (`INFO commandstats`, which also counts the "
            "commands a Lua script runs): " + "; ".join(mix) + ".",
            "",
        ]
    else:
        rows = result["rows"]
        lines += [
            "This app keeps its sessions in the database here (`tokens.stores.db`); its rows "
            "are `tokens_storedsession` + `tokens_sessionowner`. The I/O-floor row is one "
            "session query and the user check. "
            f"{rows['sessions']:,} sessions: {rows['rows_created']:,} rows; after "
            f"{rows['rotations']:,} rotations (in-process, without waiting for commits to reach "
            f"the disk: {rows['rotations_per_second']:,.0f}/s): "
            f"{rows['rows_after']:,} rows.",
            "",
        ]
    lines += [
        f"simplejwt's token tables during the measured refreshes: {http['rotations']:,} "
        f"rotations took them from {http['rows_before']:,} to {http['rows_after']:,} rows "
        f"({(http['rows_after'] - http['rows_before']) / max(http['rotations'], 1):.2f} rows "
        "per rotation, until a cron job runs `flushexpiredtokens`).",
        "",
    ]
    return lines


IMPL_NAMES = {"ours": "this app", "simplejwt": "simplejwt"}


def render_cpu(result: dict[str, Any]) -> list[str]:
    """Return the table of CPU per request, by process, for one database's runs."""
    runs, db = result["runs"], result["database"]
    parts = [("cpu_workers_us", "gunicorn workers"), ("cpu_redis_us", "Redis")]
    if result.get("store", "redis") == "database":
        parts = parts[:1]
    if db == "PostgreSQL":
        parts.append(("cpu_database_us", "PostgreSQL"))
    parts.append(("cpu_wrk_us", "wrk"))
    bare = median_of(runs, "bare", "-", "cpu_total_us")
    lines = [
        f"CPU per request ({title_of(result)}), in µs, by process: medians over the rounds; "
        '"all" is their sum, which the p50 ratios follow while the machine is busy'
        + (" (SQLite runs inside the workers)" if db != "PostgreSQL" else "")
        + ":",
        "",
        "| endpoint | " + " | ".join(name for _, name in parts) + " | all | all vs the bare "
        "view's | machine busy |",
        "|---|" + "---:|" * (len(parts) + 3),
    ]
    for key, title in ROWS.items():
        impls = ("-",) if key in SOLO_ROWS else ("ours", "simplejwt")
        for impl in impls:
            total = median_of(runs, key, impl, "cpu_total_us")
            label = title if impl == "-" else f"{title}: {IMPL_NAMES[impl]}"
            lines.append(
                f"| {label} | "
                + " | ".join(f"{median_of(runs, key, impl, field):,.0f}" for field, _ in parts)
                + f" | {total:,.0f} | {total / bare:.2f}x "
                f"| {median_of(runs, key, impl, 'machine_busy'):.0%} |"
            )
    return [*lines, ""]


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def bytes_per_session(memory: dict[str, Any], state: str) -> float:
    """Return Redis memory per session in a state of the memory run ("created", ...)."""
    return (memory[state] - memory["base"]) / memory["sessions"]


def render_memory(memory: dict[str, Any], default: dict[str, Any] | None) -> list[str]:
    kib = 1024

    def per(result: dict[str, Any], state: str) -> str:
        return f"{bytes_per_session(result, state):.0f}"

    states = [
        ("created", f"{memory['sessions']:,} sessions created"),
        ("after_first", f"after {memory['rotations']:,} rotations"),
        ("after_second", f"after {memory['rotations']:,} more rotations"),
    ]
    rows = [f"| empty | {memory['base_keys']:,} | {memory['base'] / kib:,.0f} KiB | | |"]
    for state, label in states:
        rows.append(
            f"| {label} | {memory[state + '_keys']:,} | {memory[state] / kib:,.0f} KiB "
            f"| {per(memory, state)} | {per(default, state) if default else ''} |"
        )
    return [
        "### Redis memory",
        "",
        f"{memory['sessions']:,} live sessions, one per user, each with a 120-character user "
        "agent, created through the store; then rotated "
        f"{memory['rotations']:,} times, and {memory['rotations']:,} times more "
        "(`INFO memory` used_memory after `MEMORY PURGE`). Redis runs with "
        f"`hash-max-listpack-value {memory['listpack_value']}`, as docs/operations.md "
        "recommends, so that each user's hash keeps the compact listpack encoding; the last "
        "column repeats the run with Redis' default (64), where the hashes are hashtables:",
        "",
        "| state | keys | used_memory | bytes per session | bytes per session (Redis' default "
        "`hash-max-listpack-value 64`) |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Change over the last {memory['rotations']:,} rotations: "
        f"{memory['after_second_keys'] - memory['after_first_keys']:+,} keys, "
        f"{(memory['after_second'] - memory['after_first']) / kib:+,.1f} KiB. "
        "(The first rotation of a session fills its previous-token slot, about 20 bytes; "
        "later ones overwrite in place.) "
        f"Store rotations from one Python process: {memory['rotations_per_second']:,.0f}/s.",
        "",
    ]


def render_simplejwt_rows(result: dict[str, Any]) -> list[str]:
    sj = result["simplejwt_rotations"]
    grown = sj["rows_after"] - sj["rows_before"]
    return [
        f"### simplejwt's tables across rotations ({result['database']})",
        "",
        f"One refresh token rotated {sj['rotations']:,} times through simplejwt's "
        f"`TokenRefreshSerializer` (rotation + blacklist), in {sj['seconds']:.0f} s: "
        "`token_blacklist_outstandingtoken` + `token_blacklist_blacklistedtoken` went from "
        f"{sj['rows_before']:,} to {sj['rows_after']:,} rows (+{grown:,}, "
        f"{grown / sj['rotations']:.2f} per rotation): after 100,000 rotations, "
        f"+{grown / sj['rotations'] * 100_000:,.0f} rows until `flushexpiredtokens` runs. "
        "This app's Redis after 100,000 rotations: see the memory table (no new keys, flat).",
        "",
    ]


def render_targets(results: list[dict[str, Any]], memory: dict[str, Any] | None) -> list[str]:
    lines = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]

    def row(target: str, measured: str, ok: bool | None, note: str = "") -> None:
        met = "yes" if ok else "**no**" if ok is not None else note
        lines.append(f"| {target} | {measured} | {met} |")

    for result in results:
        runs, db = result["runs"], result["database"]
        # The issue sets the refresh targets on PostgreSQL; SQLite's figures are for comparison.
        on_postgres = db == "PostgreSQL"
        if result.get("store", "redis") == "database":
            lines += database_store_targets(result, on_postgres)
            continue
        refresh = ratio_of(runs, "refresh")
        row(
            f"refresh >= 5x simplejwt + blacklist ({db})",
            f"{refresh:.2f}x",
            refresh >= 5 if on_postgres else None,
            "(a target on PostgreSQL)",
        )
        p50 = median_of(runs, "refresh", "ours", "p50_us")
        bare = median_of(runs, "bare", "-", "p50_us")
        row(
            f"refresh p50 <= 2x the bare view's ({db})",
            f"{p50 / 1000:.2f} ms vs {bare / 1000:.2f} ms ({p50 / bare:.2f}x)",
            p50 <= 2 * bare if on_postgres else None,
            "(a target on PostgreSQL)",
        )
        # What no refresh that rotates in Redis and checks its user can go below: the same
        # two round trips in a view that does nothing else.
        floor = median_of(runs, "io_floor", "-", "p50_us")
        row(
            f"p50 of a refresh's I/O alone (one Redis command and the user check) vs the "
            f"bare view's ({db})",
            f"{floor / 1000:.2f} ms vs {bare / 1000:.2f} ms ({floor / bare:.2f}x)",
            None,
            "(for comparison)",
        )
        # The median follows this on a busy machine: every process's CPU per request.
        cpu = median_of(runs, "refresh", "ours", "cpu_total_us")
        cpu_bare = median_of(runs, "bare", "-", "cpu_total_us")
        cpu_floor = median_of(runs, "io_floor", "-", "cpu_total_us")
        row(
            f"CPU per refresh, all processes, vs the bare view's ({db})",
            f"{cpu:,.0f} µs vs {cpu_bare:,.0f} µs ({cpu / cpu_bare:.2f}x; "
            f"a refresh's I/O alone: {cpu_floor / cpu_bare:.2f}x)",
            None,
            "(for comparison)",
        )
        get = ratio_of(runs, "get")
        row(f"authenticated GET >= 1.0x simplejwt ({db})", f"{get:.2f}x", get >= 1.0)
        # A view that reads the user row pays simplejwt's query too, and the session check on
        # top: shown for comparison, not a target (the is the check's own cost).
        row(
            f"authenticated GET that reads a user column, vs simplejwt ({db})",
            f"{ratio_of(runs, 'get_user'):.2f}x",
            None,
            "(for comparison)",
        )
        for key, name in (("refresh", "refresh"), ("get", "authenticated request")):
            trips = median_of(runs, key, "ours", "redis_trips")
            row(
                f"one Redis round trip per {name} ({db})",
                f"{trips:.2f}",
                round(trips, 1) == 1.0,
            )
    if memory:
        per = bytes_per_session(memory, "after_second")
        row(
            "<= 512 bytes of Redis memory per live session "
            f"(`hash-max-listpack-value {memory['listpack_value']}`)",
            f"{per:.0f} bytes",
            per <= 512,
        )
        growth = memory["after_second"] - memory["after_first"]
        keys = memory["after_second_keys"] - memory["after_first_keys"]
        row(
            f"memory flat across {memory['rotations']:,} rotations",
            f"{keys:+,} keys, {growth / 1024:+,.1f} KiB",
            keys == 0 and abs(growth) <= 0.01 * (memory["after_first"] - memory["base"]),
        )
    return [*lines, ""]


def database_store_targets(result: dict[str, Any], on_postgres: bool) -> list[str]:
    """Return the target rows of a run with the database store as this app."""
    runs, db = result["runs"], title_of(result)
    lines = []

    def row(target: str, measured: str, ok: bool | None) -> None:
        met = "yes" if ok else "**no**" if ok is not None else "(a target on PostgreSQL)"
        lines.append(f"| {target} | {measured} | {met} |")

    refresh = ratio_of(runs, "refresh")
    row(
        f"refresh >= 2x simplejwt + blacklist ({db})",
        f"{refresh:.2f}x",
        refresh >= 2 if on_postgres else None,
    )
    for key, name in (
        ("get", "authenticated GET"),
        ("get_user", "authenticated GET that reads a user column"),
    ):
        ratio = ratio_of(runs, key)
        row(
            f"{name} >= 0.9x simplejwt ({db})",
            f"{ratio:.2f}x",
            ratio >= 0.9 if on_postgres else None,
        )
    rows = result["rows"]
    row(
        f"rows constant across {rows['rotations']:,} rotations ({db})",
        f"{rows['rows_created']:,} rows before, {rows['rows_after']:,} after",
        rows["rows_after"] == rows["rows_created"],
    )
    return lines


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    def tool(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return (out.stdout or out.stderr).split("\n")[0].strip()

    redis_version = tool(["redis-server", "--version"]).split(" v=")[-1].split()[0]
    wrk_version = tool(["wrk", "-v"]).split()[1] if tool(["wrk", "-v"]) != "?" else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, Django {version('django')}, "
        f"DRF {version('djangorestframework')}, "
        f"simplejwt {version('djangorestframework-simplejwt')}, gunicorn {version('gunicorn')}, "
        f"redis-py {version('redis')} + hiredis {version('hiredis')}, "
        f"psycopg {version('psycopg')}; Redis {redis_version}; wrk {wrk_version}"
    )


def write_docs(table: str) -> None:
    text = DOCS.read_text()
    start, end = text.index(START_MARK) + len(START_MARK), text.index(END_MARK)
    DOCS.write_text(text[:start] + "\n" + table + text[end:])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        help='"sqlite" (a fresh file) or a PostgreSQL URL; repeat for several '
        "(default: $DATABASE_URL, else sqlite)",
    )
    parser.add_argument(
        "--db-store",
        action="append",
        default=[],
        help="a PostgreSQL URL (or sqlite) to measure once more with the database store as "
        "this app; repeat for several",
    )
    parser.add_argument("--tiny", action="store_true", help="seconds, not minutes")
    parser.add_argument("--rounds", type=int, help="override the size's rounds")
    parser.add_argument("--duration", type=int, help="override the size's seconds per run")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    parser.add_argument(
        "--simplejwt-rotations",
        type=int,
        default=None,
        help="rotate a simplejwt token this many times in-process and count its table rows "
        "(default: 1,000, tiny 100; 0 skips)",
    )
    parser.add_argument(
        "--skip-memory", action="store_true", help="leave out the Redis memory measurement"
    )
    # Internal: a child process measures one database.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", default="redis", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: apt-get install {tool})")
    size = size_of(args)
    dbs = args.db or [os.environ.get("DATABASE_URL") or "sqlite"]
    sj_rotations = (
        size.sj_rotations if args.simplejwt_rotations is None else args.simplejwt_rotations
    )
    command = "python -m bench.run " + " ".join(
        a if not a.startswith(("postgres", "sqlite")) else redact(a) for a in sys.argv[1:]
    )
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="tokens-bench-redis-"))
    started = time.monotonic()
    children = [(db, "redis") for db in dbs] + [(db, "database") for db in args.db_store]
    with redis_server(workdir) as redis_url:
        for n, (db, store) in enumerate(children):
            out = workdir / f"result-{n}.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.run",
                    "--child",
                    "--db",
                    db,
                    "--redis-url",
                    redis_url,
                    "--out",
                    str(out),
                    "--store",
                    store,
                    *(["--tiny"] if args.tiny else []),
                    *(["--rounds", str(args.rounds)] if args.rounds else []),
                    *(["--duration", str(args.duration)] if args.duration else []),
                    # Redis memory does not depend on the database: measure it once.
                    *(["--memory"] if n == 0 and not args.skip_memory else []),
                    # simplejwt's table growth: on the last database (PostgreSQL when given).
                    *(
                        ["--simplejwt-rotations", str(sj_rotations)]
                        if store == "redis" and n == len(dbs) - 1 and sj_rotations
                        else []
                    ),
                ],
                cwd=ROOT,
                check=True,
            )
            results.append(json.loads(out.read_text()))
    shutil.rmtree(workdir, ignore_errors=True)
    table = render(results, command.strip())
    print(table)
    log(f"bench finished in {time.monotonic() - started:.0f} s")
    if args.output:
        Path(args.output).write_text(table)
    if args.write_docs:
        write_docs(table)
        log(f"wrote {DOCS.relative_to(ROOT)}")


def redact(url: str) -> str:
    """Drop a password from a database URL before it is printed or written to the docs."""
    parts = urllib.parse.urlparse(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


if __name__ == "__main__":
    main()
