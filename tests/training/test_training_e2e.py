"""Training end to end on the session's small generated world (real DuckDB, dbt, Feast, Redis)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from recsys import model_check, registry
from recsys.contract import FEATURE_SERVICE
from recsys.pipeline.feast_ops import feature_store
from recsys.ranking.candidates import UserContext
from recsys.ranking.inputs import ranker_inputs
from recsys.ranking.loading import load_catalog
from recsys.ranking.ranker import load_ranker
from recsys.ranking.recommend import Moment, Scorer, recommend
from recsys.ranking.session import SessionArrays
from tests.world import SMALL_TRAIN, World, environment, train_model


def _copy(world: World, tmp_path: Path, *, models: bool = False) -> dict[str, str]:
    """A private copy of the world's data dir (registry and exports), models only if asked."""
    target = tmp_path / "data"
    skip = ("run",) if models else ("models", "run")
    shutil.copytree(world.data_dir, target, ignore=shutil.ignore_patterns(*skip), symlinks=True)
    return {**world.env, "RECSYS_DATA_DIR": str(target)}


def test_ranker_beats_every_baseline_on_the_test_window(world: World) -> None:
    metrics = json.loads((world.models / world.model_version / "metrics.json").read_text())
    overall = {row["method"]: row for row in metrics["overall"]}
    assert set(overall) == {
        "ranker",
        "repeat current item",
        "session popularity",
        "popularity",
        "covisitation",
        "sknn",
        "sr",
        "v-sknn (idf)",
        "stan",
        "vstan",
    }
    for metric in ("NDCG@10", "MRR@20"):
        best = max(overall[m][metric] for m in overall if m != "ranker")
        assert overall["ranker"][metric] > best, (metric, overall)
    recall = {row["query_set"]: row for row in metrics["candidate_recall"]}
    for row in recall.values():
        assert row["recall@50"] <= row["recall@100"] <= row["recall@300"] <= 1
    # per generator: the pool's row counts the k>=1 queries and matches candidate_recall;
    # a session baseline united with the pool never finds fewer than the pool
    per_generator = {row["generator"]: row for row in metrics["candidate_recall_per_generator"]}
    pool = per_generator["fused pool"]
    assert pool["recall@300"] == pytest.approx(recall["k>=1"]["recall@300"])
    assert {
        "covisitation",
        "sequential",
        "session-knn",
        "embedding",
        "sequential rules",
        "vstan (not a generator)",
    } <= set(per_generator)
    assert per_generator["sequential rules"]["recall@300"] > 0
    assert per_generator["vstan (not a generator)"]["pool+"] >= pool["recall@300"]


