"""`recsys tradeoffs` (and `make tradeoffs`): the command around ops/tradeoffs/run.py."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import typer


def tradeoffs(
    max_queries: int = typer.Option(
        3000, help="Test queries (whole sessions are sampled; every position of each is asked)."
    ),
    resamples: int = typer.Option(1000, help="Bootstrap resamples of the 95% intervals."),
    seed: int = typer.Option(42, help="Seed of the query sample and the bootstrap."),
    out: Path | None = typer.Option(
        None, help="Output folder (default <data dir>/reports/tradeoffs)."
    ),
) -> None:
    """Batch, online or both? Quality vs freshness vs cost of each way of answering."""
    from recsys.config import paths

    folder = out or paths().reports / "tradeoffs"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "tradeoffs.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        doc = _run(
            max_queries=max_queries,
            resamples=resamples,
            seed=seed,
            log_line=_logger(log_file),
        )
    from ops.tradeoffs.page import conclusion, table
    from ops.tradeoffs.run import write

    files = write(doc, folder)
    print(table(doc))
    print()
    for sentence in conclusion(doc):
        print(f"- {sentence}")
    print(f"\nreport: {files['html']}\njson:   {files['json']}\nlog:    {log_path}")


def _logger(log_file: TextIO) -> Callable[[str], None]:
    started = time.perf_counter()

    def log_line(text: str) -> None:
        line = f"[{time.perf_counter() - started:6.1f} s] {text}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    return log_line


def _run(
    *, max_queries: int, resamples: int, seed: int, log_line: Callable[[str], None]
) -> dict[str, Any]:
    from ops.tradeoffs import redis_bytes
    from ops.tradeoffs.run import measure
    from recsys import registry
    from recsys.config import paths
    from recsys.contract import FEATURE_SERVICE
    from recsys.pipeline.feast_ops import feature_store
    from recsys.ranking.inputs import ranker_inputs
    from recsys.ranking.ranker import load_ranker
    from recsys.ranking.recommend import Scorer
    from recsys.ranking.warm import warm
    from training.features import historical_fetcher
    from training.tradeoffs import load_test_set, standard_variants

    layout = paths()
    model_dir = registry.current_dir(layout.models)
    if model_dir is None:
        print(f"No current model in {layout.models}: run `make train` first.", file=sys.stderr)
        raise typer.Exit(1)
    log_line("Loading the feature store (Feast) and the current model ...")
    store = feature_store(connect_redis=False)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    scorer = Scorer.bind(load_ranker(model_dir), inputs.layout)
    warm()  # numba kernels compiled before anything is timed
    variants = standard_variants()
    log_line(f"Test window: sampling up to {max_queries:,} queries; catalogs and user rows:")
    test_set = load_test_set(
        layout.exports,
        layout=inputs.layout,
        fetch=historical_fetcher(store, inputs),
        max_queries=max_queries,
        ages=tuple(sorted({v.feature_age_days for v in variants})),
        seed=seed,
        log_line=log_line,
    )
    url = os.environ.get("REDIS_URL")
    if url:
        log_line("Redis bytes per user (sampled from the online store) ...")
        sessions = test_set.base.log.session_ids[test_set.queries.session]
        users, session_ids = [str(u) for u in test_set.user_ids], [str(s) for s in sessions]
        sizes = redis_bytes.view_bytes(store, url, users, session_ids)
        sizes["read_ms"] = redis_bytes.read_latency(store, url, users, session_ids)
    else:
        sizes = {"note": "REDIS_URL unset: Redis bytes not measured"}
    log_line(f"Answering {len(test_set.queries):,} queries with each of {len(variants)} variants:")
    return measure(
        test_set,
        variants,
        scorer=scorer,
        sizes=sizes,
        resamples=resamples,
        seed=seed,
        log_line=log_line,
    )
