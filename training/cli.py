"""`recsys train`: the training job's command (registered by the top-level CLI in ops/)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from training.params import TrainSettings
    from training.train import TrainOutcome


def train(
    max_train_queries: int | None = typer.Option(None, help="Cap on training queries."),
    max_test_queries: int | None = typer.Option(None, help="Cap on test queries."),
    seed: int = typer.Option(42, help="Seed for sampling and LightGBM."),
    param: list[str] | None = typer.Option(
        None, help="Set a LightGBM parameter (repeatable), e.g. --param num_leaves=63."
    ),
    train_keep_top: int | None = typer.Option(
        None,
        help="Negative sampling: candidates kept from the head of each training query's list "
        "(default in training/params.py; every positive is always kept).",
    ),
    train_keep_random: int | None = typer.Option(
        None,
        help="Negative sampling: candidates drawn at random from the rest of each training "
        "query's list. --train-keep-top 0 --train-keep-random 0 trains on every candidate.",
    ),
) -> None:
    """Build a training set through Feast, train the ranker, evaluate, register, promote."""
    import sys

    # lightgbm imports scikit-learn when it is installed (2-3 s on 2 cores) for its sklearn
    # API, which training does not use; this process never needs it.
    if "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # import -> ImportError
    settings = settings_from_options(
        max_train_queries=max_train_queries,
        max_test_queries=max_test_queries,
        seed=seed,
        param=param or [],
        train_keep_top=train_keep_top,
        train_keep_random=train_keep_random,
    )
    outcome = run_training(settings)
    from training import train as training_job

    print(training_job.summary_table(outcome))


def run_training(settings: TrainSettings, *, log_line: Any = None) -> TrainOutcome:
    """Load the feature store and run the training job (`recsys train`, `recsys nightly`)."""
    import functools
    import time

    log_line = log_line or functools.partial(print, flush=True)
    started = time.perf_counter()
    log_line("Loading the feature store (Feast) ...")
    from recsys.contract import FEATURE_SERVICE
    from recsys.pipeline.feast_ops import feature_store, sync_sources
    from recsys.ranking.inputs import ranker_inputs
    from training import train as training_job
    from training.features import historical_fetcher

    store = feature_store(connect_redis=False)
    for line in sync_sources(store):  # a copied data dir: read its own files, not the old ones
        log_line(f"source moved, view re-registered: {line}")
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    log_line(f"  feature store loaded: {time.perf_counter() - started:.1f} s")
    return training_job.run(
        settings=settings,
        layout=inputs.layout,
        fetch=historical_fetcher(store, inputs),
        feature_refs=inputs.refs,
        log_line=log_line,
    )


def settings_from_options(
    *,
    max_train_queries: int | None,
    max_test_queries: int | None,
    seed: int,
    param: list[str],
    train_keep_top: int | None,
    train_keep_random: int | None,
) -> TrainSettings:
    """The run's settings: training/params.py defaults with the command's options applied."""
    from dataclasses import replace

    from training.params import TrainSettings

    settings = TrainSettings(seed=seed)
    overrides: dict[str, Any] = {
        "max_train_queries": max_train_queries or None,  # 0 keeps the default, as before
        "max_test_queries": max_test_queries or None,
        "train_keep_top": train_keep_top,
        "train_keep_random": train_keep_random,
    }
    for name, value in overrides.items():
        if value is not None and value < 0:
            raise typer.BadParameter(f"--{name.replace('_', '-')} {value}: expected >= 0")
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    settings.params["seed"] = seed
    settings.params.update(parse_params(param))
    return settings


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
