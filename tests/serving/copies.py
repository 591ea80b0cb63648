"""Private copies of the test world for tests that change state (their own data dir, Redis).

The shared world (tests/world.py) is read-only; a test that stops Redis, promotes a model or
counts the files its server writes works on a copy made here.
"""

from __future__ import annotations

from pathlib import Path

from tests.serving.conftest import LiveServer
from tests.world import World, copy_world, materialize_into

__all__ = ["copy_world", "materialize_into", "night_copy", "user_with_batch"]


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


def user_with_batch(live: LiveServer) -> str:
    """A user the server has a batch list for."""
    with live.client() as client:
        return str(client.get("/users/sample", params={"n": 1}).json()[0]["user_id"])
