"""A real `uvicorn --workers N` server in its own process group, for cross-process tests.

The in-thread test server (conftest.start_server) runs one process; what is lost between two
workers (a session update, a duplicate, a replay) only shows with real worker processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from recsys.redis_runtime import free_port

# How long a worker's Redis breaker stays open after a failed call (short, so tests of an
# outage see recovery quickly).
RETRY_SECONDS = 0.2
# For tests of something other than latency: on a 2-core host busy with the rest of the
# suite a Redis reply can miss the 100 ms default timeout, which answers `degraded` (and
# stores events for replay) for that reason alone.
SLOW_HOST = {"RECSYS_REDIS_TIMEOUT_MS": "2000"}


@dataclass(frozen=True)
class WorkerServer:
    url: str
    log: Path
    pid: int

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextlib.contextmanager
def worker_server(
    data_dir: Path, redis_url: str, *, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[WorkerServer]:
    """Run the API with `workers` processes on a free port until the block ends."""
    port = free_port()
    run = data_dir / "run"
    metrics = run / "prometheus"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    log = run / "server.log"
    environment = {
        **os.environ,
        "RECSYS_DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "RECSYS_REDIS_RETRY_SECONDS": str(RETRY_SECONDS),
        "RECSYS_MODEL_POLL_SECONDS": "0.5",
        **(env or {}),
    }
    for name in ("FEAST_REDIS_CONNECTION", "FEAST_REDIS_TYPE"):
        environment.pop(name, None)  # the server derives them from REDIS_URL
    # A server started again on the same data folder appends to the same log: only this
    # one's lines tell when it is serving.
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "serving.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "info",
            ],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = WorkerServer(f"http://127.0.0.1:{port}", log, process.pid)
    try:
        _wait_until_serving(server, process, workers, start)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_serving(
    server: WorkerServer, process: subprocess.Popen, workers: int, start: int
) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with server.log.open("rb") as log:
            log.seek(start)
            mine = log.read().decode(errors="replace")
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {mine[-3000:]}")
        # every worker logs this line once its lifespan finished
        if mine.count("Application startup complete") >= workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in time: {mine[-3000:]}")
