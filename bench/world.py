"""A generated world for the benchmarks: built by the CLI into a data dir, on a given Redis.

    ingest generate -> features -> train -> batch-score

`prepare_world` builds it once into a folder (marked with the spec it was built from) and, on
later runs with the same spec, only re-materializes it into the new Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from recsys.config import REPO_ROOT, feast_env

WORLD_MARKER = "bench-world.json"
# The world `make soak` and `make contract` share (small: the traffic, not the data, matters).
SMALL_WORLD = {"events": 60_000, "seed": 13, "max_train_queries": 4_000, "max_test_queries": 1_500}


class WorldError(RuntimeError):
    """A CLI step failed, or the folder holds something else."""


def cli_env(redis_url: str, data_dir: Path) -> dict[str, str]:
    """What `recsys env` prints for this data dir and Redis, on top of our own environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RECSYS_WAREHOUSE", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        RECSYS_DATA_DIR=str(data_dir),
        REDIS_URL=redis_url,
        **feast_env(redis_url),
    )
    return env


def run_cli(args: list[str], env: dict[str, str], log: Path) -> None:
    """Run `recsys <args>` (python -m ops) with its output appended to `log`."""
    print(f"  recsys {' '.join(args)}", flush=True)
    started = time.perf_counter()
    with log.open("ab") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "ops", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise WorldError(f"`recsys {' '.join(args)}` exited with code {done.returncode}:\n{tail}")
    print(f"    {time.perf_counter() - started:.0f} s", flush=True)


def prepare_world(spec: dict[str, Any], reuse: bool, env: dict[str, str], log: Path) -> bool:
    """Build the world of `spec` into RECSYS_DATA_DIR, or reuse an earlier build of it.

    `spec` holds events, seed, max_train_queries and max_test_queries. Returns True when an
    earlier build was reused.
    """
    data_dir = Path(env["RECSYS_DATA_DIR"])
    marker = data_dir / WORLD_MARKER
    if reuse and marker.exists():
        built = json.loads(marker.read_text())
        if built != spec:
            raise WorldError(
                f"{marker}: the world there was built with {built}, this run needs "
                f"{spec}; delete {data_dir} or pass another --world"
            )
        print(f"reusing the world in {data_dir}; materializing it into this run's Redis")
        run_cli(["materialize"], env, log)
        return True
    if data_dir.exists() and any(data_dir.iterdir()):
        raise WorldError(
            f"--world {data_dir}: the folder is not empty and holds no {WORLD_MARKER}; "
            "pass a new or empty folder"
        )
    print(f"building a world of {spec['events']:,} events in {data_dir}")
    train = [
        "--max-train-queries",
        str(spec["max_train_queries"]),
        "--max-test-queries",
        str(spec["max_test_queries"]),
    ]
    for step in (
        ["ingest", "generate", "--events", str(spec["events"]), "--seed", str(spec["seed"])],
        ["features"],
        ["train", *train],
        ["batch-score"],
    ):
        run_cli(step, env, log)
    marker.write_text(json.dumps(spec))
    return False
