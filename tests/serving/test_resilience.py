"""Behaviour users rely on when things go wrong: Redis dies, no model yet, a model is swapped.

Each test runs its own server on a private copy of the world's data (and, where Redis is
stopped, its own Redis), so the shared world stays untouched.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recsys import registry
from recsys.redis_runtime import RedisServer, start_redis
from tests.serving.conftest import start_server, world_settings
from tests.serving.copies import copy_world, materialize_into, user_with_batch
from tests.world import World


@pytest.fixture
def server_factory() -> Iterator:
    stops = []

    def make(settings):
        live, server, thread = start_server(settings)
        stops.append((server, thread))
        return live

    yield make
    for server, thread in stops:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_redis_down_means_fallbacks_not_errors_and_recovery_is_automatic(
    world: World,
    tmp_path: Path,
    server_factory,
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    redis_dir = tmp_path / "redis"
    redis: RedisServer = start_redis(redis_dir)
    port = int(redis.url.rsplit(":", 1)[1].split("/")[0])
    try:
        materialize_into(data_dir, redis.url)
        live = server_factory(world_settings(world, data_dir=data_dir, redis_url=redis.url))
        user = user_with_batch(live)
        with live.client() as client:
            healthy = client.get(f"/recommendations/{user}", params={"session_id": "r1"}).json()
            assert not healthy["degraded"]

            redis.stop()
            down = client.get(f"/recommendations/{user}", params={"session_id": "r1"})
            assert down.status_code == 200
            body = down.json()
            assert body["degraded"] and "online store unavailable" in body["reason"]
            assert "batch recommendations" in body["reason"] and len(body["items"]) == 20
            stranger = client.get("/recommendations/nobody-knows-me").json()
            assert stranger["degraded"] and "popular items" in stranger["reason"]
            assert stranger["items"]

            event = client.post(
                "/events",
                json={"user_id": user, "session_id": "r1", "item_id": body["items"][0]["item_id"]},
            )
            assert event.status_code == 200 and event.json()["degraded"]
            landed = "".join(p.read_text() for p in (data_dir / "landing/served").glob("*.jsonl"))
            assert '"session_id":"r1"' in landed  # nothing lost while Redis was down

            ready = client.get("/ready")
            assert ready.status_code == 503 and not ready.json()["checks"]["redis"]["ok"]

            redis = start_redis(redis_dir, port=port)  # a fresh, empty Redis on the same port
            materialize_into(data_dir, redis.url)
            _wait_for(lambda: not client.get(f"/recommendations/{user}").json()["degraded"])
            assert client.get("/ready").status_code == 200
    finally:
        redis.stop()


def test_without_a_model_ready_says_what_to_run_and_answers_degrade(
    world: World,
    tmp_path: Path,
    server_factory,
) -> None:
    data_dir = copy_world(world, tmp_path / "data", models=False)
    live = server_factory(world_settings(world, data_dir=data_dir))
    with live.client() as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "make train" in ready.json()["checks"]["model"]["detail"]
        body = client.get(f"/recommendations/{user_with_batch(live)}").json()
    assert body["degraded"] and "no model loaded" in body["reason"]
    assert len(body["items"]) == 20


def test_a_newly_promoted_model_is_picked_up_without_failing_a_request(
    world: World,
    tmp_path: Path,
    server_factory,
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    models = data_dir / "models"
    live = server_factory(world_settings(world, data_dir=data_dir))
    user = user_with_batch(live)
    # a second version: same trees, new name (what matters here is the swap)
    source = models / world.model_version
    staged = {p.name: p for p in source.iterdir() if p.name != "metadata.json"}
    meta = json.loads((source / "metadata.json").read_text())
    meta["version"] = "v-hot-reload"
    registry.write_version(models, "v-hot-reload", {**staged, "metadata.json": json.dumps(meta)})

    statuses: list[tuple[int, bool, str | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=live.url, timeout=10) as client:
            while not stop.is_set():
                r = client.get(f"/recommendations/{user}", params={"session_id": "hot"})
                body = r.json() if r.status_code == 200 else {}
                statuses.append(
                    (r.status_code, bool(body.get("degraded")), body.get("model_version"))
                )

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.5)
        registry.promote(models, "v-hot-reload")
        _wait_for(lambda: bool(statuses) and statuses[-1][2] == "v-hot-reload")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert {s for s, _, _ in statuses} == {200}
    assert not any(degraded for _, degraded, _ in statuses)
    versions = [v for _, _, v in statuses]
    assert versions[0] == world.model_version and versions[-1] == "v-hot-reload"
    # once switched, never back: the swap is one reference assignment
    assert world.model_version not in versions[versions.index("v-hot-reload") :]
