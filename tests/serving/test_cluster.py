"""The project on a real local Redis Cluster (3 masters): materialize, reads, events, a node
restart, and two server processes sharing one cluster.

Works on a copy of the session's world (tests/serving/copies.py) so the shared world and its
single-node Redis stay as they were.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from recsys.config import environment, feast_env
from recsys.contract import FEATURE_SERVICE, MATERIALIZED_MARKER_KEY
from recsys.local_cluster import LocalCluster, start_cluster
from recsys.pipeline.feast_ops import feature_store
from recsys.pipeline.materialize import materialize
from recsys.redis_runtime import RedisServer
from tests.feast_refs import feature_refs
from tests.feature_repo.test_world_features import SAMPLE, _latest, _same
from tests.serving.conftest import LiveServer, start_server, world_settings
from tests.serving.copies import copy_world, user_with_batch
from tests.serving.workers import worker_server
from tests.world import World

# Stock Feast reads sources through ibis, which calls a DuckDB method DuckDB deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


def _materialize(data_dir: Path, url: str, engine: str = "fast") -> None:
    env = {"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": url, **feast_env(url)}
    with environment(env):
        materialize(start=None, end=None, incremental=False, views=None, engine=engine)


def _dump_clients(clients: list[Any]) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash but the marker (its times differ run to run), from every node given."""
    out = {}
    for client in clients:
        for key in client.scan_iter(count=1000):
            if key != MATERIALIZED_MARKER_KEY.encode():
                out[key] = client.hgetall(key)
    return out


def _cluster_dump(cluster: LocalCluster) -> dict[bytes, dict[bytes, bytes]]:
    return _dump_clients([n.client for n in cluster.nodes])


