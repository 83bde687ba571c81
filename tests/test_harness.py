"""The process harness: ports never handed out twice, and a topology that fails to start is
started once more on new ports."""

import socket
from pathlib import Path

import pytest

from tests import harness


def test_free_port_never_hands_out_a_port_twice() -> None:
    # The kernel's bind(0) gives a just-released port out again (about 35 repeats in 1,000
    # calls here); a Cluster's twelve ports chosen before binding then collided in CI.
    ports = [harness.free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)


def test_a_cluster_whose_first_start_fails_starts_again_on_new_ports(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cluster = harness.RedisCluster(tmp_path)
    taken = cluster.servers[0].port
    # Someone else takes a port between its choice and the node's start (the CI failure mode).
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with cluster:
            assert cluster.attempts == 2
            assert taken not in [server.port for server in cluster.servers]
            client = cluster.client()
            try:
                client.set("answer", "42")
                assert client.get("answer") == b"42"
            finally:
                client.close()
    why = capfd.readouterr().err
    assert "RedisCluster did not start (redis-server exited during start-up" in why
    assert "Address already in use" in why  # the failed node's log comes with it
    # Nothing of either try keeps running.
    assert all(
        server.process is None or server.process.poll() is not None for server in cluster.servers
    )
