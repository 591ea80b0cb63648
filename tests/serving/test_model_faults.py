"""A corrupt model never takes the service down (a real 2-worker uvicorn process).

The corrupt version is written straight into the registry and `current` flipped the way
`promote` does, bypassing `recsys promote`'s check: the server must refuse it by itself, keep
serving the old model in both workers and say why in /ready; restarted on the bad version it
must start and serve the fallbacks, marked degraded.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from recsys import registry
from tests.recsys.model_versions import reseal
from tests.serving.workers import SLOW_HOST, worker_server
from tests.world import World

# The model is polled often so the test sees the flip quickly; what is tested is the model
# fault, not latency.
SERVER_ENV = {"RECSYS_MODEL_POLL_SECONDS": "0.2", **SLOW_HOST}


def _broken_copy(models: Path, source: str, name: str) -> None:
    """Same trees, garbage compiled twin, hashes rewritten: only loading it shows the fault."""
    target = models / name
    shutil.copytree(models / source, target)
    (target / "model.so").write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    reseal(target)


def test_a_corrupt_model_cannot_take_two_workers_down(world: World, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(
        world.data_dir, data_dir, symlinks=True, ignore=shutil.ignore_patterns("run", "served")
    )
    models = data_dir / "models"
    _broken_copy(models, world.model_version, "v-corrupt")
    with worker_server(data_dir, world.redis_url, env=SERVER_ENV) as live:
        _promote_under_load(live.url, models, world)
        with live.client() as client:
            assert client.get("/health").status_code == 200  # still up after the fault

    # A fresh server whose current model is the corrupt one starts and serves fallbacks.
    with worker_server(data_dir, world.redis_url, env=SERVER_ENV) as live, live.client() as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
        body = client.get(f"/recommendations/{user}").json()
        answer = client.get("/ready")
    assert body["degraded"] and "v-corrupt refused" in body["reason"], body
    assert len(body["items"]) == 20
    assert answer.status_code == 503
    assert "v-corrupt refused" in answer.json()["checks"]["model"]["detail"]


def _promote_under_load(url: str, models: Path, world: World) -> None:
    """Flip `current` to the corrupt version while four clients ask for recommendations;
    every answer must stay a 200 from the old model, and /ready must say why."""
    with httpx.Client(base_url=url, timeout=10) as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
    answers: list[tuple[int, str | None, str | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                r = client.get(f"/recommendations/{user}")
                body = r.json() if r.status_code == 200 else {}
                reason = (body.get("reason") or "no reason") if body.get("degraded") else None
                answers.append((r.status_code, body.get("model_version"), reason))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        registry.promote(models, "v-corrupt")  # the pointer flip alone, no check
        refused = 0
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=url, timeout=10) as client:
            while refused < 10 and time.monotonic() < deadline:  # both workers, many times
                ready = client.get("/ready").json()["checks"]["model"]
                refused += "v-corrupt refused" in ready["detail"]
                time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert refused >= 10, f"/ready never reported the refused model: {ready}"
    assert "still serving " + world.model_version in ready["detail"] and ready["ok"]
    assert "crashed the check process" in ready["detail"]
    statuses = {status for status, _, _ in answers}
    assert statuses == {200}, f"{len(answers)} answers, statuses {statuses}"
    assert {version for _, version, _ in answers} == {world.model_version}
    reasons = [reason for _, _, reason in answers if reason]
    assert not reasons, f"{len(reasons)} of {len(answers)} answers degraded: {set(reasons)}"
