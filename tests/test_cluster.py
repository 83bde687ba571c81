"""The Redis store on a Redis Cluster: no key holds the whole site, and a resharding under load
costs no error and no logout."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import AbstractBaseUser

from tests import harness
from tests.conftest import PASSWORD, LiveServer, cluster_cache, use_redis_store_on
from tests.contract.conftest import create
from tokens.stores import get_store
from tokens.stores.redis import CLUSTER_INDEX_SHARDS, RedisStore

pytestmark = pytest.mark.redis_store


@pytest.fixture
def cluster_store(redis_cluster: harness.RedisCluster, settings: Any, db: None) -> RedisStore:
    redis_cluster.flushall()
    use_redis_store_on(settings, "cluster", cluster_cache(redis_cluster))
    store = get_store()
    assert isinstance(store, RedisStore)
    return store


def commands_served(cluster: harness.RedisCluster) -> int:
    """Return how many commands the primaries have served clients so far (INFO commandstats).

    Not counted: REPLCONF, which each replica sends its primary every second (its replication
    ACK) whatever the clients do, so a count taken across a second boundary on a busy machine
    would include it.
    """
    total = 0
    for server in cluster.primary_servers():
        client = server.client()
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        total += sum(
            int(entry["calls"]) for name, entry in stats.items() if name != "cmdstat_replconf"
        )
    return total


def test_the_admin_index_is_spread_over_the_primaries_and_pages_cost_bounded_commands(
    cluster_store: RedisStore, redis_cluster: harness.RedisCluster
) -> None:
    users = 120
    created = [create(cluster_store, str(n)) for n in range(users)]
    client = cluster_store.redis
    keys = cluster_store.index_keys(client)
    assert len(keys) == CLUSTER_INDEX_SHARDS
    # The index lives in several keys on every primary, none of them holding the whole site.
    holders = {client.get_node_from_key(key).name for key in keys if client.exists(key)}
    assert len(holders) == 3
    assert max(client.zcard(key) for key in keys) < users
    assert cluster_store.count_all() == users
    # Paging walks every session once, newest first.
    pages = [cluster_store.page_all(offset, 25, time.time()) for offset in range(0, users, 25)]
    seen = [record.session_id for page in pages for record in page]
    newest_first = sorted(created, key=lambda r: r.created_at, reverse=True)
    assert seen == [record.session_id for record in newest_first]
    # A page costs the same number of commands wherever it is (the shards, then the records).
    # The counting itself costs commands (INFO): measured once, then subtracted.
    overhead = -commands_served(redis_cluster) + commands_served(redis_cluster)
    costs = []
    for offset in (0, 75):
        before = commands_served(redis_cluster)
        cluster_store.page_all(offset, 25, time.time())
        costs.append(commands_served(redis_cluster) - before - overhead)
    assert costs[0] == costs[1] <= CLUSTER_INDEX_SHARDS + 25


def test_ending_sessions_on_a_cluster_updates_the_spread_index(cluster_store: RedisStore) -> None:
    records = [create(cluster_store, str(n)) for n in range(30)]
    assert cluster_store.delete(records[0].user_id, records[0].session_id)
    assert cluster_store.delete_all(records[1].user_id) == [records[1].session_id]
    assert cluster_store.count_all() == 28
    listed = {r.session_id for r in cluster_store.page_all(0, 100, time.time())}
    assert listed == {r.session_id for r in records[2:]}


def slots_of(cluster: harness.RedisCluster, server: harness.RedisServer) -> int:
    """Return how many slots `server` serves as a primary, as a fresh cluster client learns."""
    client = cluster.client()
    try:
        return sum(
            1 for nodes in client.nodes_manager.slots_cache.values() if nodes[0].port == server.port
        )
    finally:
        client.close()


def node_id(server: harness.RedisServer) -> str:
    client = server.client()
    try:
        return str(client.execute_command("CLUSTER MYID").decode())
    finally:
        client.close()


@pytest.mark.live
def test_a_resharding_under_refreshing_users_costs_no_error_and_no_logout(
    transactional_db: None, make_user: Callable[..., AbstractBaseUser], tmp_path: Path
) -> None:
    chains = 20
    for n in range(chains):
        make_user(f"user{n}")
    with harness.RedisCluster(tmp_path) as cluster:
        source, target = cluster.primary_servers()[:2]
        env = {
            "TOKENS_TEST_STORE": "cluster",
            "REDIS_CLUSTER_URL": f"redis://127.0.0.1:{target.port}",
        }
        with LiveServer(env, workers=3) as server:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                tokens = [
                    client.post(
                        "/api/auth/login", json={"username": f"user{n}", "password": PASSWORD}
                    ).json()["refresh_token"]
                    for n in range(chains)
                ]
            statuses: Counter[int] = Counter()
            failures: list[str] = []
            stop = threading.Event()
            lock = threading.Lock()

            def loop(index: int) -> None:
                with httpx.Client(base_url=server.url, timeout=10) as client:
                    while not stop.is_set():
                        response = client.post(
                            "/api/auth/refresh", json={"refresh_token": tokens[index]}
                        )
                        with lock:
                            statuses[response.status_code] += 1
                        if response.status_code != 200:
                            failures.append(f"{response.status_code} {response.text}")
                            return
                        tokens[index] = response.json()["refresh_token"]

            threads = [threading.Thread(target=loop, args=(i,)) for i in range(chains)]
            for thread in threads:
                thread.start()
            try:
                time.sleep(1)
                # Move a third of the source's slots (and the sessions in them) to the target
                # while the users refresh: their scripts meet MOVED and ASK on the way.
                subprocess.run(
                    [
                        *("redis-cli", "--cluster", "reshard", f"127.0.0.1:{source.port}"),
                        *("--cluster-from", node_id(source), "--cluster-to", node_id(target)),
                        *("--cluster-slots", "2000", "--cluster-yes"),
                        *("--cluster-pipeline", "10"),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=120,
                )
                time.sleep(1)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            print(f"\nResharding under load: {dict(statuses)}")
            assert failures == []
            assert statuses[200] > chains
            # The slots really moved (a third of the source's).
            assert slots_of(cluster, source) < 4000 < slots_of(cluster, target)


def test_a_cluster_whose_primaries_write_without_replicas_is_warned_about(
    cluster_store: RedisStore, redis_cluster: harness.RedisCluster
) -> None:
    from tokens.checks import check_replicated_writes

    [warning] = check_replicated_writes()
    assert warning.id == "tokens.W004"
    primaries = redis_cluster.primary_servers()
    try:
        for server in primaries:
            server.client().config_set("min-replicas-to-write", 1)
        assert check_replicated_writes() == []
    finally:
        for server in primaries:
            server.client().config_set("min-replicas-to-write", 0)
