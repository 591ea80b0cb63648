"""Run every variant on the test window and gather quality, cost and storage in one document.

Quality: training/tradeoffs.py answers each query as the variant would, the evaluation
protocol scores it, and a paired bootstrap over sessions (training/bootstrap.py) gives each
metric's 95% interval and its change against the reference (the hybrid served today).
Cost: the batch job's CPU per list comes from running the batch job's scorer
(serving/batch.py) on the users of the test window; the request path's CPU and wall time per
answer are measured while the variant answers, one request at a time in this process.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ops.tradeoffs import redis_bytes
from recsys.ranking.recommend import Scorer
from serving.batch import score_users
from training.bootstrap import lift_intervals
from training.evaluate import metrics
from training.tradeoffs import (
    BATCH_ONLY,
    HYBRID,
    BatchLists,
    TestSet,
    Variant,
    VariantRun,
    batch_requests,
    evaluate_variant,
)

SHOWN = ("HR@20", "MRR@20", "NDCG@10")
SCHEMA_VERSION = 1


def batch_lists(
    test_set: TestSet, age: int, scorer: Scorer, *, candidates_n: int = 300
) -> tuple[BatchLists, float, int]:
    """Run the batch job's scorer for every (user, day) of the test; (lists, CPU s, lists)."""
    users = batch_requests(test_set, age)
    lists: dict[tuple[str, int], np.ndarray] = {}
    if users.empty:
        return lists, 0.0, 0
    started = time.process_time()
    for ids, items, _ in score_users(
        users,
        catalog=test_set.inputs[age].catalog,
        scorer=scorer,
        k=20,
        candidates=candidates_n,
        workers=1,
    ):
        for key, row in zip(ids, items, strict=True):
            user, day = key.rsplit("|", 1)
            lists[(user, int(day))] = row[row >= 0]
    return lists, time.process_time() - started, len(users)


def measure(
    test_set: TestSet,
    variants: list[Variant],
    *,
    scorer: Scorer,
    sizes: dict[str, Any],
    resamples: int,
    seed: int,
    log_line: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every variant's quality with intervals, CPU, latency and Redis bytes: the report."""
    lists: dict[int, BatchLists] = {}
    batch_cpu_s, batch_users = 0.0, 0
    for age in sorted({v.feature_age_days for v in variants}):
        t0 = time.perf_counter()
        lists[age], cpu, n = batch_lists(test_set, age, scorer)
        if age == 0:
            batch_cpu_s, batch_users = cpu, n
        log_line(
            f"  batch lists, features {age} d older: {n:,} (user, day) lists "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    runs: list[VariantRun] = []
    for variant in variants:
        t0 = time.perf_counter()
        runs.append(
            evaluate_variant(
                test_set, variant, scorer=scorer, batch_lists=lists[variant.feature_age_days]
            )
        )
        log_line(f"  {variant.name}: {time.perf_counter() - t0:.1f} s")
    reference = next(r for r in runs if r.variant.name == HYBRID)
    batch_only = next(r for r in runs if r.variant.name == BATCH_ONLY)
    sessions = test_set.queries.session
    with_list = sum(
        (str(u), int(d)) in lists[0] for u, d in zip(test_set.user_ids, test_set.days, strict=True)
    )
    everything = np.ones(len(sessions), bool)
    queries = len(sessions)
    # a nightly list serves every request of its user that day: its CPU, spread over them
    batch_ms_per_1000 = batch_cpu_s * 1000 / max(queries, 1) * 1000
    rows = []
    for run in runs:
        other = batch_only if run is reference else reference
        intervals = lift_intervals(
            [run.result, other.result],
            sessions,
            everything,
            model=run.variant.name,
            resamples=resamples,
            seed=seed,
        )
        by_metric = {str(r["metric"]): r for r in intervals.to_dict("records")}
        values = metrics(run.result.ranks)
        uses_batch = run.variant.mode in ("batch", "hybrid", "rerank")
        request_ms = 0.0 if run.variant.mode == "batch" else run.cpu_s * 1000 / queries * 1000
        row: dict[str, Any] = {
            "variant": run.variant.name,
            "group": run.variant.group,
            "mode": run.variant.mode,
            "feature_age_days": run.variant.feature_age_days,
            "catalog_age_days": round(
                test_set.inputs[run.variant.feature_age_days].catalog_age_days, 3
            ),
            "session_delay_s": run.variant.session_delay_s,
            "queries": queries,
            "queries_with_batch_list": run.with_batch_list,
            "metrics": {},
            "cpu_ms_per_1000": {
                "request_path": round(request_ms, 3),
                "batch_job": round(batch_ms_per_1000 if uses_batch else 0.0, 3),
                "total": round(request_ms + (batch_ms_per_1000 if uses_batch else 0.0), 3),
            },
            "latency_ms": {
                "p50": round(float(np.percentile(run.latency_ms, 50)), 4),
                "p99": round(float(np.percentile(run.latency_ms, 99)), 4),
            },
            "redis_bytes_per_user": redis_bytes.per_variant(run.variant.mode, sizes),
        }
        for m in SHOWN:
            r = by_metric[m]
            row["metrics"][m] = {
                "value": values[m],
                "ci95": [float(r["ci95_low"]), float(r["ci95_high"])],
                # change against the reference (the reference itself: against batch only)
                "change": float(r["lift"]),
                "change_ci95": [float(r["lift_ci95_low"]), float(r["lift_ci95_high"])],
                "change_against": other.variant.name,
            }
        rows.append(row)
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "model_version": scorer.ranker.version,
        "protocol": "next item at every position k>=1 of the test window's sessions, full "
        "catalogue, top 20 (training/evaluate.py)",
        "test_window": {
            "starts_at": test_set.window.starts_at.isoformat(),
            "ends_at": test_set.window.ends_at.isoformat(),
            "queries": queries,
            "sessions": len(np.unique(sessions)),
            "queries_with_batch_list": int(with_list),
        },
        "reference": HYBRID,
        "confidence_intervals": f"95% paired bootstrap over sessions, {resamples} resamples, "
        f"seed {seed}",
        "cost_notes": {
            "request_path": "process CPU of computing one answer in this process (candidates, "
            "features, ranker), one request at a time; the Redis read and HTTP are not in it",
            "batch_job": f"the batch job's CPU ({batch_cpu_s:.2f} s for {batch_users:,} "
            f"(user, day) lists) spread over the {queries:,} requests they served",
            "latency": "wall time of computing one answer in this process (what the user "
            "waits for on top of the Redis read and the network); batch only: a list lookup. "
            "The Redis read itself is in redis_bytes.read_ms (p50/p99 of one pipelined read "
            "of user, batch list and session; of the batch list alone for batch only)",
        },
        "batch_job": {
            "lists": batch_users,
            "cpu_s": round(batch_cpu_s, 4),
            "cpu_ms_per_list": round(batch_cpu_s * 1000 / max(batch_users, 1), 4),
        },
        "redis_bytes": sizes,
        "variants": rows,
    }


def write(doc: dict[str, Any], out: Path) -> dict[str, Path]:
    """tradeoffs.json and report.html under `out`; return their paths."""
    from ops.tradeoffs.page import render
    from training.train import strict_json

    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "tradeoffs.json", "html": out / "report.html"}
    files["json"].write_text(strict_json(doc))
    files["html"].write_text(render(doc))
    return files