def test_figures_count_the_same_queries_and_carry_intervals(world: World) -> None:
    text = (world.models / world.model_version / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    metrics = json.loads(text)
    ranker = next(row for row in metrics["overall"] if row["method"] == "ranker")
    recall = {row["query_set"]: row for row in metrics["candidate_recall"]}
    assert set(recall) == set(metrics["query_sets"]) == {"k>=1", "k=0"}
    # The ranker reorders candidates: its HR@20 cannot exceed recall@300 on the same queries.
    assert recall[ranker["query_set"]]["queries"] == ranker["queries"]
    assert ranker["HR@20"] <= recall[ranker["query_set"]]["recall@300"]
    starts = [s for s in metrics["slices"] if s["slice"] == "session start (k=0)"]
    assert all(s["queries"] == recall["k=0"]["queries"] for s in starts)

    lift = metrics["lift_over_best_baseline"]
    assert lift["query_set"] == ranker["query_set"] and lift["queries"] == ranker["queries"]
    rows = {row["metric"]: row for row in lift["metrics"]}
    hr = rows["HR@20"]
    best = max((r for r in metrics["overall"] if r["method"] != "ranker"), key=lambda r: r["HR@20"])
    assert hr["best_baseline"] == best["method"]
    assert hr["lift"] == pytest.approx(ranker["HR@20"] / best["HR@20"] - 1)
    assert hr["ci95_low"] <= hr["value"] <= hr["ci95_high"]
    assert hr["lift_ci95_low"] <= hr["lift"] <= hr["lift_ci95_high"]
    report = (world.models / world.model_version / "report.html").read_text()
    assert "Ranker vs the best of all baselines" in report and "lift_ci95_low" in report


def test_a_version_records_what_it_was_built_from(world: World) -> None:
    folder = world.models / world.model_version
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["feature_service"] == FEATURE_SERVICE
    assert set(meta["data_windows"]) == {"train", "valid", "test"}
    assert meta["data_fingerprint"].split(":")[0].isdigit()
    assert meta["git_revision"]
    assert meta["params"]["objective"] == "lambdarank"
    assert meta["features"] and all(isinstance(f, str) for f in meta["features"])
    # training queries were down-sampled (validation and test were not), and the fit's
    # phases were timed: what `make bench-train` reads
    windows = meta["data_windows"]
    assert 0 < meta["train_rows_fitted"] < windows["train"]["rows"]
    assert meta["train_rows_fitted"] <= windows["train"]["queries"] * (
        meta["settings"]["train_keep_top"] + meta["settings"]["train_keep_random"] + 1
    )
    timings = meta["timings"]
    assert {
        "examples_train_s",
        "sample_s",
        "fit_s",
        "evaluate_ranker_s",
        "baselines_s",
        "compile_s",
        "total_s",
    } <= set(timings)
    assert timings["fit_dataset_s"] + timings["fit_boost_s"] <= timings["fit_s"]
    report = (folder / "report.html").read_text()
    assert report.count("<img") >= 4 and "sknn" in report
    assert registry.current_version(world.models) == world.model_version
    # sealed: compiled twin, probe batch and their hashes, and the check passes
    assert set(meta["integrity"]["sha256"]) == {"model.txt", "model.so", "probe.npz"}
    assert model_check.validate(folder).ok


def test_same_seed_gives_the_same_model(world: World, tmp_path: Path) -> None:
    tiny = replace(
        SMALL_TRAIN, max_train_queries=1_000, max_valid_queries=500, max_test_queries=300
    )
    with environment(_copy(world, tmp_path)):
        first = train_model(tiny)
        second = train_model(tiny)
        models = Path(tmp_path / "data" / "models")
    text = [(models / v / "model.txt").read_text() for v in (first, second)]
    assert first != second  # two registered versions...
    assert text[0] == text[1]  # ...with bit-identical trees


def test_promotion_gate_refuses_a_worse_model(world: World, tmp_path: Path) -> None:
    # the world's promoted model (trained with SMALL_TRAIN) is the one to beat
    with environment(_copy(world, tmp_path, models=True)):
        models = Path(tmp_path / "data" / "models")
        good = world.model_version
        assert registry.current_version(models) == good
        crippled = replace(
            SMALL_TRAIN,
            num_boost_round=1,
            params={**SMALL_TRAIN.params, "num_leaves": 2, "learning_rate": 0.01},
        )
        bad = train_model(crippled)
    meta = json.loads((models / bad / "metadata.json").read_text())
    assert not meta["promotion"]["promoted"]
    assert "not promoted" in meta["promotion"]["reason"] and good in meta["promotion"]["reason"]
    assert registry.current_version(models) == good  # current did not move
    assert bad in registry.versions(models)  # the refused version is still registered


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None, sql
    return row


def test_batch_recommendations_shape_and_counts(world: World) -> None:
    warehouse = world.data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        users, rows, bad_ranks, versions = _one(
            con,
            "select count(distinct user_id), count(*), "
            "count(*) filter (where rank < 1 or rank > 20), count(distinct model_version) "
            "from batch_recommendations",
        )
        gaps = _one(
            con,
            "select count(*) from (select user_id, max(rank) m, count(*) c "
            "from batch_recommendations group by user_id) where m != c",
        )[0]
        dupes = _one(
            con,
            "select count(*) from (select user_id, item_id from batch_recommendations "
            "group by all having count(*) > 1)",
        )[0]
        active = _one(
            con,
            "select count(distinct user_id) from fct_events "
            "where event_timestamp >= (select max(event_timestamp) from fct_events) "
            "- interval 30 days",
        )[0]
    assert users == active > 0
    assert rows == users * 20
    assert (bad_ranks, gaps, dupes, versions) == (0, 0, 0, 1)
    # the same lists reached Redis through Feast
    with environment(world.env):
        store = feature_store()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            user, expected = _one(
                con,
                "select user_id, list(item_id order by rank) from batch_recommendations "
                "group by user_id order by user_id limit 1",
            )
        online = store.get_online_features(
            features=["user_batch_recommendations:item_ids"], entity_rows=[{"user_id": user}]
        ).to_dict()
    assert online["item_ids"][0] == expected


@pytest.fixture(scope="module")
def scorer_and_catalog(world: World):
    with environment(world.env):
        inputs = ranker_inputs(feature_store(connect_redis=False), FEATURE_SERVICE)
        catalog = load_catalog(
            world.exports, snapshot="serving", item_feature_names=list(inputs.layout.item_features)
        )
    scorer = Scorer.bind(load_ranker(world.models / world.model_version), inputs.layout)
    return scorer, catalog


def _category_share(scorer: Scorer, catalog, category: str, probe: str) -> float:
    """Share of `category` in the top 10 after a session of five popular `probe` items."""
    code = catalog.category_code(probe)
    items = catalog.category_popular[code][:5]
    session = SessionArrays(
        items.astype(np.int32),
        np.zeros(5, np.int8),
        catalog.as_of.timestamp() - 300 + 60.0 * np.arange(5),
    )
    moment = Moment(
        session=session,
        user=UserContext.unknown(len(scorer.layout.user_features)),
        user_avg_price=float("nan"),
        now_s=float(session.times_s[-1]),
    )
    ranked = recommend(scorer, catalog, moment, k=10)
    target = catalog.category_code(category)
    return float(np.mean(catalog.category_codes[ranked.items] == target))


def test_a_session_in_one_category_ranks_that_category_higher(scorer_and_catalog) -> None:
    scorer, catalog = scorer_and_catalog
    popular_categories = [catalog.category_of(int(i)) for i in catalog.popular[:50]]
    first, second = [c for c in dict.fromkeys(popular_categories) if c][:2]
    assert _category_share(scorer, catalog, first, probe=first) >= 0.6
    assert _category_share(scorer, catalog, first, probe=first) > (
        _category_share(scorer, catalog, first, probe=second) + 0.3
    )
