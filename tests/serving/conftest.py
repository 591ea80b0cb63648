"""A real uvicorn server on a free port, serving the session's world (model, features, Redis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from recsys.config import Settings
from recsys.redis_runtime import free_port
from serving.main import create_app
from tests.world import World


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: object

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def start_server(settings: Settings) -> tuple[LiveServer, uvicorn.Server, threading.Thread]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", settings, app), server, thread


def world_settings(world: World, **overrides: object) -> Settings:
    """Server settings on the world's data and Redis; fast polling so tests need not wait."""
    values: dict[str, object] = {
        "data_dir": Path(world.data_dir),
        "redis_url": world.redis_url,
        "model_poll_seconds": 0.2,
        "catalog_poll_seconds": 0.5,
        "redis_retry_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live_server(world: World) -> Iterator[LiveServer]:
    """The API on a free port for the module's tests, stopped afterwards."""
    live, server, thread = start_server(world_settings(world))
    yield live
    server.should_exit = True
    thread.join(timeout=30)
