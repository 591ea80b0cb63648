"""`recsys train | batch-score | promote | serve`: the jobs after the feature pipeline."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import typer

from training.config import paths


def train(
    max_train_queries: int | None = typer.Option(None, help="Cap on training queries."),
    max_test_queries: int | None = typer.Option(None, help="Cap on test queries."),
    seed: int = typer.Option(42, help="Seed for sampling and LightGBM."),
    param: list[str] | None = typer.Option(
        None, help="Set a LightGBM parameter (repeatable), e.g. --param num_leaves=63."
    ),
) -> None:
    """Build a training set through Feast, train the ranker, evaluate, register, promote."""
    from dataclasses import replace

    from training import train as training_job
    from training.features import historical_fetcher, ranker_inputs
    from training.params import FEATURE_SERVICE, TrainSettings
    from training.pipeline.feast_ops import feature_store

    settings = TrainSettings(seed=seed)
    if max_train_queries:
        settings = replace(settings, max_train_queries=max_train_queries)
    if max_test_queries:
        settings = replace(settings, max_test_queries=max_test_queries)
    settings.params["seed"] = seed
    settings.params.update(parse_params(param or []))
    store = feature_store(connect_redis=False)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    outcome = training_job.run(
        settings=settings,
        layout=inputs.layout,
        fetch=historical_fetcher(store, inputs),
        feature_refs=inputs.refs,
    )
    print(training_job.summary_table(outcome))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """Turn `key=value` strings into typed LightGBM parameters (JSON values, else strings)."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"--param {pair!r}: expected key=value, e.g. num_leaves=63")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def batch_score(
    k: int = typer.Option(20, help="Recommendations per user."),
    candidates: int = typer.Option(300, help="Candidates scored per user."),
    active_days: int = typer.Option(30, help="Users with an event in this many days are active."),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), help="Scoring processes."),
    materialize: bool = typer.Option(True, help="Also load the results into Redis via Feast."),
) -> None:
    """Score every active user (no session); write to DuckDB and Redis."""
    from tqdm import tqdm

    from training import registry
    from training.batch_score import run_batch
    from training.core.loading import load_catalog
    from training.core.ranker import load_ranker
    from training.core.recommend import Scorer
    from training.features import ranker_inputs
    from training.params import FEATURE_SERVICE
    from training.pipeline.feast_ops import feature_store

    layout_paths = paths()
    model_dir = registry.current_dir(layout_paths.models)
    if model_dir is None:
        print("No promoted model: run `make train` first.", file=sys.stderr)
        raise typer.Exit(1)
    store = feature_store(connect_redis=materialize)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    catalog = load_catalog(
        layout_paths.exports,
        snapshot="serving",
        item_feature_names=list(inputs.layout.item_features),
    )
    scorer = Scorer.bind(load_ranker(model_dir), inputs.layout)
    result = run_batch(
        exports=layout_paths.exports,
        warehouse=layout_paths.warehouse,
        catalog=catalog,
        scorer=scorer,
        k=k,
        candidates=candidates,
        active_days=active_days,
        workers=workers,
        progress_factory=lambda total: tqdm(total=total, unit="user", desc="batch scoring"),
    )
    print(
        f"Scored {result.users:,} active users ({result.rows:,} recommendations) with model "
        f"{result.model_version} in {result.seconds:.1f} s: {result.users_per_second:,.0f} users/s."
    )
    print(f"  warehouse table batch_recommendations in {layout_paths.warehouse}")
    if materialize:
        from training.pipeline import materialize as mat

        summary = mat.materialize(
            start=None,
            end=None,
            incremental=False,
            views=["user_batch_recommendations"],
            engine="fast",
        )
        print(mat.format_summary(summary))


def promote(version: str = typer.Argument(..., help="Version folder under data/models.")) -> None:
    """Point `current` at a model version by hand (skips the promotion gate)."""
    from training import registry

    models = paths().models
    if version not in registry.versions(models):
        known = ", ".join(registry.versions(models)[-5:]) or "none"
        print(f"No model version {version!r} in {models} (latest: {known}).", file=sys.stderr)
        raise typer.Exit(1)
    registry.promote(models, version)
    print(f"current -> {version}")


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, help="Worker processes (use 2 on 2 cores for throughput)."),
) -> None:
    """Start the API and the try-it page (uses our own Redis if none answers at REDIS_URL)."""
    import uvicorn

    from training.config import export_data_dir_env
    from training.redis_runtime import ensure_redis

    export_data_dir_env()
    ensure_redis()
    if workers > 1:
        metrics_dir = paths().run / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROCESS_DIR"] = str(metrics_dir)
    print(f"Serving on http://{host}:{port}  (API docs at /docs)")
    uvicorn.run(
        "serving.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    """Add the job commands to the top-level CLI."""
    from training.demo import demo

    commands: list[tuple[str, Any]] = [
        ("train", train),
        ("batch-score", batch_score),
        ("promote", promote),
        ("serve", serve),
        ("demo", demo),
    ]
    for name, command in commands:
        app.command(name)(command)
