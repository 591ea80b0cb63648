"""`recsys features` (what `make features` and `make demo` run): landing files to Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import redis

from recsys.redis_runtime import start_redis

RECSYS = Path(sys.executable).parent / "recsys"


def test_features_builds_applies_and_materializes_from_the_command_line(tmp_path: Path) -> None:
    # A Redis of its own: this world's keys must not overwrite the shared test world's.
    server = start_redis(tmp_path / "redis")
    try:
        env = {**os.environ, "RECSYS_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": server.url}
        generated = subprocess.run(
            [str(RECSYS), "ingest", "generate", "--events", "3000", "--seed", "3"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert generated.returncode == 0, generated.stderr
        done = subprocess.run(
            [str(RECSYS), "features"], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dbt build (full" in done.stdout, done.stdout
        assert cast(int, redis.Redis.from_url(server.url).dbsize()) > 0
    finally:
        server.stop()
