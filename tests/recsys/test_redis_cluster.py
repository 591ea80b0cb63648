"""Cluster URL parsing, Feast's cluster connection string and slots computed in bulk."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from redis.crc import key_slot

from recsys.config import feast_env
from recsys.contract import event_claim_key, session_key
from recsys.local_cluster import LocalCluster
from recsys.monitoring.impressions import last_impression_key
from recsys.redis_cluster import key_slots, parse_cluster_url
from recsys.redis_runtime import client_from_url, connection_error


def test_key_slots_agree_with_redis_py_including_hash_tags() -> None:
    rng = random.Random(3)
    keys = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    keys += [b"a{b}c", b"{}x", b"x{}{y}", b"{{a}}", b"a{", b"}{a}", b"{user:7}", b""]
    got = key_slots(pa.array(keys, pa.binary()))
    assert got.tolist() == [key_slot(k) for k in keys]
    untagged = [k.replace(b"{", b"(") for k in keys]  # the path without any tag to look for
    assert key_slots(pa.array(untagged, pa.binary())).tolist() == [key_slot(k) for k in untagged]
    sliced = pa.array(keys, pa.binary()).slice(5, 100)  # an offset into the buffers
    assert key_slots(sliced).tolist() == [key_slot(k) for k in keys[5:105]]


def test_a_sessions_own_keys_share_one_slot() -> None:
    session = session_key("u-1", None)
    slots = {key_slot(event_claim_key(session, f"e{i}").encode()) for i in range(50)}
    assert slots == {key_slot(last_impression_key(session).encode())}


def test_cluster_url_parts_and_errors() -> None:
    parsed = parse_cluster_url("redis+cluster://me:p%40ss@h1:7000,h2:7001?socket_timeout=2")
    assert parsed.nodes == [("h1", 7000), ("h2", 7001)]
    assert (parsed.username, parsed.password, parsed.tls) == ("me", "p@ss", False)
    assert parse_cluster_url("rediss+cluster://h:1").tls
    with pytest.raises(ValueError, match="database 0"):
        parse_cluster_url("redis+cluster://h1:7000/1")
    with pytest.raises(ValueError, match="host:port"):
        parse_cluster_url("redis+cluster://h1,h2:7001")


def test_feast_reads_our_cluster_connection_string() -> None:
    env = feast_env("redis+cluster://me:a,b'c@h1:7000,h2:7001")
    assert env["FEAST_REDIS_TYPE"] == "redis_cluster"
    nodes, params = RedisOnlineStore._parse_connection_string(env["FEAST_REDIS_CONNECTION"])
    assert nodes == [{"host": "h1", "port": "7000"}, {"host": "h2", "port": "7001"}]
    assert params == {"username": "me", "password": "a,b'c"}
    assert feast_env("redis://h:1/2")["FEAST_REDIS_TYPE"] == "redis"


def test_a_down_cluster_fails_calls_not_construction(redis_cluster: LocalCluster) -> None:
    from recsys.redis_runtime import free_port

    dead = f"redis+cluster://127.0.0.1:{free_port()}"
    client = client_from_url(dead, timeout_s=0.2)  # no connection yet: nothing raised
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert connection_error(dead) is not None
    assert connection_error(redis_cluster.url) is None
    live = client_from_url(redis_cluster.url)
    live.set(event_claim_key("s", "e"), b"1")
    assert live.get(event_claim_key("s", "e")) == b"1"
    assert np.all(key_slots(pa.array([b"x"], pa.binary())) == key_slot(b"x"))
