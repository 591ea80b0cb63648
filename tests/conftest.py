"""Fixtures every test kind shares: our own Redis on a free port and an isolated data dir.

Tests never touch a Redis they did not start (the service machine's 6379 may hold someone's
data) and never write into the repository's data/ folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from recsys import import_with_gc_paused
from recsys.config import FEAST_ENV_NAMES
from recsys.redis_runtime import RedisServer, export_redis_env, start_redis
from tests.cluster import redis_cluster  # noqa: F401  (a session fixture)
from tests.world import World, build_world

# Their first imports are long: done here, before any test's garbage exists, and never again
# inside a test (see import_with_gc_paused).
for _library in ("dbt.cli.main", "feast", "lightgbm"):
    import_with_gc_paused(_library)
# Feast's DuckDB offline store imports this on its first historical read; typeguard parses its
# source then, and CPython 3.11.7 failed that parse deep in a world build ("AST constructor
# recursion depth mismatch") in 2 of 5 runs of the world's tests. Imported here, on a
# shallow stack, it is never imported there.
import_with_gc_paused("feast.infra.data_sources.mlflow")


def _import_the_project() -> None:
    """Import every project module now, in one thread, before any test starts threads.

    The project imports many modules lazily inside functions. CPython 3.11 can raise
    KeyError(<thread id>) from importlib's module lock when a garbage collector finalizer
    imports during another thread's import (python/cpython#91351 family, fixed in 3.12);
    it hit a world build once. A module already in sys.modules takes no lock.
    """
    import importlib
    import pkgutil

    root = Path(__file__).resolve().parents[1]
    for package in ("recsys", "serving", "training", "ops", "bench"):
        for module in pkgutil.walk_packages([str(root / package)], prefix=f"{package}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


_import_the_project()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOVIELENS_DIR = SHARED_DATA / "movielens-small"


_WORLD_PARAMETER = re.compile(r"\bworld: World\b")


@cache
def work_unit(module: str) -> str:
    """The unit of work for `pytest -n 2` (make test): each costly fixture is built once.

    Everything on the trained `world` shares one worker, the dbt tests (which share session
    warehouses) another unit; every other module is its own unit. tests/dbt/test_spark.py
    shares no warehouse (it builds its own world on both targets, ~2.5 min): on its own it
    goes to whichever worker frees up first.
    """
    path = Path(__file__).resolve().parents[1] / module
    if path.parent.name == "dbt" and path.name != "test_spark.py":
        return "dbt"
    if path.parent.name == "serving" or _WORLD_PARAMETER.search(path.read_text()):
        return "world"
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # xdist's own loadgroup mode cannot read marks under pytest 9 (node ids are no longer
    # rewritable), so group by module path here instead.
    from xdist.scheduler import LoadScopeScheduling

    class ByFixture(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid.split("::", 1)[0])

    return ByFixture(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the world's tests first: the longest unit should start before the short ones."""
    items.sort(key=lambda item: work_unit(item.nodeid.split("::", 1)[0]) != "world")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of our own (loopback, free port, no persistence) for the whole run."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    previous = {k: os.environ.get(k) for k in ("REDIS_URL", *FEAST_ENV_NAMES)}
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
