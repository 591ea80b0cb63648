"""A corrupt model never takes the service down (a real 2-worker uvicorn process).

The corrupt version is written straight into the registry and `current` flipped the way
`promote` does, bypassing `recsys promote`'s check: the server must refuse it by itself, keep
serving the old model in both workers and say why in /ready; restarted on the bad version it
must start and serve the fallbacks, marked degraded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from recsys import registry
from recsys.redis_runtime import free_port
from tests.recsys.model_versions import reseal
from tests.serving.workers import SLOW_HOST
from tests.world import World


def _start(data_dir: Path, world: World, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_DATA_DIR": str(data_dir),
        "REDIS_URL": world.redis_url,
        "RECSYS_MODEL_POLL_SECONDS": "0.2",
        **SLOW_HOST,  # what is tested is the model fault, not latency
    }
    command = [sys.executable, "-m", "uvicorn", "serving.main:create_app", "--factory"]
    command += ["--workers", "2", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited at start-up: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not start in 180 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


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
    log = tmp_path / "server.log"
    process, url = _start(data_dir, world, log)
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
    assert process.poll() is None
    statuses = {status for status, _, _ in answers}
    assert statuses == {200}, f"{len(answers)} answers, statuses {statuses}"
    assert {version for _, version, _ in answers} == {world.model_version}
    reasons = [reason for _, _, reason in answers if reason]
    assert not reasons, f"{len(reasons)} of {len(answers)} answers degraded: {set(reasons)}"
    _stop(process)

    # A fresh server whose current model is the corrupt one starts and serves fallbacks.
    process, url = _start(data_dir, world, log)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            body = client.get(f"/recommendations/{user}").json()
            ready = client.get("/ready")
    finally:
        _stop(process)
    assert body["degraded"] and "v-corrupt refused" in body["reason"], body
    assert len(body["items"]) == 20
    assert ready.status_code == 503
    assert "v-corrupt refused" in ready.json()["checks"]["model"]["detail"]
