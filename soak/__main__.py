"""Run the soak end to end: `python -m soak [--users 300] [--seconds 60] [--report docs/soak.md]`.

Starts its own redis-server and a SQLite database in a temporary directory, creates the users,
starts gunicorn (3 workers, the test settings: fast password hasher, short access tokens) on a
loopback port, runs the load, stops everything, prints the report and, with --report, writes it
as Markdown. Exits non-zero on any error or lost session.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.harness import ROOT, Gunicorn, RedisServer

from .load import Report, run

PASSWORD = "soak-password-123"  # noqa: S105 (a throwaway password of throwaway users)

CREATE_USERS = """
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
User = get_user_model()
password = make_password({password!r})
User.objects.bulk_create(User(username=f"soak-{{i}}", password=password) for i in range({users}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--access-seconds", type=float, default=5)
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between calls")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which users arrive")
    parser.add_argument("--report", type=Path, help="write the report here (Markdown)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tokens-soak-"))
    with RedisServer(work) as redis_server:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TOKENS_TEST_REDIS_PORT": str(redis_server.port),
            "TOKENS_TEST_DB": str(work / "db.sqlite3"),
            "TEST_ACCESS_SECONDS": str(args.access_seconds),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DATABASE_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        migrate = [*manage, "migrate", "--noinput", "-v0"]
        subprocess.run(migrate, env=env, check=True, cwd=ROOT)  # noqa: S603
        script = CREATE_USERS.format(password=PASSWORD, users=args.users)
        subprocess.run([*manage, "shell", "-c", script], env=env, check=True, cwd=ROOT)  # noqa: S603
        with Gunicorn(env, workers=args.workers) as site:
            load_before = os.getloadavg()[0]
            report = run(
                site.url,
                [f"soak-{i}" for i in range(args.users)],
                PASSWORD,
                seconds=args.seconds,
                think=args.think,
                ramp=args.ramp,
            )
    print(report.summary())
    if args.report:
        args.report.write_text(markdown(report, args, load_before))
        print(f"Wrote {args.report}")
    return 0 if not report.errors and not report.lost_sessions else 1


def markdown(report: Report, args: argparse.Namespace, load_before: float) -> str:
    """Return the report as the Markdown of docs/soak.md."""
    rows = [
        f"| {kind} | {len(report.latencies[kind])} | "
        f"{report.percentile(0.5, kind) * 1000:.1f} | {report.percentile(0.99, kind) * 1000:.1f} |"
        for kind in sorted(report.latencies)
    ]
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(report.statuses.items()))
    return f"""# Soak

`make soak` (`python -m soak --report docs/soak.md`) runs {args.users} simulated users for
{args.seconds:.0f} seconds against gunicorn with {args.workers} sync workers on loopback, with
access tokens of {args.access_seconds:g} seconds. Each user logs in once, then calls
`GET /api/user/info` with a pause of about {args.think:g} s between calls and refreshes on a
401 `access_token_expired`. Every 4th user works in three tabs that share its one session, so
their refreshes race; the rotation grace window must give them all the same successor. Users
arrive over the first {args.ramp:g} seconds. At the end every session is refreshed and called
once more. The site uses the test settings (MD5 password hasher: logins measure the token
service, not PBKDF2) with its own redis-server and SQLite database. A ten-second version
(`tests/test_soak.py`) runs in `make test`.

## Last run

{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, load average
{load_before:.2f} when the run started (the load generator shares the machine with the site).

- **Errors: {len(report.errors)}. Sessions lost (false reuse detection or otherwise):
  {len(report.lost_sessions)}.**
- {report.users} users in {report.tabs} tabs, {report.requests} requests in
  {report.seconds:.1f} s: **{report.throughput:.0f} requests/s**, p50
  {report.percentile(0.5) * 1000:.1f} ms, **p99 {report.percentile(0.99) * 1000:.1f} ms**.

| request | count | p50 (ms) | p99 (ms) |
|---|---:|---:|---:|
{chr(10).join(rows)}

Outcomes: {outcomes}.

Reading the numbers: the load generator, the three workers, Redis and (during this run) other
test suites share the machine's CPUs. When the simulated users ask for more than the site can
serve, requests wait for a free sync worker, so throughput is then the site's capacity on this
machine and p50/p99 are mostly time spent queued (and access tokens of a few seconds expire
while queued, which the users absorb by refreshing). The per-request cost without queueing is in
docs/benchmarks.md. What the soak proves is the first line: no errors and no session lost.
"""


if __name__ == "__main__":
    sys.exit(main())
