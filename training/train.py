"""`recsys train`: training set via Feast -> LightGBM ranker -> evaluation -> registry.

Steps (each a function below): read the split, build the three windows' example sets,
fit with early stopping on validation, evaluate the ranker and the baselines on test with
one protocol, write the report, register the version, and promote it if it is at least as
good as the current model on the same test queries.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd

from recsys import export_sets, model_check, registry
from recsys.config import git_revision, paths
from recsys.contract import FEATURE_SERVICE
from recsys.monitoring import reference as monitoring_reference
from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.catalog import Catalog
from recsys.ranking.loading import load_catalog
from recsys.ranking.ranker import METADATA_FILE, load_ranker
from recsys.ranking.vectors import FeatureLayout
from training.alongside import Alongside
from training.baselines import session_baselines
from training.bootstrap import RESAMPLES, lift_intervals
from training.dataset import (
    ExampleSet,
    FeatureFetcher,
    SessionLog,
    Window,
    build_examples,
    load_session_log,
    load_windows,
    select_queries,
)
from training.evaluate import (
    IN_SESSION,
    METRICS,
    QUERY_SETS,
    MethodResult,
    baseline_results,
    candidate_recall,
    metrics,
    query_masks,
    ranker_result,
    report_tables,
)
from training.generator_recall import generator_recall
from training.params import TrainSettings
from training.progress import PhaseClock, count_progress, round_progress
from training.sampling import sample_candidates
from training.session_baselines import load_history

PROMOTION_METRIC = "NDCG@10"


@dataclass
class WindowData:
    """Everything built for one window."""

    window: Window
    catalog: Catalog
    log: SessionLog
    examples: ExampleSet


@dataclass
class TrainOutcome:
    version: str
    model_dir: Path
    tables: dict[str, pd.DataFrame]
    recall: pd.DataFrame  # one row per query set
    per_generator: pd.DataFrame  # candidate recall@300 per generator (generator_recall.py)
    lift: pd.DataFrame  # one row per metric: ranker and lift over the best baseline, 95% CIs
    decision: registry.Decision
    timings: dict[str, float]


def build_window(
    window: Window,
    *,
    exports: Path,
    layout: FeatureLayout,
    fetch: FeatureFetcher,
    settings: TrainSettings,
    max_queries: int,
    training: bool,
    log_line: Any = print,
) -> WindowData:
    """Catalog, sessions, queries and examples of one window."""
    catalog = load_catalog(
        exports, snapshot=window.name, item_feature_names=list(layout.item_features)
    )
    log = load_session_log(exports, window, catalog)
    queries = select_queries(
        log,
        window,
        max_queries=max_queries,
        max_positions_per_session=settings.max_positions_per_session if training else None,
        include_session_start=True,
        seed=settings.seed,
    )
    examples = build_examples(
        window,
        catalog=catalog,
        log=log,
        queries=queries,
        layout=layout,
        fetch=fetch,
        config=CandidateConfig(n=settings.candidates),
        drop_missing_targets=training,
        progress=count_progress(len(queries), f"{window.name} queries", log_line=log_line),
    )
    log_line(
        f"  {window.name:5s} {_span(window)}: "
        f"{len(log.session_ids):,} sessions, {len(queries):,} queries, "
        f"{len(examples.queries):,} kept, {len(examples.X):,} rows"
    )
    return WindowData(window, catalog, log, examples)


def bin_training(
    train: ExampleSet, settings: TrainSettings, *, log_line: Any = print
) -> tuple[lgb.Dataset, float]:
    """Bin the training matrix into LightGBM's Dataset (the first part of the fit).

    Returns the constructed Dataset (the validation set's bin reference) and its seconds.
    """
    if len(train.group) == 0:
        raise ValueError(
            "the train window produced no query whose next item is among the candidates; "
            "the data set is too small or too sparse to train on (see `recsys train` output)"
        )
    params = dict(settings.params)
    t0 = time.perf_counter()
    log_line(f"  binning {len(train.X):,} training rows ({train.X.shape[1]} features) ...")
    dtrain = lgb.Dataset(
        train.X,
        label=train.label,
        group=train.group,
        feature_name=train.feature_names,
        free_raw_data=True,
        params={**params, "verbose": -1},
    )
    dtrain.construct()
    return dtrain, time.perf_counter() - t0


def fit(
    dtrain: lgb.Dataset,
    valid: ExampleSet,
    settings: TrainSettings,
    *,
    timings: dict[str, float] | None = None,
    log_line: Any = print,
) -> lgb.Booster:
    """Train the LambdaRank model on `bin_training`'s Dataset, early-stopping on validation
    NDCG@10.

    Binning the matrices into LightGBM's Dataset is part of the fit (LightGBM's own work on
    the matrix); `timings` gets `fit_dataset_s` (the validation set's binning, added to what
    is there) and `fit_boost_s` when given.
    """
    params = dict(settings.params)
    t0 = time.perf_counter()
    callbacks: list[Any] = []
    valid_sets = []
    if len(valid.group):
        log_line(f"  binning {len(valid.X):,} validation rows ...")
        dvalid = lgb.Dataset(
            valid.X,
            label=valid.label,
            group=valid.group,
            reference=dtrain,
            feature_name=valid.feature_names,
            params={**params, "verbose": -1},
        )
        dvalid.construct()
        valid_sets = [dvalid]
        callbacks.append(
            lgb.early_stopping(
                settings.early_stopping_rounds, first_metric_only=True, verbose=False
            )
        )
    binned = time.perf_counter()
    log_line(f"  binned in {binned - t0:.1f} s; boosting (early stopping on validation NDCG@10)")
    # created now, so the rounds' elapsed time and ETA leave the binning out
    callbacks.append(round_progress(settings.num_boost_round, log_line=log_line))
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=settings.num_boost_round,
        valid_sets=valid_sets,
        valid_names=["valid"][: len(valid_sets)],
        callbacks=callbacks,
    )
    if timings is not None:
        timings["fit_dataset_s"] = timings.get("fit_dataset_s", 0.0) + binned - t0
        timings["fit_boost_s"] = time.perf_counter() - binned
    return booster


def data_fingerprint(exports: Path) -> str:
    """A digest of the clean events the run saw (count, time range, content hash)."""
    path = exports / "fct_events.parquet"
    with duckdb.connect() as con:
        row = con.execute(
            "select count(*), min(event_timestamp), max(event_timestamp), "
            "bit_xor(hash(event_id, item_id, event_timestamp)) "
            f"from read_parquet('{path}')"
        ).fetchone()
    count, first, last, digest = row if row else (0, None, None, None)
    return f"{count}:{first}:{last}:{digest:x}" if digest is not None else f"{count}:empty"


def run(
    *,
    settings: TrainSettings,
    layout: FeatureLayout,
    fetch: FeatureFetcher,
    feature_refs: list[str],
    log_line: Any = print,
) -> TrainOutcome:
    """Run the whole training job; return what it produced and whether it was promoted."""
    clock = PhaseClock(log_line=log_line)
    layout_paths = paths()
    # the folder behind the exports link, once: a build published meanwhile cannot mix in
    exports = export_sets.resolve(layout_paths.exports)
    started = time.perf_counter()
    windows = load_windows(exports)
    log_line("Building point-in-time example sets:")
    caps = {
        "train": settings.max_train_queries,
        "valid": settings.max_valid_queries,
        "test": settings.max_test_queries,
    }

    def build(name: str) -> WindowData:
        return build_window(
            windows[name],
            exports=exports,
            layout=layout,
            fetch=fetch,
            settings=settings,
            max_queries=caps[name],
            training=name != "test",
            log_line=log_line,
        )

    def held_out() -> tuple[dict[str, WindowData], dict[str, float]]:
        built, seconds = {}, {}
        for name in ("valid", "test"):
            window_started = time.perf_counter()
            built[name] = build(name)
            seconds[f"examples_{name}_s"] = time.perf_counter() - window_started
        return built, seconds

    # Each window is single-threaded Python: with a second core, the held-out windows are
    # built in a forked child while this process builds the training window.
    side = Alongside(held_out)
    if side.forked:
        log_line("  (validation and test windows are built alongside, in a second process)")
    with clock.phase("examples_train_s"):
        data = {"train": build("train")}
    train_examples = data["train"].examples
    if _samples(settings):
        with clock.phase("sample_s"):
            train_examples = sample_candidates(
                train_examples,
                top=settings.train_keep_top,
                random=settings.train_keep_random,
                seed=settings.seed,
            )
        log_line(
            f"  train negatives sampled: {len(train_examples.X):,} of "
            f"{len(data['train'].examples.X):,} rows kept (every positive, the first "
            f"{settings.train_keep_top} candidates, {settings.train_keep_random} of the rest)"
        )
    # The training matrix is binned while the held-out windows are still being built: it
    # needs nothing from them, and this process's core would otherwise wait. It is part of
    # the fit (fit_s and fit_dataset_s count it), only no longer on the critical path.
    fit_parts: dict[str, float] = {}
    with clock.phase("fit_s", "Binning the training matrix (LightGBM; the fit's first part)"):
        dtrain, fit_parts["fit_dataset_s"] = bin_training(
            train_examples, settings, log_line=log_line
        )
    with clock.phase("examples_held_out_wait_s"):
        held, held_seconds = side.result()
    data.update(held)
    with clock.phase("fit_s", "Fitting the LambdaRank ranker (LightGBM)"):
        booster = fit(
            dtrain, data["valid"].examples, settings, timings=fit_parts, log_line=log_line
        )
    log_line(f"Trained {booster.num_trees()} trees (best iteration {booster.best_iteration}).")

    test = data["test"]
    model_text = booster.model_to_string(num_iteration=booster.best_iteration or None)
    # The baselines and the recall per generator need no model and are single-threaded, like
    # compiling the model: on a second core they run in a forked child meanwhile.
    log_line(
        f"Evaluating on {len(test.examples.queries):,} test queries and compiling the model "
        "(baselines and recall per generator alongside)"
    )
    model_free = Alongside(lambda: _without_model(test, exports))
    with clock.phase("evaluate_ranker_s"):
        scores = np.asarray(
            booster.predict(test.examples.X, num_iteration=booster.best_iteration or None)
        )
        results = [ranker_result(test.examples, scores)]
        recall = candidate_recall(test.examples)
    scratch_dirs = contextlib.ExitStack()
    with clock.phase("compile_s"):
        scratch = Path(scratch_dirs.enter_context(model_check.scratch_dir()))
        # compiled twin, probe batch and hashes: what `recsys promote` and the server check
        sealed, integrity = model_check.seal(model_text, test.examples.X, scratch)
    with clock.phase("baselines_wait_s"):
        baselines, per_generator, side_seconds = model_free.result()
    results += baselines
    tables = report_tables(results, test.examples, test.catalog)
    with clock.phase("bootstrap_s"):
        in_session = query_masks(test.examples)[IN_SESSION]
        sessions = test.examples.queries["session"].to_numpy()
        gains = lift_intervals(results, sessions, in_session, seed=settings.seed)

    version = _version_name(exports)
    window_text = f"test window {_span(test.window)}"
    ranker_metrics = metrics(results[0].ranks[in_session])
    with clock.phase("gate_s"):
        current_metrics, current = _current_on(test.examples, layout_paths.models)
    decision = registry.gate(
        new=ranker_metrics,
        current=current_metrics,
        current_version=current,
        metric=PROMOTION_METRIC,
        window=window_text,
    )
    # what metadata.json records: every phase up to the gate (registering comes after)
    timings = {
        **clock.seconds,
        **held_seconds,
        **side_seconds,
        **fit_parts,
        "total_s": time.perf_counter() - started,
    }

    importance = dict(
        zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True)
    )
    metric_doc = {
        "protocol": "next-item prediction over the full catalogue; every table row names its "
        "query set",
        "query_sets": QUERY_SETS,
        "overall": tables["overall"].to_dict("records"),
        "slices": tables["slices"].to_dict("records"),
        "by_session_length": tables["by_length"].to_dict("records"),
        "candidate_recall": recall.to_dict("records"),
        "candidate_recall_per_generator": per_generator.to_dict("records"),
        "lift_over_best_baseline": {
            "query_set": IN_SESSION,
            "queries": int(in_session.sum()),
            "sessions": len(np.unique(sessions[in_session])),
            "best_baseline": "the best of all baselines per metric",
            "confidence_intervals": f"95% paired bootstrap over sessions, {RESAMPLES} "
            f"resamples, seed {settings.seed}",
            "metrics": gains.to_dict("records"),
        },
        "feature_importance_gain": importance,
    }
    metadata = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "features": booster.feature_name(),
        "feature_service": FEATURE_SERVICE,
        "feature_refs": feature_refs,
        "params": settings.params,
        "num_boost_round": settings.num_boost_round,
        "best_iteration": booster.best_iteration,
        "settings": {k: v for k, v in asdict(settings).items() if k != "params"},
        "data_windows": {
            name: {
                "starts_at": d.window.starts_at.isoformat(),
                "ends_at": d.window.ends_at.isoformat(),
                "queries": len(d.examples.queries),
                "rows": len(d.examples.X),
            }
            for name, d in data.items()
        },
        "train_rows_fitted": len(train_examples.X),
        "data_fingerprint": data_fingerprint(exports),
        "git_revision": git_revision(),
        "test_metrics": ranker_metrics,
        "promotion": {"promoted": decision.promoted, "reason": decision.reason},
        "timings": timings,
    }
    from training.report import render_html

    # What drift compares served vectors with (recsys/monitoring/reference.py). The
    # validation window has every candidate per query, as the server has; the training set's
    # negatives are sampled.
    reference_set = data["valid"].examples
    reference_json = monitoring_reference.build(
        X=reference_set.X,
        group=reference_set.group,
        feature_names=reference_set.feature_names,
        predict=lambda x: booster.predict(x, num_iteration=booster.best_iteration or None),
        seed=settings.seed,
    ).to_json()
    metadata[model_check.INTEGRITY_KEY] = integrity
    with clock.phase("register_s", "Registering the model"), scratch_dirs:
        model_dir = registry.write_version(
            layout_paths.models,
            version,
            {
                **sealed,
                METADATA_FILE: strict_json(metadata),
                "metrics.json": strict_json(metric_doc),
                monitoring_reference.FILE_NAME: reference_json,
                "report.html": render_html(metadata=metadata, metric_doc=metric_doc, tables=tables),
            },
        )
    if decision.promoted:
        with clock.phase("promote_s", "Checking the sealed model in a fresh process"):
            check = model_check.validate(model_dir)
        if check.ok:
            registry.promote(layout_paths.models, version)
        else:
            decision = registry.Decision(False, f"not promoted: {check.reason}")
    log_line(f"Time per phase: {clock.breakdown()}")
    timings = {
        **clock.seconds,
        **held_seconds,
        **side_seconds,
        **fit_parts,
        "total_s": time.perf_counter() - started,
    }
    return TrainOutcome(version, model_dir, tables, recall, per_generator, gains, decision, timings)


def _without_model(
    test: WindowData, exports: Path
) -> tuple[list[MethodResult], pd.DataFrame, dict[str, float]]:
    """The test window's baselines and recall per generator, with the seconds each took."""
    seconds = {}
    started = time.perf_counter()
    history = load_history(exports, test.catalog)
    session_methods = session_baselines(history, test.catalog.size)
    baselines = baseline_results(test.examples, test.log, test.catalog, session_methods)
    seconds["baselines_s"] = time.perf_counter() - started
    started = time.perf_counter()
    per_generator = generator_recall(test.examples, test.log, test.catalog, extra=session_methods)
    seconds["generator_recall_s"] = time.perf_counter() - started
    return baselines, per_generator, seconds


