"""`make bench-train`: `recsys train` end to end next to LightGBM's own fit, in the same runs.

Builds the demo's world (what `make demo` generates: 300,000 events, seed 7) in a temporary
data dir with its own Redis (never the machine's), then runs `recsys train` with the demo's
arguments `--runs` times, each as a first training (no current model, as in a fresh clone).
Per run: the wall time of the whole command (interpreter start to exit) and LightGBM's own
fit on the run's matrix (Dataset binning + boosting, timed inside the same process and
recorded in the model's metadata.json), so the ratio compares like with like.

Usage: python -m bench.train [--events 300000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import record
from bench.world import cli_env, run_cli
from recsys.redis_runtime import start_redis

TARGET_FIT_S = 60.0
TARGET_RATIO = 2.0
# what ops/demo.py passes to `recsys train`
DEMO_TRAIN_ARGS = ["--max-train-queries", "15000", "--max-test-queries", "5000"]
PHASES = [
    ("examples_train_s", "examples: train window"),
    ("examples_valid_s", "examples: valid window"),
    ("examples_test_s", "examples: test window"),
    ("sample_s", "negative sampling"),
    ("examples_held_out_wait_s", "waiting for the held-out windows"),
    ("fit_dataset_s", "LightGBM: binning (Dataset)"),
    ("fit_boost_s", "LightGBM: boosting"),
    ("evaluate_ranker_s", "evaluation of the ranker"),
    ("compile_s", "compiling + sealing the model"),
    ("baselines_s", "baselines (alongside, 2nd core)"),
    ("generator_recall_s", "candidate recall per generator (alongside)"),
    ("baselines_wait_s", "waiting for the baselines"),
    ("bootstrap_s", "bootstrap intervals"),
]


def _train_once(env: dict[str, str], models: Path, log: Path) -> dict[str, Any]:
    """One `recsys train` as a first training: wall time, its phases, its test metrics."""
    shutil.rmtree(models, ignore_errors=True)
    started = time.perf_counter()
    run_cli(["train", *DEMO_TRAIN_ARGS], env, log)
    wall = time.perf_counter() - started
    (version,) = [p for p in models.iterdir() if p.is_dir() and p.name.startswith("v")]
    metadata = json.loads((version / "metadata.json").read_text())
    timings = metadata["timings"]
    return {
        "end_to_end_s": wall,
        "fit_s": timings["fit_s"],
        "phases": timings,
        "best_iteration": metadata["best_iteration"],
        "rows": metadata["train_rows_fitted"],
        "ndcg10": metadata["test_metrics"]["NDCG@10"],
    }


def _row(measure: str, values: list[float], fit: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {
        "measure": measure,
        "runs": len(values),
        "median_s": round(median, 1),
        "p99_s": round(float(np.percentile(values, 99)), 1),
        "max_s": round(max(values), 1),
        "share_of_fit": round(median / statistics.median(fit), 2),
    }


def main() -> None:
    """Build the demo world, train on it `--runs` times, record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recsys-bench-train-") as tmp:
        root = Path(tmp)
        server = start_redis(root / "redis")
        env = cli_env(server.url, root / "data")
        env.pop("RECSYS_START_REDIS", None)
        log = root / "bench-train.log"
        try:
            print(f"building the demo world ({args.events:,} events) in {root} ...", flush=True)
            run_cli(
                [
                    *("ingest", "generate", "--events", str(args.events), "--seed", "7"),
                    *("--dirty-fraction", "0.001"),
                ],
                env,
                log,
            )
            run_cli(["features"], env, log)
            runs = []
            for n in range(args.runs):
                runs.append(_train_once(env, root / "data" / "models", log))
                last = runs[-1]
                print(
                    f"run {n + 1}/{args.runs}: recsys train {last['end_to_end_s']:.1f} s, "
                    f"LightGBM fit {last['fit_s']:.1f} s, ratio "
                    f"{last['end_to_end_s'] / last['fit_s']:.2f}, NDCG@10 {last['ndcg10']:.4f}",
                    flush=True,
                )
        finally:
            server.stop()
    fit = [r["fit_s"] for r in runs]
    rows = [
        _row("recsys train, end to end", [r["end_to_end_s"] for r in runs], fit),
        _row("LightGBM fit on the same matrix", fit, fit),
    ]
    rows += [
        _row(f"  phase: {label}", [r["phases"].get(key, 0.0) for r in runs], fit)
        for key, label in PHASES
    ]
    rest = [r["end_to_end_s"] - r["phases"]["total_s"] for r in runs]
    rows.append(_row("  phase: start-up, Feast, registering + checking the model", rest, fit))
    ratios = [r["end_to_end_s"] / r["fit_s"] for r in runs]
    summary = {
        "median_ratio": round(statistics.median(ratios), 2),
        "max_ratio": round(max(ratios), 2),
        "train_rows": runs[0]["rows"],
        "best_iteration": runs[0]["best_iteration"],
        "test_ndcg10": round(runs[0]["ndcg10"], 4),
    }
    print(summary, flush=True)
    record(
        "train",
        title="Training: `recsys train` end to end vs LightGBM's own fit (demo world)",
        command="make bench-train",
        columns=["measure", "runs", "median_s", "p99_s", "max_s", "share_of_fit"],
        rows=rows,
        notes=(
            f"Targets: LightGBM fit <= {TARGET_FIT_S:.0f} s and end to end <= "
            f"{TARGET_RATIO:g}x the fit. End to end / fit per run: median "
            f"{summary['median_ratio']}, max {summary['max_ratio']}. World: `make demo`'s "
            f"({args.events:,} events, seed 7); `recsys train {' '.join(DEMO_TRAIN_ARGS)}`, "
            f"each run a first training (no current model). Fit = LightGBM Dataset binning + "
            f"boosting with early stopping on {summary['train_rows']:,} sampled training rows "
            f"(best iteration {summary['best_iteration']}, test NDCG@10 "
            f"{summary['test_ndcg10']}), timed inside the run. End to end includes starting "
            "Python and Feast, building the three windows' example sets, evaluation, "
            "compiling and checking the model. The validation and test windows are built in a "
            "second process while this one builds the training window, samples its negatives "
            "and bins it (counted in the fit). p99 over a few runs is their maximum."
        ),
    )


if __name__ == "__main__":
    main()
