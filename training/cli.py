"""`recsys train`: the training job's command (registered by the top-level CLI in ops/)."""

from __future__ import annotations

from typing import Any

import typer


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

    from recsys.contract import FEATURE_SERVICE
    from recsys.pipeline.feast_ops import feature_store, sync_sources
    from recsys.ranking.inputs import ranker_inputs
    from training import train as training_job
    from training.features import historical_fetcher
    from training.params import TrainSettings

    settings = TrainSettings(seed=seed)
    if max_train_queries:
        settings = replace(settings, max_train_queries=max_train_queries)
    if max_test_queries:
        settings = replace(settings, max_test_queries=max_test_queries)
    settings.params["seed"] = seed
    settings.params.update(parse_params(param or []))
    store = feature_store(connect_redis=False)
    for line in sync_sources(store):  # a copied data dir: read its own files, not the old ones
        print(f"source moved, view re-registered: {line}")
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
