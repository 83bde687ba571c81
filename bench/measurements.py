"""What the bench measures: the scenarios, wrk runs, CPU per process, Redis trips, SQL, memory.

`child()` measures every scenario on one database, in a process of its own (bench.run starts
one per --db, and one per --db-store with the database store as this app), and writes the runs
as JSON for bench.report to render.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import (
    PASSWORD,
    ROOT,
    create_users,
    database_url,
    engine_name,
    gunicorn,
    log,
)

if TYPE_CHECKING:
    import redis
    from django.contrib.auth.models import AbstractBaseUser

LUA_DIR = ROOT / "bench" / "lua"

# A typical browser user agent, 130 characters (issue 23's size), recorded with every session
# of the memory test.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.113"
)
assert len(USER_AGENT) == 130, len(USER_AGENT)


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
    impl: str  # "ours", "simplejwt" (the anchor's server) or "-" (this app's, no counterpart)
    script: str
    path: str
    env: tuple[tuple[str, str], ...] = ()


SCENARIOS = [
    # The floor: a bare DRF view, no authentication, in each project.
    Scenario("bare", "ours", "bare.lua", "/bench/bare"),
    Scenario("bare", "simplejwt", "bare.lua", "/api/ping"),
    # {user}: a bench user's id, filled in once the users exist.
    Scenario("io_floor", "-", "bare.lua", "/bench/refresh-io-floor/{user}"),
    # This app's GET that answers the id alone (no SQL); the anchor has no such view.
    Scenario("get_id", "-", "auth_get.lua", "/bench/ours/id", (("BENCH_TOKENS", "ours_access"),)),
    # The compared GET: `{id, username}`, the user's row read, in both projects.
    Scenario("get", "ours", "auth_get.lua", "/bench/ours/user", (("BENCH_TOKENS", "ours_access"),)),
    Scenario(
        "get", "simplejwt", "auth_get.lua", "/api/user/info", (("BENCH_TOKENS", "sj_access"),)
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
        "/api/auth/refresh",
        (
            ("BENCH_TOKENS", "sj_refresh"),
            ("BENCH_FIELD_IN", "refresh"),
            ("BENCH_FIELD_OUT", "refresh"),
        ),
    ),
    Scenario("login", "ours", "login.lua", "/api/auth/login", (("BENCH_BODIES", "logins"),)),
    Scenario(
        "login", "simplejwt", "login.lua", "/api/auth/login", (("BENCH_BODIES", "sj_logins"),)
    ),
]

# Rows of this app alone, with no counterpart in the anchor (the I/O floor, the id-only GET).
SOLO_ROWS = {s.key for s in SCENARIOS if s.impl == "-"}


def size_of(args: argparse.Namespace) -> Size:
    """Return the run's size: tiny or full, with --rounds and --duration applied."""
    size = TINY if args.tiny else FULL
    if args.rounds:
        size = replace(size, rounds=args.rounds)
    if args.duration:
        size = replace(size, duration=args.duration)
    return size


def wrk(
    url: str, scenario: Scenario, files: dict[str, Path], connections: int, seconds: int
) -> dict[str, Any]:
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


def cpu_snapshot(masters: set[int], redis_info: dict[str, Any], postgres: bool) -> dict[str, Any]:
    """Return CPU seconds so far: per gunicorn worker, per PostgreSQL process, Redis, machine.

    `masters` are the gunicorn masters (this app's and the anchor's): the workers of both
    count, and the idle side adds next to nothing. Processes are kept by pid, so that one that
    exits between two snapshots (a PostgreSQL backend replaced after CONN_MAX_AGE) drops out
    instead of counting negative. With SQLite (`postgres` false) the database runs inside the
    workers, and the machine's PostgreSQL, idle, is left out.
    """
    workers: dict[str, float] = {}
    database: dict[str, float] = {}
    for pid, name, parent, seconds in processes():
        if parent in masters:
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


def cpu_per_request(
    before: dict[str, Any], after: dict[str, Any], numbers: dict[str, Any]
) -> dict[str, Any]:
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


# --- One database: every scenario, then the in-process counts -------------------------------


