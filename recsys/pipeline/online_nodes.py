"""Send each key's command to the Redis node that owns it: one node, or a cluster's primaries.

The fast materializer builds one RESP command buffer per row; on a single server they all go
down one connection. On a Redis Cluster each key belongs to a slot (recsys/redis_cluster.py
computes them for a whole column) and each slot to one primary, so a batch is split into one
group of rows per primary and each group goes down that primary's own pipelined connection.
The bytes of every key and value are the same either way: only the routing differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from recsys.pipeline.online_format import RespPipe, resp_commands
from recsys.redis_cluster import SLOTS, is_cluster_client, key_slots


class NodeRouter:
    """Node clients and, per batch of keys, which rows go to which node."""

    def __init__(self, client: Any) -> None:
        self.cluster = is_cluster_client(client)
        if not self.cluster:
            self.clients = [client]
            self._owner = np.zeros(0, dtype=np.int16)
            return
        cluster = client.connect() if hasattr(client, "connect") else client
        primaries = cluster.get_primaries()
        index = {node.name: i for i, node in enumerate(primaries)}
        owner = np.full(SLOTS, -1, dtype=np.int16)
        for slot, nodes in cluster.nodes_manager.slots_cache.items():
            if nodes:
                owner[slot] = index.get(nodes[0].name, -1)
        if (owner < 0).any():
            raise ConnectionError(
                f"Redis Cluster: {int((owner < 0).sum())} of {SLOTS} slots have no primary; "
                "fix the cluster (CLUSTER INFO on a node says which) and run again"
            )
        self.clients = [cluster.get_redis_connection(node) for node in primaries]
        self._owner = owner

    def slots(self, keys: pa.BinaryArray) -> np.ndarray | None:
        """The keys' slots on a cluster (None on a single server), to compute them once."""
        return key_slots(keys) if self.cluster else None

    def groups(
        self, keys: pa.BinaryArray, slots: np.ndarray | None = None
    ) -> list[tuple[int, np.ndarray | None]]:
        """(node, row indices) per node holding some of `keys`; None means every row."""
        if not self.cluster:
            return [(0, None)]
        owners = self._owner[key_slots(keys) if slots is None else slots]
        order = np.argsort(owners, kind="stable")
        bounds = np.searchsorted(owners[order], np.arange(len(self.clients) + 1))
        return [
            (node, order[bounds[node] : bounds[node + 1]])
            for node in range(len(self.clients))
            if bounds[node + 1] > bounds[node]
        ]

    def pipes(self) -> list[RespPipe]:
        """One raw pipelined connection per node."""
        return [RespPipe(client) for client in self.clients]


def take(array: pa.Array, rows: np.ndarray | None) -> pa.Array:
    """The rows of `array` (all of them for None)."""
    return array if rows is None else array.take(pa.array(rows))


def per_key_replies(
    router: NodeRouter,
    pipes: list[RespPipe],
    keys: pa.BinaryArray,
    command: list[bytes],
    slots: np.ndarray | None = None,
) -> list[Any]:
    """Send `command[0] key *command[1:]` for every key to its node; replies in key order."""
    out: list[Any] = [None] * len(keys)
    groups = router.groups(keys, slots)
    for node, rows in groups:  # all sent first: the nodes work in parallel
        pipes[node].send(resp_commands([[command[0], take(keys, rows), *command[1:]]]))
    for node, rows in groups:
        replies = pipes[node].replies(len(keys) if rows is None else len(rows))
        if rows is None:
            return replies
        for row, reply in zip(rows.tolist(), replies, strict=True):
            out[row] = reply
    return out
