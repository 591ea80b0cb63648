"""Fixtures every test kind shares: our own Redis on a free port and an isolated data dir.

Tests never touch a Redis they did not start (the service machine's 6379 may hold someone's
data) and never write into the repository's data/ folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.world import World, build_world
from training.redis_runtime import RedisServer, export_redis_env, start_redis

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOVIELENS_DIR = SHARED_DATA / "movielens-small"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of our own (loopback, free port, no persistence) for the whole run."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    previous = {k: os.environ.get(k) for k in ("REDIS_URL", "FEAST_REDIS_CONNECTION")}
    export_redis_env(server.url)
    yield server
    server.stop()
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RECSYS_DATA_DIR for one test."""
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RECSYS_WAREHOUSE", raising=False)
    return tmp_path / "data"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The shared MovieLens copy; tests that need it fail loudly if it is missing."""
    if not (MOVIELENS_DIR / "ratings.csv").exists():
        pytest.fail(
            f"MovieLens data not found at {MOVIELENS_DIR}; CI puts ../shared beside the repo"
        )
    return MOVIELENS_DIR


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> World:
    """Generated events built into features, a trained model and batch recommendations.

    Lives in Redis database 1 of the session's own server; other tests use other databases.
    """
    return build_world(tmp_path_factory.mktemp("world"), redis_server.url.rsplit("/", 1)[0] + "/1")
