"""A registered feature repo per test module: hand-made exports, its own Redis db, one apply.

`feast apply` and Feast's imports cost seconds, so each module applies once; tests that need
a clean online store empty their Redis db themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import redis

from recsys.config import Paths, feast_env
from recsys.pipeline import feast_ops
from recsys.redis_runtime import RedisServer
from tests.feature_repo.exports import write_exports

# Databases of the session's Redis, one per module, away from db 0 that other suites use.
_DATABASES = itertools.count(10)


@dataclass(frozen=True)
class FeastRepo:
    """The environment a test module runs Feast in."""

    data_dir: Path
    redis_url: str
    client: redis.Redis
    apply_summary: str

    def dump(self) -> dict[bytes, dict[bytes, bytes]]:
        """Every Feast key and hash field in this module's Redis db (not the project's own
        `recsys:` keys, such as the materialization marker)."""
        keys = [k for k in self.client.scan_iter(count=1000) if not k.startswith(b"recsys:")]
        return {key: cast(dict[bytes, bytes], self.client.hgetall(key)) for key in keys}


def own_database(server: RedisServer) -> str:
    """URL of a database of the session's Redis that no other test module uses."""
    return server.url.rsplit("/", 1)[0] + f"/{next(_DATABASES)}"


@pytest.fixture(scope="module")
def feast_repo(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeastRepo]:
    """Exports written, RECSYS_DATA_DIR and Redis env pointed at them, feature repo applied."""
    data_dir = tmp_path_factory.mktemp("feast") / "data"
    write_exports(Paths(data_dir).exports)
    url = own_database(redis_server)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_DATA_DIR", str(data_dir))
        patch.delenv("RECSYS_WAREHOUSE", raising=False)
        patch.setenv("REDIS_URL", url)
        for name, value in feast_env(url).items():
            patch.setenv(name, value)
        client = redis.Redis.from_url(url)
        client.flushdb()
        try:
            yield FeastRepo(data_dir, url, client, feast_ops.apply())
        finally:
            client.close()