@pytest.fixture(scope="module")
def cluster_world(
    world: World, redis_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the world with its features materialized (fast engine) into the cluster."""
    data_dir = copy_world(world, tmp_path_factory.mktemp("cluster-world") / "data")
    redis_cluster.flushall()
    _materialize(data_dir, redis_cluster.url)
    return data_dir


@pytest.fixture(scope="module")
def cluster_server(
    cluster_world: Path, world: World, redis_cluster: LocalCluster
) -> Iterator[LiveServer]:
    settings = world_settings(world, data_dir=cluster_world, redis_url=redis_cluster.url)
    live, server, thread = start_server(settings)
    yield live
    server.should_exit = True
    thread.join(timeout=30)


def test_materialize_on_cluster_is_byte_identical_to_single_node(
    cluster_world: Path, redis_cluster: LocalCluster, redis_server: RedisServer
) -> None:
    fast_cluster = _cluster_dump(redis_cluster)
    single_url = redis_server.url.rsplit("/", 1)[0] + "/11"
    single: Any = redis.Redis.from_url(single_url)
    single.flushdb()
    _materialize(cluster_world, single_url)
    fast_single = _dump_clients([single])
    single.flushdb()
    per_node = [int(cast(int, n.client.dbsize())) for n in redis_cluster.nodes]

    redis_cluster.flushall()
    _materialize(cluster_world, redis_cluster.url, engine="feast")
    stock_cluster = _cluster_dump(redis_cluster)
    _materialize(cluster_world, redis_cluster.url)  # the marker back, for the tests after

    assert len(fast_single) > 1000
    assert fast_cluster.keys() == fast_single.keys()
    assert fast_cluster == fast_single
    assert stock_cluster == fast_single
    assert min(per_node) > 0.2 * sum(per_node)  # keys spread over the three masters


@pytest.mark.parametrize(
    ("view", "key"), [("user_features", "user_id"), ("item_features", "item_id")]
)
def test_online_values_on_cluster_equal_the_latest_offline_row(
    cluster_world: Path, redis_cluster: LocalCluster, world: World, view: str, key: str
) -> None:
    offline = _latest(world, view, key)
    env = {"RECSYS_DATA_DIR": str(cluster_world), "REDIS_URL": redis_cluster.url}
    with environment({**env, **feast_env(redis_cluster.url)}):
        store = feature_store()
        refs = feature_refs(FEATURE_SERVICE, view, store=store)
        online = store.get_online_features(
            features=refs, entity_rows=[{key: k} for k in offline]
        ).to_dict()
    names = [r.split(":", 1)[1] for r in refs]
    mismatches = [
        (entity, name)
        for n, entity in enumerate(online[key])
        for name in names
        if not _same(offline[entity][name], online[name][n])
    ]
    assert len(online[key]) == SAMPLE
    assert not mismatches, mismatches[:5]


def _events(user: str, session: str, items: list[str]) -> dict[str, Any]:
    return {
        "events": [
            {
                "event_id": f"e-{uuid.uuid4().hex}",
                "user_id": user,
                "session_id": session,
                "item_id": item,
                "event_type": "view",
            }
            for item in items
        ]
    }


def _items(client: httpx.Client, user: str) -> list[str]:
    body = client.get(f"/recommendations/{user}", params={"k": 3}).json()
    return [i["item_id"] for i in body["items"]]


def test_api_reads_and_events_on_cluster(cluster_server: LiveServer) -> None:
    user = user_with_batch(cluster_server)
    session = f"s-{uuid.uuid4().hex[:8]}"
    with cluster_server.client() as client:
        first = client.get(f"/recommendations/{user}", params={"session_id": session}).json()
        assert not first["degraded"], first
        events = _events(user, session, _items(client, user))
        posted = client.post("/events", json=events).json()
        again = client.post("/events", json=events).json()
        after = client.get(f"/recommendations/{user}", params={"session_id": session}).json()
        ready = client.get("/ready")
    assert (posted["accepted"], posted["degraded"]) == (3, False), posted
    assert (again["accepted"], again["duplicates"]) == (0, 3), again
    assert after["session_events"] == 3 and not after["degraded"]
    assert ready.status_code == 200, ready.json()


def _wait(check: Any, *, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_a_stopped_node_degrades_and_its_restart_recovers(
    cluster_server: LiveServer, cluster_world: Path, redis_cluster: LocalCluster
) -> None:
    user = user_with_batch(cluster_server)
    session = f"s-{uuid.uuid4().hex[:8]}"
    with cluster_server.client() as client:
        redis_cluster.stop_node(1)
        try:
            not_ready = _wait(lambda: client.get("/ready").status_code == 503)
            ready = client.get("/ready").json()
            answer = _wait(
                lambda: (
                    (
                        body := client.get(
                            f"/recommendations/{user}", params={"session_id": session}
                        ).json()
                    )["degraded"]
                    and body
                )
            )
            posted = client.post("/events", json=_events(user, session, ["i1", "i2"])).json()
        finally:
            redis_cluster.start_node(1)  # back on its port, empty (no persistence)
        _materialize(cluster_world, redis_cluster.url)  # reloads what the node lost
        recovered = _wait(lambda: client.get("/ready").status_code == 200)
        after = _wait(
            lambda: (
                (
                    body := client.get(
                        f"/recommendations/{user}", params={"session_id": session}
                    ).json()
                )["session_events"]
                == 2
                and body
            )
        )
    assert not_ready, ready
    assert not ready["checks"]["redis"]["ok"], ready
    assert answer and answer["items"], answer  # a fallback list, not an error
    assert posted["degraded"] and posted["accepted"] == 2, posted
    assert recovered, client.get("/ready").json()
    assert after and not after["degraded"], after  # the journaled events were replayed


def test_two_server_processes_share_sessions_through_the_cluster(
    cluster_world: Path, redis_cluster: LocalCluster, cluster_server: LiveServer, tmp_path: Path
) -> None:
    user = user_with_batch(cluster_server)
    session = f"s-{uuid.uuid4().hex[:8]}"
    # each replica on its own disk (as on two hosts): they share nothing but the cluster; the
    # shared catalog is per host, built by the replica (a running server writes into it now)
    other_dir = tmp_path / "data"
    ignore = shutil.ignore_patterns("run", "served", "impressions", "catalog")
    shutil.copytree(cluster_world, other_dir, symlinks=True, ignore=ignore)
    with (
        worker_server(cluster_world, redis_cluster.url, workers=1) as one,
        worker_server(other_dir, redis_cluster.url, workers=1) as other,
    ):
        assert one.url != other.url
        with one.client() as first, other.client() as second:
            items = _items(first, user)
            posted = first.post("/events", json=_events(user, session, items[:2])).json()
            seen = second.get(f"/recommendations/{user}", params={"session_id": session}).json()
            posted_b = second.post("/events", json=_events(user, session, items[2:])).json()
            seen_a = first.get(f"/recommendations/{user}", params={"session_id": session}).json()
    assert posted["accepted"] == 2 and not posted["degraded"], posted
    assert seen["session_events"] == 2 and not seen["degraded"], seen
    assert posted_b["accepted"] == len(items[2:]), posted_b
    assert seen_a["session_events"] == len(items), seen_a


def test_a_server_started_while_the_cluster_is_down_degrades_then_recovers(
    cluster_world: Path, world: World, tmp_path: Path
) -> None:
    cluster = start_cluster(tmp_path / "late")  # its own, stopped before the server starts
    url = cluster.url
    cluster.stop()
    settings = world_settings(world, data_dir=cluster_world, redis_url=url)
    live, server, thread = start_server(settings)  # no Redis call may fail the start
    try:
        with live.client() as client:
            down = client.get("/ready")
            answer = client.get("/recommendations/u-late").json()
            for index in range(len(cluster.nodes)):  # same ports, same nodes.conf: same slots
                cluster.start_node(index, wait=False)
            cluster.wait_ok()
            _materialize(cluster_world, url)
            recovered = _wait(lambda: client.get("/ready").status_code == 200)
            after = client.get("/recommendations/u-late").json()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        cluster.stop()
    assert down.status_code == 503 and not down.json()["checks"]["redis"]["ok"], down.json()
    assert answer["degraded"] and answer["items"], answer
    assert recovered, "the server did not notice the cluster coming up"
    assert not after["degraded"], after
