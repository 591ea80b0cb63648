"""Redis Cluster: the cluster URL, a lazily connecting client, and key slots in bulk.

`REDIS_URL=redis+cluster://[user:password@]host1:port1,host2:port2,...` (or `rediss+cluster://`
for TLS) names a Redis Cluster by any of its nodes; the client discovers the rest. It is parsed
here once: `redis_runtime.client_from_url` builds the client, `config.feast_env` Feast's
connection string (`redis_type: redis_cluster`).

Slots follow Redis's rule (CRC16/XMODEM of the key, or of the part between the first `{` and
the next `}` when that part is not empty); `key_slots` computes them for a whole Arrow column
with numpy, which the fast materializer uses to send each node its own keys.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import numpy as np
import pyarrow as pa
import redis
from redis.exceptions import ClusterDownError, RedisClusterException

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
SLOTS = 16384

# What a cluster says when it cannot serve (a node down, slots uncovered, no node answers):
# outages like a single server's ConnectionError, never a client's mistake.
CLUSTER_OUTAGE_ERRORS = (ClusterDownError, RedisClusterException)


@dataclass(frozen=True)
class ClusterURL:
    """What a cluster URL says: seed nodes, credentials, TLS and extra client options."""

    nodes: list[tuple[str, int]]
    username: str | None = None
    password: str | None = None
    tls: bool = False
    options: dict[str, str] = field(default_factory=dict)


def is_cluster_url(url: str) -> bool:
    """True for a `redis+cluster://` or `rediss+cluster://` URL."""
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterURL:
    """Split a cluster URL into its parts.

    Raises:
        ValueError: Names the part of REDIS_URL that is wrong and the expected form.
    """
    scheme, sep, rest = url.partition("://")
    form = "redis+cluster://[user:password@]host1:port1,host2:port2,..."
    if not sep or scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"REDIS_URL scheme {scheme!r}: expected {form}")
    rest, _, query = rest.partition("?")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        hosts = rest
    hosts = hosts.rstrip("/")
    if "/" in hosts:
        raise ValueError(
            f"REDIS_URL {hosts.split('/', 1)[1]!r} after the hosts: a cluster has only "
            f"database 0, so a cluster URL has no /db; expected {form}"
        )
    nodes = []
    for node in filter(None, hosts.split(",")):
        host, colon, port = node.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"REDIS_URL node {node!r}: expected host:port in {form}")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError(f"REDIS_URL names no cluster node: expected {form}")
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    return ClusterURL(
        nodes=nodes,
        username=username,
        password=password,
        tls=CLUSTER_SCHEMES[scheme],
        options=dict(parse_qsl(query)),
    )


class LazyCluster:
    """A `redis.cluster.RedisCluster` made on first use, so a cluster that is down at start
    degrades the first calls (ConnectionError, as a down single server does) instead of
    failing construction; later calls try again."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self._kwargs = kwargs
        self._client: Any = None
        self._lock = threading.Lock()

    def connect(self) -> Any:
        """The underlying cluster client, discovering the nodes now if not done yet.

        Raises:
            redis.ConnectionError: No seed node answered.
        """
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = new_cluster_client(self.url, **self._kwargs)
                    except RedisClusterException as exc:
                        raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connect(), name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def new_cluster_client(url: str, **kwargs: Any) -> Any:
    """Connect a `RedisCluster` to the cluster the URL names (raises when none answers)."""
    from redis.cluster import ClusterNode, RedisCluster

    parsed = parse_cluster_url(url)
    options: dict[str, Any] = dict(parsed.options)
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in options:
            options[name] = float(options[name])
    options.update(kwargs)
    if parsed.tls:
        options.setdefault("ssl", True)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        **options,
    )


def is_cluster_client(client: Any) -> bool:
    """True for a (lazy) cluster client."""
    from redis.cluster import RedisCluster

    return isinstance(client, LazyCluster | RedisCluster)


def cluster_problem(client: Any) -> str | None:
    """Why the cluster cannot serve every slot (a node down, state fail), or None when it can.

    Asks every known primary for CLUSTER INFO: a primary that does not answer, or one that
    reports `cluster_state` other than ok, is the problem named.
    """
    cluster = client.connect() if isinstance(client, LazyCluster) else client
    for node in cluster.get_primaries():
        where = f"{node.host}:{node.port}"
        try:
            info = node.redis_connection.execute_command("CLUSTER INFO")
        except (redis.RedisError, OSError) as exc:
            return f"cluster node {where} does not answer ({type(exc).__name__}: {exc})"
        state = cluster_state(info)
        if state != "ok":
            return f"cluster node {where} reports cluster_state:{state}"
    return None


def cluster_state(info: Any) -> str:
    """`cluster_state` from a CLUSTER INFO reply (redis-py parses it into a dict; raw is text)."""
    if isinstance(info, dict):
        return str(info.get("cluster_state", "unknown"))
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


# --- slots in bulk ---------------------------------------------------------------------------


def _crc16_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint16)
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table[byte] = crc & 0xFFFF
    return table


_TABLE = _crc16_table()


def key_slots(keys: pa.BinaryArray | pa.ChunkedArray) -> np.ndarray:
    """The cluster slot of every key (CRC16 mod 16384, hash tags honoured), as uint16.

    The bytes hashed (the whole key, or its tag) are right-aligned in a (width, n) matrix:
    CRC16/XMODEM starts at 0 and leading zero bytes leave it 0, so the padding needs no mask
    and each step is three vector operations over all keys.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.uint16)
    offsets = np.frombuffer(keys.buffers()[1], np.int32)[keys.offset : keys.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(keys.buffers()[2] or b"\0", np.uint8)
    lengths = np.diff(offsets)
    begin, end = np.zeros(n, dtype=np.int64), lengths
    if (data[offsets[0] : offsets[-1]] == ord("{")).any():  # only then can a key hold a tag
        width = int(lengths.max())
        positions = np.arange(width)
        inside = positions < lengths[:, None]
        matrix = data[np.minimum(offsets[:-1, None] + positions, len(data) - 1)]
        begin, end = _tag_bounds(np.where(inside, matrix, 0), inside, lengths)
    hashed = end - begin
    width = int(hashed.max())
    rows = np.arange(width)[:, None]
    pad = (width - hashed)[None, :]
    index = offsets[:-1][None, :] + begin[None, :] + rows - pad
    columns = np.where(rows >= pad, data[np.clip(index, 0, len(data) - 1)], 0).astype(np.uint16)
    crc = np.zeros(n, dtype=np.uint16)
    for column in columns:
        crc = (crc << np.uint16(8)) ^ _TABLE[(crc >> np.uint16(8)) ^ column]
    return (crc % SLOTS).astype(np.uint16)


def _tag_bounds(
    matrix: np.ndarray, inside: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per key, the byte range hashed: the whole key, or the non-empty `{...}` tag's inside."""
    width = matrix.shape[1]
    opens = (matrix == ord("{")) & inside
    has_open = opens.any(axis=1)
    first_open = np.where(has_open, np.argmax(opens, axis=1), width)
    after = np.arange(width) > first_open[:, None]
    closes = (matrix == ord("}")) & inside & after
    has_close = closes.any(axis=1)
    first_close = np.where(has_close, np.argmax(closes, axis=1), width)
    tagged = has_open & has_close & (first_close > first_open + 1)
    begin = np.where(tagged, first_open + 1, 0)
    end = np.where(tagged, first_close, lengths)
    return begin, end
