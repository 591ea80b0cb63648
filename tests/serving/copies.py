"""Private copies of the test world for tests that change state (their own data dir, Redis).

The shared world (tests/world.py) is read-only; a test that stops Redis, promotes a model or
counts the files its server writes works on a copy made here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recsys.pipeline.materialize import materialize
from recsys.redis_runtime import export_redis_env
from tests.serving.conftest import LiveServer
from tests.world import World, environment


def copy_world(world: World, target: Path, *, models: bool = True) -> Path:
    """The world's data dir without what servers wrote into it (served events, impressions,
    shared catalog versions) or run files, and models only if asked."""
    ignore = ["run", "served", "impressions", "catalog"] + ([] if models else ["models"])
    shutil.copytree(world.data_dir, target, symlinks=True, ignore=shutil.ignore_patterns(*ignore))
    return target


def night_copy(world: World, target: Path, database: int) -> dict[str, str]:
    """A copy without models (a night's gate then promotes what it trains) on its own Redis
    database of the world's server; the environment a night runs in."""
    from recsys.config import feast_env

    copy_world(world, target, models=False)
    url = world.redis_url.rsplit("/", 1)[0] + f"/{database}"
    return {
        "RECSYS_DATA_DIR": str(target),
        "REDIS_URL": url,
        **feast_env(url),
    }


def materialize_into(data_dir: Path, redis_url: str) -> None:
    """Materialize a copy's features into another Redis (the fast engine, every view)."""
    with environment({"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}):
        export_redis_env(redis_url)
        materialize(start=None, end=None, incremental=False, views=None, engine="fast")


def user_with_batch(live: LiveServer) -> str:
    """A user the server has a batch list for."""
    with live.client() as client:
        return str(client.get("/users/sample", params={"n": 1}).json()[0]["user_id"])
