"""Materialize tells the truth on the world: a moved data dir, an interrupted run, an empty Redis.

Each test works on its own copy of the world's data dir and its own Redis database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import duckdb
import pytest
import redis

from recsys.config import feast_env
from recsys.pipeline import feast_ops
from recsys.pipeline.materialize import MaterializeError, materialize
from recsys.redis_runtime import RedisServer
from tests.feature_repo.conftest import own_database
from tests.world import World, environment

BIN = Path(sys.executable).parent

# view -> (export file, join key): what the end state is counted against, independently of
# the code under test.
VIEWS = {
    "item_features": ("item_features", "item_id"),
    "item_neighbors": ("item_neighbors", "item_id"),
    "session_state": ("session_state", "session_id"),
    "user_features": ("user_features", "user_id"),
    "user_batch_recommendations": ("batch_recommendations", "user_id"),
}


@pytest.fixture(scope="module")
def database(redis_server: RedisServer) -> str:
    """One Redis database for the module (the server has 16); each test empties it first."""
    return own_database(redis_server)


def _copy(world: World, target: Path) -> Path:
    shutil.copytree(world.data_dir, target, ignore=shutil.ignore_patterns("models", "run"))
    return target


def _env(data_dir: Path, url: str) -> dict[str, str]:
    return {
        "RECSYS_DATA_DIR": str(data_dir),
        "REDIS_URL": url,
        **feast_env(url),
    }


def _source_entities(data_dir: Path) -> dict[str, int]:
    with duckdb.connect() as con:
        counts = {}
        for view, (export, key) in VIEWS.items():
            path = data_dir / "exports" / f"{export}.parquet"
            row = con.execute(
                f"select count(distinct {key}) from read_parquet('{path}')"
            ).fetchone()
            counts[view] = int(row[0]) if row else 0
    return counts


def _redis_entities(url: str) -> dict[str, int]:
    """Keys per view, read from Redis itself: a key holds a view when it has its `_ts` field."""
    client = redis.Redis.from_url(url)
    counts = dict.fromkeys(VIEWS, 0)
    for key in client.scan_iter(count=5000):
        for name in cast(list[bytes], client.hkeys(key)):
            view = name.decode(errors="replace").removeprefix("_ts:")
            if name.startswith(b"_ts:") and view in counts:
                counts[view] += 1
    client.close()
    return counts


def test_a_copied_data_dir_materializes_every_view_from_its_own_files(
    world: World, database: str, tmp_path: Path
) -> None:
    # The registry of `first` names first's files; `second` is its copy once `first` is gone.
    first = _copy(world, tmp_path / "first")
    url = database
    with environment(_env(first, url)):
        feast_ops.apply()
    second = tmp_path / "second"
    shutil.copytree(first, second)
    shutil.rmtree(first)
    redis.Redis.from_url(url).flushdb()

    with environment(_env(second, url)):
        summary = materialize(start=None, end=None, incremental=False, views=None, engine="fast")
        store = feast_ops.feature_store()
        paths = {v.name: getattr(v.batch_source, "path", "") for v in store.list_feature_views()}

    counts = summary.counts()
    assert set(counts) == set(VIEWS)
    assert all(rows > 0 for rows in counts.values()), counts
    assert all(str(second) in path for path in paths.values()), paths
    assert any("source moved" in note for note in summary.notes)
    assert _redis_entities(url) == _source_entities(second)


def test_an_incremental_run_into_an_empty_redis_fails_and_says_how_to_fix(
    world: World, database: str, tmp_path: Path
) -> None:
    # The copied registry records the world's materializations; this Redis holds none of them.
    data = _copy(world, tmp_path / "data")
    url = database
    redis.Redis.from_url(url).flushdb()
    with environment(_env(data, url)), pytest.raises(MaterializeError) as failure:
        materialize(start=None, end=None, incremental=True, views=None, engine="fast")
    message = str(failure.value)
    assert "session_state: 0 of" in message
    assert "without --incremental" in message
    assert {v.view: v.present for v in failure.value.summary.views} == dict.fromkeys(VIEWS, 0)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "recsys"), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_next_incremental_run_finishes_an_interrupted_materialization(
    world: World, database: str, tmp_path: Path
) -> None:
    data = _copy(world, tmp_path / "data")
    url = database
    client = redis.Redis.from_url(url)
    client.flushdb()
    env = _env(data, url)
    # A registry that never saw a materialization, as after the first build of a world.
    shutil.rmtree(data / "feast")
    with environment(env):
        feast_ops.apply()
    expected = _source_entities(data)

    # Small batches keep the run going long enough to stop it midway: once the first rows
    # land, Redis refuses further writes (CLIENT PAUSE WRITE) so that the kill hits a run that
    # has not finished, whatever the machine's speed.
    run = _cli(["materialize", "--batch-rows", "20"], env)
    try:
        deadline = time.monotonic() + 300
        while client.dbsize() == 0:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "materialize wrote nothing in 300 s"
            time.sleep(0.005)
        client.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        if run.poll() is None:
            run.kill()
    assert run.returncode == -signal.SIGKILL
    interrupted = _redis_entities(url)
    assert sum(interrupted.values()) < sum(expected.values()), interrupted

    resumed = _cli(["materialize", "--incremental"], env)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out + err
    assert _redis_entities(url) == expected
    assert "MISSING" not in out and "Redis holds" in out
    client.close()
