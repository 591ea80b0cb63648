"""A 30-second soak: real 2-worker server, real Redis killed and restarted, a model promoted.

`make soak` runs the same code for 5 minutes and records the figures in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.soak import DurableRedis, run
from bench.world import cli_env, run_cli
from tests.world import World


def test_a_short_soak_has_no_server_errors_and_loses_no_landed_event(
    world: World, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(
        world.data_dir, data_dir, symlinks=True, ignore=shutil.ignore_patterns("run", "served")
    )
    redis = DurableRedis(tmp_path / "redis")
    try:
        run_cli(["materialize"], cli_env(redis.url, data_dir), tmp_path / "cli.log")
        results = run(
            data_dir=data_dir,
            redis=redis,
            seconds=30,
            root=tmp_path,
            threads=3,
            rate=8.0,
            outage_seconds=3.0,
        )
    finally:
        redis.kill()
    print(json.dumps(results, indent=2))
    assert results["requests"] > 200, results
    assert results["server_errors"] == 0, results["error_examples"]
    assert results["transport_errors"] == 0, results["error_examples"]
    assert results["events_accepted"] > 50
    assert results["events_landed"] == results["events_accepted"]
    assert results["events_landed_twice"] == 0
    assert len(results["timeline"]) == 3  # killed, restarted, promoted
    assert results["promoted_served_after_s"] is not None, results  # picked up, no restart
    # Atomic session updates and the replay of events landed during the outage: every
    # accepted event reaches its session, even those taken while Redis was down.
    assert results["events_in_session"] == results["events_accepted"], results
