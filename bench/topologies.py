"""The Redis topologies side by side: refresh and the authenticated GET on one Redis, on a Redis
Sentinel and on a Redis Cluster, in the same run; and how 100,000 users' keys spread over the
cluster's slots and primaries.

The parent (bench/run.py) starts a Sentinel (a primary, 2 replicas, 3 sentinels) and a Cluster
(3 primaries, a replica each) through tests/harness.py and passes their addresses to one child,
which serves the site three times at once (one gunicorn per topology, 2 sync workers each, idle
while another is measured) and measures this app's refresh and authenticated GET on each, the
topologies in a rotating order every round. The ratios are each topology's req/s over one
Redis' in the same round, their median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.harness import create_users, database_url, engine_name, gunicorn, log
from bench.measurements import SCENARIOS, size_of, wait_idle, wrk

TOPOLOGIES = ("single", "sentinel", "cluster")
KEYS = ("get_id", "refresh")  # what differs is the Redis: the GET that reads no row
SPREAD_USERS = 100_000


def topology_env(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Return each topology's environment for config/settings.py."""
    extra = json.loads(args.topologies)
    return {
        "single": {"REDIS_URL": args.redis_url},
        "sentinel": {
            "REDIS_SENTINELS": extra["sentinels"],
            "REDIS_SENTINEL_MASTER": extra["sentinel_master"],
        },
        "cluster": {"REDIS_CLUSTER_URL": extra["cluster_url"]},
    }


def cache_of(env: dict[str, str]) -> dict[str, Any]:
    """Return the site's cache for a topology's environment (config.settings.redis_cache)."""
    from config.settings import redis_cache

    cache = redis_cache(
        env.get("REDIS_URL", ""),
        env.get("REDIS_SENTINELS", ""),
        env.get("REDIS_SENTINEL_MASTER", "mymaster"),
        env.get("REDIS_CLUSTER_URL", ""),
    )
    assert cache is not None
    return cache


def child(args: argparse.Namespace) -> None:
    """Measure refresh and the authenticated GET on each topology; write JSON to args.out."""
    size = size_of(args)
    workdir = Path(tempfile.mkdtemp(prefix="tokens-bench-topologies-"))
    url = database_url(args.db[0], workdir)
    envs = topology_env(args)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings", DATABASE_URL=url, REDIS_URL=args.redis_url
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test import override_settings
    from django_redis import get_redis_connection

    from tokens import services

    call_command("migrate", verbosity=0, interactive=False)
    users = create_users(size.users)
    files: dict[str, dict[str, Path]] = {}
    for name, env in envs.items():
        with override_settings(CACHES={"default": cache_of(env)}):
            client = get_redis_connection("default")
            client.flushall()
            files[name] = {}

            def write(key: str, lines: list[str], name: str = name) -> None:
                path = workdir / f"{name}_{key}.txt"
                path.write_text("\n".join(lines) + "\n")
                files[name][key] = path

            write("ours_access", [services.login(user).access_token for user in users])
            for round_no in range(size.rounds):
                chains = users[: size.connections]
                write(
                    f"ours_refresh_{round_no}",
                    [services.login(user).refresh_token for user in chains],
                )
            if name == "cluster":
                spread = key_spread(client)
    connections.close_all()
    scenarios = [s for s in SCENARIOS if s.key in KEYS and s.impl != "simplejwt"]
    runs: list[dict[str, Any]] = []
    base_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with ExitStack() as stack:
        servers = {}
        for name, env in envs.items():
            server_env = {k: v for k, v in base_env.items() if k != "REDIS_URL"}
            servers[name] = stack.enter_context(gunicorn({**server_env, **env}))
            log(f"[topologies] {name}: gunicorn at {servers[name].url}")
        for round_no in range(size.rounds):
            shift = round_no % len(TOPOLOGIES)
            order = TOPOLOGIES[shift:] + TOPOLOGIES[:shift]
            for scenario in scenarios:
                for name in order:
                    own = dict(files[name])
                    if scenario.key == "refresh":
                        own["ours_refresh"] = own[f"ours_refresh_{round_no}"]
                    numbers = wrk(
                        servers[name].url,
                        replace(scenario),
                        own,
                        size.connections,
                        size.duration,
                    )
                    wait_idle(servers[name].pid)
                    numbers.update(key=scenario.key, impl=name, round=round_no)
                    runs.append(numbers)
                    log(
                        f"[topologies] round {round_no + 1}/{size.rounds} {scenario.key:<8} "
                        f"{name:<9} {numbers['rps']:8.1f} req/s p50 "
                        f"{numbers['p50_us'] / 1000:6.2f} ms errors "
                        f"{numbers['status_errors'] + numbers['socket_errors']}"
                    )
    result = {
        "database": engine_name(url),
        "store": "topologies",
        "runs": runs,
        "size": {"rounds": size.rounds, "duration": size.duration, "connections": size.connections},
        "spread": spread,
    }
    Path(args.out).write_text(json.dumps(result))
    shutil.rmtree(workdir, ignore_errors=True)


