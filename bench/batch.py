"""`make bench-batch`: batch scoring throughput (users/s, 300 candidates each) on 2 cores.

Builds a generated world in a temporary data dir with its own Redis (never the machine's),
trains a model, then times `run_batch` with our compiled ranker and, as the peer in the same
run, with LightGBM's own `predict` (the same job without compilation).

Usage: python -m bench.batch [--events 500000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.results import record
from recsys.redis_runtime import start_redis

TARGET_USERS_PER_S = 2000


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "ops", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


def _time_batch(*, compiled: bool, workers: int) -> dict[str, Any]:
    from recsys import registry
    from recsys.config import paths
    from recsys.contract import FEATURE_SERVICE
    from recsys.pipeline.feast_ops import feature_store
    from recsys.ranking.inputs import ranker_inputs
    from recsys.ranking.loading import load_catalog
    from recsys.ranking.ranker import load_ranker
    from recsys.ranking.recommend import Scorer
    from serving.batch import run_batch

    layout = paths()
    inputs = ranker_inputs(feature_store(connect_redis=False), FEATURE_SERVICE)
    catalog = load_catalog(
        layout.exports, snapshot="serving", item_feature_names=list(inputs.layout.item_features)
    )
    model_dir = registry.current_dir(layout.models)
    assert model_dir is not None
    scorer = Scorer.bind(load_ranker(model_dir, compile_model=compiled), inputs.layout)
    result = run_batch(
        exports=layout.exports,
        warehouse=layout.warehouse,
        catalog=catalog,
        scorer=scorer,
        k=20,
        candidates=300,
        active_days=30,
        workers=workers,
    )
    return {
        "users": result.users,
        "seconds": result.seconds,
        "users_per_s": result.users_per_second,
    }


def main() -> None:
    """Build the world, time the batch job both ways, record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recsys-bench-batch-") as tmp:
        root = Path(tmp)
        server = start_redis(root / "redis")
        env = {**os.environ, "RECSYS_DATA_DIR": str(root / "data"), "REDIS_URL": server.url}
        try:
            print(f"building a world of {args.events:,} generated events in {root} ...", flush=True)
            _cli(env, "ingest", "generate", "--events", str(args.events), "--seed", "3")
            _cli(env, "features")
            _cli(env, "train", "--max-train-queries", "20000", "--max-test-queries", "3000")
            os.environ.update({k: env[k] for k in ("RECSYS_DATA_DIR", "REDIS_URL")})
            rows = []
            for label, compiled in (
                ("ours (lleaves-compiled ranker)", True),
                ("peer: LightGBM predict", False),
            ):
                runs = [_time_batch(compiled=compiled, workers=2) for _ in range(args.repeats)]
                rates = sorted(r["users_per_s"] for r in runs)
                rows.append(
                    {
                        "scorer": label,
                        "users": runs[0]["users"],
                        "workers": 2,
                        "candidates": 300,
                        "runs": args.repeats,
                        "median_users_per_s": round(statistics.median(rates)),
                        "min_users_per_s": round(rates[0]),
                        "median_s": round(statistics.median(r["seconds"] for r in runs), 2),
                    }
                )
                print(rows[-1], flush=True)
        finally:
            server.stop()
    peer = rows[1]
    for row in rows:
        row["ratio_vs_peer"] = round(row["median_users_per_s"] / peer["median_users_per_s"], 2)
    record(
        "batch",
        title="Batch scoring: every active user, 300 candidates each, top 20",
        command="make bench-batch",
        columns=[
            "scorer",
            "users",
            "workers",
            "candidates",
            "runs",
            "median_users_per_s",
            "min_users_per_s",
            "median_s",
            "ratio_vs_peer",
        ],
        rows=rows,
        notes=(
            f"Target: >= {TARGET_USERS_PER_S:,} users/s on 2 cores. Timed: candidates, features, "
            "scoring and writing both outputs (warehouse table and Feast source Parquet), not "
            "the Redis load. Peer: the same job with LightGBM's own predict instead of the "
            f"compiled model. World: {args.events:,} generated events."
        ),
    )


if __name__ == "__main__":
    main()