def child(args: argparse.Namespace) -> None:
    """Measure every scenario on one database; write the results as JSON to args.out."""
    from bench.anchor import Anchor

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
    log(f"[{engine_name(url)}] migrating and creating {size.users} users, here and in the anchor")
    call_command("migrate", verbosity=0, interactive=False)
    users = create_users(size.users)
    files = write_inputs(workdir, users, size)
    connections.close_all()
    anchor = Anchor(url, workdir)
    prepared = anchor.prep(size.users, size.connections, size.rounds, PASSWORD)
    files.update({f"sj_{name}": Path(path) for name, path in prepared["files"].items()})

    results: dict[str, Any] = {
        "database": engine_name(url),
        "store": args.store,
        "runs": [],
        "size": asdict(size),
        "load_before": os.getloadavg()[0],
    }
    sj_rows_before = prepared["rows"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scenarios = [replace(s, path=s.path.format(user=users[0].pk)) for s in SCENARIOS]
    postgres = engine_name(url) == "PostgreSQL"
    with gunicorn(env) as ours, anchor.serve() as theirs:
        log(f"[{engine_name(url)}] this app: gunicorn (2 sync workers) at {ours.url}")
        servers = {"ours": ours, "-": ours, "simplejwt": theirs}
        masters = {ours.pid, theirs.pid}
        if size.warmup:
            for scenario in scenarios:
                if scenario.key == "refresh":
                    # Chains need tokens of their own (each round's are minted for it): the
                    # refresh runs are not warmed up.
                    continue
                wrk(servers[scenario.impl].url, scenario, files, size.connections, size.warmup)
                wait_idle(servers[scenario.impl].pid)
        for round_no in range(size.rounds):
            order = scenarios if round_no % 2 == 0 else swap_pairs(scenarios)
            for scenario in order:
                server = servers[scenario.impl]
                seconds = size.duration
                if scenario.key == "login":
                    if round_no >= size.login_rounds:
                        continue
                    seconds = size.login_duration
                if scenario.key == "refresh":
                    files[scenario.env[0][1]] = files[f"{scenario.env[0][1]}_{round_no}"]
                before = redis_snapshot(redis_client)
                cpu_before = cpu_snapshot(masters, before["info"], postgres)
                numbers = wrk(server.url, scenario, files, size.connections, seconds)
                after = redis_snapshot(redis_client)
                cpu_after = cpu_snapshot(masters, after["info"], postgres)
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
    sj_rotations = sum(
        r["requests"] for r in results["runs"] if r["key"] == "refresh" and r["impl"] != "ours"
    )
    results["simplejwt_http"] = {
        "rotations": sj_rotations,
        "rows_before": sj_rows_before,
        "rows_after": anchor.rows(),
    }
    results["sql"] = count_sql(users)
    for key, count in prepared["sql"].items():
        results["sql"].setdefault(key, {})["simplejwt"] = count
    results["anchor"] = {"dir": str(anchor.dir), "python": str(anchor.python)}
    if args.store == "database":
        results["rows"] = database_rows(size)
    if args.memory:
        results["memory"] = redis_memory(redis_client, size, RECOMMENDED_LISTPACK_VALUE)
        results["memory_default"] = redis_memory(redis_client, size, 64)
    if args.simplejwt_rotations:
        log(f"[simplejwt] {args.simplejwt_rotations:,} rotations through TokenRefreshSerializer")
        results["simplejwt_rotations"] = anchor.rotations(args.simplejwt_rotations)
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


def write_inputs(workdir: Path, users: list[AbstractBaseUser], size: Size) -> dict[str, Path]:
    """Mint this app's tokens and bodies the wrk scripts read, one a line; return their files.

    The anchor's come from its own process (bench/anchor_side.py), signed with its own key.
    """
    from tokens import services

    def write(name: str, lines: list[str]) -> None:
        files[name] = workdir / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n")

    files: dict[str, Path] = {}
    write("ours_access", [services.login(user).access_token for user in users])
    for round_no in range(size.rounds):
        chains = users[: size.connections]
        write(f"ours_refresh_{round_no}", [services.login(u).refresh_token for u in chains])
    # Logins spread over a few users, so no one user's session list grows long.
    write(
        "logins",
        [json.dumps({"username": u.get_username(), "password": PASSWORD}) for u in users[:16]],
    )
    return files


def redis_snapshot(client: redis.Redis) -> dict[str, Any]:
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


def redis_per_request(
    before: dict[str, Any], after: dict[str, Any], requests: int
) -> dict[str, Any]:
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


def count_sql(users: list[AbstractBaseUser]) -> dict[str, dict[str, int]]:
    """Count the SQL statements (Django's query log) one request of each of this app's runs.

    The anchor's counts come from its own process (bench/anchor_side.py).
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tokens import services

    client = Client(HTTP_HOST="127.0.0.1")
    user = users[0]
    ours = services.login(user)
    login_body = {"username": user.get_username(), "password": PASSWORD}
    requests = {
        ("bare", "ours"): ("get", "/bench/bare", None, None),
        ("io_floor", "-"): ("get", f"/bench/refresh-io-floor/{user.pk}", None, None),
        ("get_id", "-"): ("get", "/bench/ours/id", ours.access_token, None),
        ("get", "ours"): ("get", "/bench/ours/user", ours.access_token, None),
        ("refresh", "ours"): (
            "post",
            "/api/auth/refresh",
            None,
            {"refresh_token": ours.refresh_token},
        ),
        ("login", "ours"): ("post", "/api/auth/login", None, login_body),
    }
    counts: dict[str, dict[str, int]] = {}
    for (key, impl), (method, path, bearer, body) in requests.items():
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        with CaptureQueriesContext(connection) as queries:
            if method == "get":
                response = client.get(path, headers=headers)
            else:
                response = client.post(path, body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
        counts.setdefault(key, {})[impl] = len(queries.captured_queries)
    return counts


# What docs/operations.md recommends in redis.conf; Redis' own default is 64.
RECOMMENDED_LISTPACK_VALUE = 256


def create_sessions(store: Any, count: int) -> list[str]:
    """Create `count` sessions through `store`, one per user; return their current jtis.

    Session i belongs to user `1_000_000 + i`, has the id `f"{i:016x}"`, lives 7 days and
    records USER_AGENT and one address, as a browser login would.
    """
    from tokens.jwt import new_jti
    from tokens.stores import SessionRecord

    now = time.time()
    jtis: list[str] = []
    for i in range(count):
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
    return jtis


def rotate_sessions(store: Any, jtis: list[str], rotations: int) -> None:
    """Rotate the sessions create_sessions() made, round robin, `rotations` times in all.

    `jtis` holds each session's current jti and is kept up to date.
    """
    from tokens.jwt import new_jti

    for n in range(rotations):
        i = n % len(jtis)
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


def redis_memory(client: redis.Redis, size: Size, listpack_value: int) -> dict[str, Any]:
    """Measure Redis memory per live session, and keys and memory across rotations.

    `listpack_value` is Redis' `hash-max-listpack-value`, set for the run.
    """
    from tokens.stores import get_store

    client.flushall()
    client.config_set("hash-max-listpack-value", listpack_value)
    store = get_store()
    log(f"[memory] creating {size.sessions:,} sessions (one per user, 130-character user agent)")
    base = used_memory(client)
    base_keys = client.dbsize()
    jtis = create_sessions(store, size.sessions)
    created = used_memory(client)
    created_keys = client.dbsize()

    # The first rotation of a session fills its "previous token" slot; from then on a
    # rotation overwrites in place. Measure both, and the steady state per session.
    log(f"[memory] {size.rotations:,} rotations, then {size.rotations:,} more")
    started = time.perf_counter()
    rotate_sessions(store, jtis, size.rotations)
    first = used_memory(client)
    first_keys = client.dbsize()
    rotate_sessions(store, jtis, size.rotations)
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


def used_memory(client: redis.Redis) -> int:
    # Let lazy frees and the allocator's stats settle before reading them.
    client.execute_command("MEMORY", "PURGE")
    return int(client.info("memory")["used_memory"])


def database_rows(size: Size) -> dict[str, Any]:
    """Count the database store's rows across `size.rotations` rotations of 1,000 sessions."""
    from django.db import connection

    from tokens.models import SessionOwner, StoredSession
    from tokens.stores import get_store

    store = get_store()
    sessions = min(1000, size.sessions)

    def rows() -> int:
        return StoredSession.objects.count() + SessionOwner.objects.count()

    StoredSession.objects.all().delete()
    SessionOwner.objects.all().delete()
    jtis = create_sessions(store, sessions)
    created = rows()
    if connection.vendor == "postgresql":
        # Rows, not speed, are measured here: without waiting for each commit's flush to disk
        # (about 10 ms on this kind of machine), 100,000 rotations take a minute, not twenty.
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    log(f"[database store] {size.rotations:,} rotations of {sessions:,} sessions")
    started = time.perf_counter()
    rotate_sessions(store, jtis, size.rotations)
    elapsed = time.perf_counter() - started
    return {
        "sessions": sessions,
        "rotations": size.rotations,
        "rows_created": created,
        "rows_after": rows(),
        "rotations_per_second": size.rotations / elapsed,
    }
