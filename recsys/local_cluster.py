"""A throwaway Redis Cluster on loopback: N masters on free ports, slots split evenly.

For tests and benchmarks (never for data that matters): persistence off, each node in its own
folder under `root`, started from the same redis-server binary as `redis_runtime.start_redis`.
Nodes can be stopped and started again on the same port; a restarted node reads its
nodes.conf, so it rejoins with its slots (empty: nothing was persisted). Never uses 6379.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from recsys.processes import terminate
from recsys.redis_cluster import SLOTS, cluster_state
from recsys.redis_runtime import free_port, redis_server_binary

# Short, so a stopped node is declared failed (cluster_state:fail) within about a second.
NODE_TIMEOUT_MS = 1000


@dataclass
class ClusterNodeProcess:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


@dataclass
class LocalCluster:
    """A running local cluster; `url` is its `redis+cluster://` REDIS_URL."""

    root: Path
    nodes: list[ClusterNodeProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def stop_node(self, index: int) -> None:
        """Stop one node (SIGTERM, no save): its slots become unavailable."""
        node = self.nodes[index]
        if node.process is not None:
            terminate(node.process.pid, timeout_s=5)
            node.process.wait()
            node.process = None

    def start_node(self, index: int, *, wait: bool = True) -> None:
        """Start a stopped node again on its port (it rejoins, empty); by default wait until
        the whole cluster reports state ok."""
        _spawn(self.nodes[index])
        if wait:
            self.wait_ok()

    def wait_ok(self, *, timeout_s: float = 30.0) -> None:
        """Wait until every node reports cluster_state:ok.

        Raises:
            TimeoutError: Names the nodes that did not reach ok.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            states = {n.port: _state(n) for n in self.nodes}
            if all(s == "ok" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"local cluster under {self.root}: states {states}")
            time.sleep(0.05)

    def flushall(self) -> None:
        for node in self.nodes:
            node.client.flushall()

    def stop(self) -> None:
        """Stop every node this helper started."""
        for index in range(len(self.nodes)):
            self.stop_node(index)


def start_cluster(root: Path, *, masters: int = 3) -> LocalCluster:
    """Start `masters` cluster-enabled redis-servers, split the slots, wait for state ok."""
    cluster = LocalCluster(root=root)
    try:
        for _ in range(masters):
            port = _free_cluster_port()
            node = ClusterNodeProcess(port=port, folder=root / f"node-{port}")
            node.folder.mkdir(parents=True, exist_ok=True)
            cluster.nodes.append(node)
            _spawn(node)
        first = cluster.nodes[0].client
        for node in cluster.nodes[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        share = SLOTS // masters
        for i, node in enumerate(cluster.nodes):
            low = i * share
            high = SLOTS - 1 if i == masters - 1 else low + share - 1
            node.client.execute_command("CLUSTER ADDSLOTSRANGE", low, high)
        cluster.wait_ok()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    for _ in range(200):
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair (P, P + 10000) for a cluster node on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _spawn(node: ClusterNodeProcess, *, timeout_s: float = 15.0) -> None:
    args = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(node.port),
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(node.folder / "nodes.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(node.folder),
        "--daemonize", "no",
    ]  # fmt: skip
    log = (node.folder / "redis.log").open("ab")
    node.process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(
                f"cluster node on port {node.port} exited ({node.process.returncode}); "
                f"see {node.folder / 'redis.log'}"
            )
        try:
            if node.client.ping():
                return
        except (redis.RedisError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"cluster node on port {node.port} did not answer within {timeout_s}s")


def _state(node: ClusterNodeProcess) -> str:
    try:
        info = node.client.execute_command("CLUSTER INFO")
    except (redis.RedisError, OSError):
        return "down"
    return cluster_state(info)
