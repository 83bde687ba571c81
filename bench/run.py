"""Benchmark this app against simplejwt + its blacklist app (the anchor project), side by side.

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
Unless --skip-topologies, a Redis Sentinel and a Redis Cluster of the run's own are started too,
and this app's refresh and authenticated GET are measured on each against one Redis
(bench/topologies.py), with the spread of 100,000 users' keys over the cluster.

simplejwt is the anchor project, a project of its own (bench/anchor.py): its own virtualenv
(built under .bench/ from its requirements.txt), its own gunicorn with 2 sync workers and its
own database on the same server, beside this app's gunicorn.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

from bench import topologies
from bench.harness import ROOT, log, redis_server
from bench.measurements import child, size_of
from bench.report import DOCS, render, write_docs
from tests.harness import RedisCluster, RedisSentinel


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
    parser.add_argument(
        "--anchor",
        help="the simplejwt anchor project (default: $BENCH_ANCHOR, else "
        "../shared/anchors/simplejwt_baseline beside the repository)",
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
    parser.add_argument(
        "--skip-topologies",
        action="store_true",
        help="leave out Redis Sentinel and Redis Cluster (refresh and GET vs one Redis)",
    )
    # Internal: a child process measures one database.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", default="redis", help=argparse.SUPPRESS)
    parser.add_argument("--topologies", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        if args.store == "topologies":
            topologies.child(args)
        else:
            child(args)
        return
    if args.anchor:
        os.environ["BENCH_ANCHOR"] = args.anchor  # the children read it (bench/anchor.py)
    for tool in ("wrk", "redis-server", "redis-cli"):
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
    if not args.skip_topologies:
        # On the first database: what differs is the Redis, not the SQL.
        children.append((dbs[0], "topologies"))
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(workdir))
        topology_args: list[str] = []
        if not args.skip_topologies:
            log("starting a Redis Sentinel and a Redis Cluster")
            sentinel = stack.enter_context(RedisSentinel(workdir / "sentinel"))
            cluster = stack.enter_context(RedisCluster(workdir / "cluster"))
            sentinels = ",".join(f"{host}:{port}" for host, port in sentinel.sentinels)
            spec = {
                "sentinels": sentinels,
                "sentinel_master": sentinel.master_name,
                "cluster_url": cluster.url,
            }
            topology_args = ["--topologies", json.dumps(spec)]
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
                    *(topology_args if store == "topologies" else []),
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
        # The login throttles' state (issue 23): keys left by 2,000 logins from one address.
        log("counting the login throttles' keys")
        counted = subprocess.run(
            [sys.executable, "-m", "bench.throttle_keys", "--redis-url", redis_url],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        results.append({"store": "throttle_keys", **json.loads(counted.stdout)})
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