def key_spread(client: Any) -> dict[str, Any]:
    """Return how `SPREAD_USERS` users' session keys fall on the cluster's slots and primaries.

    Computed with the cluster client's own hash (`keyslot`) and slot map: a user's keys are
    `tokens:{u:<id>}` and `...:ended`, one slot.
    """
    from tokens.stores.redis import RedisStore

    store = RedisStore()
    slots: Counter[int] = Counter(
        client.keyslot(store.user_key(str(n))) for n in range(1, SPREAD_USERS + 1)
    )
    owners = client.nodes_manager.slots_cache
    per_node: Counter[str] = Counter()
    for slot, users in slots.items():
        per_node[owners[slot][0].name] += users
    return {
        "users": SPREAD_USERS,
        "slots_used": len(slots),
        "users_per_slot_max": max(slots.values()),
        "users_per_slot_median": statistics.median(slots.values()),
        "per_node": dict(sorted(per_node.items())),
    }


def render(result: dict[str, Any]) -> list[str]:
    """Return the topologies' Markdown table and the key spread."""
    runs, size = result["runs"], result["size"]
    errors = sum(r["status_errors"] + r["socket_errors"] for r in runs)
    lines = [
        "### Redis topologies: one Redis, Sentinel, Cluster",
        "",
        f"This app only, {result['database']}; medians of {size['rounds']} rounds of "
        f"{size['duration']} s runs, the three topologies in a rotating order each round, "
        f"{size['connections']} connections; the ratio is the median of the rounds' ratios to "
        f"one Redis. Errors (non-2xx or socket) over all runs: {errors}. All servers on this "
        "machine, over loopback: the figures show the clients' cost, not a network's.",
        "",
        "| endpoint | topology | req/s | vs one Redis | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    titles = {"get_id": "authenticated GET, answers the user id", "refresh": "refresh (chains)"}
    for key in KEYS:
        single = {r["round"]: r["rps"] for r in runs if r["key"] == key and r["impl"] == "single"}
        for name in TOPOLOGIES:
            mine = [r for r in runs if r["key"] == key and r["impl"] == name]
            if not mine:
                continue
            ratios = [r["rps"] / single[r["round"]] for r in mine if single.get(r["round"])]
            lines.append(
                f"| {titles[key]} | {name} | {statistics.median(r['rps'] for r in mine):,.0f} | "
                f"{statistics.median(ratios) if ratios else float('nan'):.2f}x | "
                f"{statistics.median(r['p50_us'] for r in mine) / 1000:.2f} | "
                f"{statistics.median(r['p99_us'] for r in mine) / 1000:.2f} |"
            )
    spread = result["spread"]
    nodes = ", ".join(f"{users:,}" for users in spread["per_node"].values())
    lines += [
        "",
        f"{spread['users']:,} users' session keys on the cluster: {spread['slots_used']:,} of "
        f"16,384 slots used, at most {spread['users_per_slot_max']} users per slot (median "
        f"{spread['users_per_slot_median']:g}); per primary: {nodes}.",
        "",
    ]
    return lines