def _samples(settings: TrainSettings) -> bool:
    """Whether training queries are down-sampled (see TrainSettings.train_keep_top)."""
    kept = settings.train_keep_top + settings.train_keep_random
    return 0 < kept < settings.candidates


def strict_json(document: Any) -> str:
    """JSON any parser reads: NaN and infinities (a metric of no queries) become null."""
    return json.dumps(_finite(document), indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _current_on(examples: ExampleSet, models: Path) -> tuple[dict[str, float] | None, str | None]:
    """Score the current model on the same test queries (None if it cannot be)."""
    current = registry.current_dir(models)
    if current is None:
        return None, None
    if not model_check.validate(current).ok:  # a broken current model must not crash training
        return None, current.name
    try:
        ranker = load_ranker(current, compile_model=False)
        columns = [examples.feature_names.index(f) for f in ranker.features]
    except (FileNotFoundError, ValueError, KeyError):
        return None, current.name
    scores = ranker.booster.predict(examples.X[:, columns])
    result = ranker_result(examples, np.asarray(scores))
    mask = examples.queries["prefix_len"].to_numpy() >= 1
    return metrics(result.ranks[mask]), current.name


def _span(window: Window) -> str:
    return f"{window.starts_at:%Y-%m-%d %H:%M} .. {window.ends_at:%Y-%m-%d %H:%M}"


def _version_name(exports: Path) -> str:
    import hashlib

    digest = hashlib.sha256(data_fingerprint(exports).encode()).hexdigest()[:6]
    return f"v{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest}"


def summary_table(outcome: TrainOutcome) -> str:
    """The terminal table: metrics per method, candidate recall, lift and the promotion."""
    overall = outcome.tables["overall"].copy()
    columns = ["method", "query_set", "queries", *METRICS, "coverage"]
    lines = [f"query sets: {'; '.join(f'{k} = {v}' for k, v in QUERY_SETS.items())}"]
    lines.append(overall[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    lines.append("\ncandidate recall (true next item among the first N candidates):")
    lines.append(outcome.recall.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    lines.append(
        "\nper generator (k>=1; only = found by no other generator; pool+ = the fused pool "
        "united with that list):"
    )
    lines.append(
        outcome.per_generator.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    )
    lines.append(f"\nranker vs the best of all baselines ({IN_SESSION}, 95% CI over sessions):")
    lines.append(format_lift(outcome.lift))
    slices = outcome.tables["slices"]
    lines += sorted(
        {f"note: {r['slice']}: {r['note']}" for r in slices.to_dict("records") if r["note"]}
    )
    lines.append(f"model {outcome.version}: {outcome.decision.reason}")
    lines.append(f"report: {outcome.model_dir / 'report.html'}")
    return "\n".join(lines)


def format_lift(lift: pd.DataFrame) -> str:
    """One line per metric: the ranker with its interval, the best baseline, the lift."""
    lines = []
    for r in lift.to_dict("records"):
        lines.append(
            f"  {r['metric']:<8} ranker {r['value']:.4f} [{r['ci95_low']:.4f}, "
            f"{r['ci95_high']:.4f}]  best baseline {r['best_baseline']} "
            f"{r['best_baseline_value']:.4f}  lift {r['lift']:+.1%} "
            f"[{r['lift_ci95_low']:+.1%}, {r['lift_ci95_high']:+.1%}]  {r['verdict']}"
        )
    return "\n".join(lines)
