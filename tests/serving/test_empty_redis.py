"""A Redis that answers but holds no features is reported, not served as healthy.

Before: after Redis restarted empty, `/ready` said 200 and answers `degraded: false` while
every user got the same list.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from recsys.contract import MATERIALIZED_MARKER_KEY
from recsys.redis_runtime import start_redis
from tests.serving.conftest import start_server, world_settings
from tests.serving.copies import copy_world, materialize_into, user_with_batch
from tests.world import World


def ready_within(client: httpx.Client, status: int, seconds: float = 30.0) -> httpx.Response:
    """/ready once it answers `status`; a busy host can delay the 2 s marker check, and a
    one-off slow PING fails the redis check, so poll instead of sleeping a fixed time."""
    deadline = time.monotonic() + seconds
    while True:
        ready = client.get("/ready")
        if ready.status_code == status or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert ready.status_code == status, ready.text
    return ready


def test_an_emptied_redis_makes_ready_fail_and_answers_degrade(
    world: World, tmp_path: Path
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    server = start_redis(tmp_path / "redis")
    try:
        materialize_into(data_dir, server.url)
        assert redis.Redis.from_url(server.url).hget(MATERIALIZED_MARKER_KEY, "user_features")
        live, uvicorn_server, thread = start_server(
            world_settings(world, data_dir=data_dir, redis_url=server.url)
        )
        user = user_with_batch(live)
        with live.client() as client:
            assert client.get("/ready").status_code == 200
            assert not client.get(f"/recommendations/{user}").json()["degraded"]

            redis.Redis.from_url(server.url).flushall()
            ready = ready_within(client, 503)  # the marker is checked at most every 2 s
            check = ready.json()["checks"]["online_features"]
            assert not check["ok"] and "recsys materialize" in check["detail"]
            assert ready.json()["checks"]["redis"]["ok"]
            body = client.get(f"/recommendations/{user}").json()
            assert body["degraded"] and "no materialized user_features" in body["reason"]
            assert body["items"]  # the in-memory batch list, personal to the user

            materialize_into(data_dir, server.url)
            ready_within(client, 200)
            assert not client.get(f"/recommendations/{user}").json()["degraded"]
        uvicorn_server.should_exit = True
        thread.join(timeout=30)
    finally:
        server.stop()
