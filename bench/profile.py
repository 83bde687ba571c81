"""Profile one bench endpoint in-process: the WSGI app, no server, no network.

    python -m bench.profile get_user                # time and CPU per request, this app
    python -m bench.profile refresh --profile       # and pyinstrument's call tree
    python -m bench.profile refresh --repeat 5      # the best of 5 loops: for a shared machine

Uses the bench settings on its own redis-server and a fresh SQLite file (or --db URL), like
bench/run.py; BENCH_STORE=database selects the database store. simplejwt is the anchor, a
project of its own (bench/anchor.py): measure it with `make bench`. pyinstrument is a dev tool,
not a dependency: `pip install pyinstrument`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import create_users, database_url, redis_server

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ENDPOINTS = {
    "bare": "/bench/bare",
    "get": "/bench/ours/id",
    "get_user": "/bench/ours/user",
    "refresh": "/api/auth/refresh",
}


def environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    """Return a WSGI environ as gunicorn would pass it."""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("endpoint", choices=sorted(ENDPOINTS))
    parser.add_argument("-n", type=int, default=2000, help="requests per loop")
    parser.add_argument("--repeat", type=int, default=1, help="loops; the best one is printed")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--profile", action="store_true", help="print pyinstrument's tree")
    parser.add_argument("--cprofile", action="store_true", help="cProfile on CPU time instead")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tokens-profile-"))
    with redis_server(workdir) as redis_url:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="bench.settings",
            DATABASE_URL=database_url(args.db, workdir),
            REDIS_URL=redis_url,
            BENCH_STORE=os.environ.get("BENCH_STORE", "redis"),
        )
        import django

        django.setup()
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        user = create_users(1)[0]
        app = WSGIHandler()
        path = ENDPOINTS[args.endpoint]
        request = make_requests(args.endpoint, path, user)
        for _ in range(50):  # warm up: imports, connections, script cache
            call(app, request())
        best = (float("inf"), float("inf"))
        for _ in range(args.repeat):
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.n):
                call(app, request())
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            best = min(best, (cpu, elapsed))
        cpu, elapsed = best
        print(
            f"{args.endpoint}: {elapsed / args.n * 1e6:.0f} us per request "
            f"({cpu / args.n * 1e6:.0f} us of this process's CPU; best of {args.repeat})"
        )
        if args.cprofile:
            import cProfile
            import pstats

            profile = cProfile.Profile(time.process_time)
            profile.enable()
            for _ in range(args.n):
                call(app, request())
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            with profiler:
                for _ in range(args.n):
                    call(app, request())
            print(profiler.output_text(unicode=True, color=False, show_all=False))


def make_requests(endpoint: str, path: str, user: AbstractBaseUser) -> Callable[[], dict[str, Any]]:
    """Return a function that returns the environ of the next request."""
    from tokens import services

    if endpoint == "bare":
        return lambda: environ("GET", path, {})
    if endpoint in ("get", "get_user"):
        token = services.login(user).access_token
        return lambda: environ("GET", path, {"Authorization": f"Bearer {token}"})
    CHAIN[path] = services.login(user).refresh_token
    return lambda: environ("POST", path, {}, json.dumps({"refresh_token": CHAIN[path]}).encode())


# The latest refresh token of each chain, by path: every refresh uses the one it just received.
CHAIN: dict[str, str] = {}


def call(app: Any, env: dict[str, Any]) -> None:
    """Run one request through the WSGI app; keep the refresh token a chain answers."""
    status: list[str] = []
    body = b"".join(app(env, lambda s, h, *a: status.append(s)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{env['PATH_INFO']}: {status[0]} {body[:200]!r}")
    if env["REQUEST_METHOD"] == "POST" and b"refresh" in body:
        data = json.loads(body)
        CHAIN[env["PATH_INFO"]] = data["refresh_token"]


if __name__ == "__main__":
    main()
