import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd
import pytest

from recsys.ranking.catalog import Catalog
from recsys.ranking.session import SessionArrays
from training import baselines
from training.bootstrap import lift_intervals
from training.dataset import ExampleSet, Window
from training.evaluate import (
    IN_SESSION,
    QUERY_SETS,
    SESSION_START,
    MethodResult,
    candidate_recall,
    metrics,
    rank_in,
    report_tables,
)
from training.train import strict_json


def test_metrics_on_known_ranks() -> None:
    ranks = np.array([1, 2, 11, 0])  # 0 = not in the top 20
    m = metrics(ranks)
    assert m["HR@10"] == pytest.approx(2 / 4)
    assert m["HR@20"] == pytest.approx(3 / 4)
    assert m["MRR@20"] == pytest.approx((1 + 1 / 2 + 1 / 11) / 4)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / np.log2(3)) / 4)
    assert m["NDCG@20"] == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(12)) / 4)


def test_rank_in_is_one_based_and_zero_when_absent() -> None:
    top = np.array([7, 3, 9])
    assert rank_in(top, 3) == 2
    assert rank_in(top, 4) == 0
    assert rank_in(top, -1) == 0


# --- query sets, baselines, intervals, strict JSON (issue 19 items 3-5, issue 13 item 9) -----


def _examples(prefix: list[int], targets: list[int], candidates: list[list[int]]) -> ExampleSet:
    """An ExampleSet with just what evaluation reads: queries, candidates, groups."""
    queries = pd.DataFrame(
        {
            "session": np.arange(len(prefix)) // 2,
            "prefix_len": prefix,
            "target": targets,
            "user_is_known": np.zeros(len(prefix), bool),
        }
    )
    window = Window("test", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    flat = np.array([c for cands in candidates for c in cands], np.int32)
    return ExampleSet(
        window=window,
        feature_names=[],
        X=np.zeros((len(flat), 0), np.float32),
        label=np.zeros(len(flat), np.int8),
        group=np.array([len(c) for c in candidates], np.int32),
        candidates=flat,
        queries=queries,
    )


def test_candidate_recall_counts_the_query_sets_apart() -> None:
    # Two in-session queries whose next item is a candidate, two session starts whose is not:
    # over all four queries recall would read .5, below the in-session hit rate it bounds.
    examples = _examples([1, 2, 0, 0], [5, 6, 7, 8], [[5, 1], [1, 6], [1, 2], [3, 4]])
    recall = candidate_recall(examples, sizes=(1, 2)).set_index("query_set")
    assert recall.loc[IN_SESSION, "queries"] == 2
    assert recall.loc[IN_SESSION, "recall@1"] == pytest.approx(0.5)
    assert recall.loc[IN_SESSION, "recall@2"] == pytest.approx(1.0)
    assert recall.loc[SESSION_START, "queries"] == 2
    assert recall.loc[SESSION_START, "recall@2"] == pytest.approx(0.0)
    assert set(QUERY_SETS) == {IN_SESSION, SESSION_START}


def test_every_table_row_names_its_query_set_and_flags_an_all_cold_slice() -> None:
    examples = _examples([1, 2, 0, 0], [5, 6, 7, 8], [[5, 1], [1, 6], [1, 2], [3, 4]])
    catalog = cast(Catalog, SimpleNamespace(known=np.ones(10, bool)))
    ranks = np.array([1, 2, 0, 0], np.int32)
    empty = np.zeros(0, np.int32)
    result = MethodResult("ranker", ranks, [np.array([5]), np.array([1, 6]), empty, empty])
    tables = report_tables([result], examples, catalog)
    for table in tables.values():
        assert "query_set" in table.columns and "queries" in table.columns
    slices = tables["slices"].set_index("slice")
    assert slices.loc["session start (k=0)", "query_set"] == SESSION_START
    # No user is known: the cold-start slice is every in-session query, and says so.
    assert slices.loc["cold-start users", "queries"] == 2
    assert "every k>=1 query" in str(slices.loc["cold-start users", "note"])
    assert slices.loc["returning users", "note"] == ""


def _session(items: list[int]) -> SessionArrays:
    n = len(items)
    return SessionArrays(np.array(items, np.int32), np.zeros(n, np.int8), np.arange(n, dtype=float))


def test_repeat_and_session_popularity_baselines() -> None:
    catalog = cast(Catalog, None)  # neither baseline looks beyond the session
    session = _session([3, 5, 3, 7, 5])
    assert baselines.repeat_current(catalog, session, 20).tolist() == [5]
    # 3 and 5 twice each, 5 the more recent; then 7.
    assert baselines.session_popularity(catalog, session, 20).tolist() == [5, 3, 7]
    assert baselines.session_popularity(catalog, session, 2).tolist() == [5, 3]
    assert baselines.repeat_current(catalog, _session([4, -1]), 20).tolist() == []
    assert baselines.session_popularity(catalog, SessionArrays.empty(), 20).tolist() == []
    assert {"repeat current item", "session popularity"} <= set(baselines.BASELINES)


def _result(name: str, hits: list[int]) -> MethodResult:
    return MethodResult(name, np.array(hits, np.int32), [])


def test_lift_is_against_the_best_of_all_baselines_with_paired_intervals() -> None:
    sessions = np.repeat(np.arange(50), 4)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, len(sessions))  # 1 = hit at rank 1, 0 = miss
    repeat = _result("repeat current item", base.tolist())
    weaker = _result("sknn", (base * rng.integers(0, 2, len(sessions))).tolist())
    everywhere = np.ones(len(sessions), bool)

    same = lift_intervals([_result("ranker", base.tolist()), weaker, repeat], sessions, everywhere)
    hr = same.set_index("metric").loc["HR@20"]
    assert hr["best_baseline"] == "repeat current item"
    # Paired: a ranker identical to the best baseline has lift 0 in every resample.
    assert (hr["lift"], hr["lift_ci95_low"], hr["lift_ci95_high"]) == (0.0, 0.0, 0.0)
    assert hr["verdict"] == "within noise"
    assert hr["ci95_low"] <= hr["value"] <= hr["ci95_high"]

    better = np.maximum(base, np.arange(len(sessions)) % 4 == 0).astype(int)
    ahead = lift_intervals([_result("ranker", better.tolist()), repeat], sessions, everywhere)
    row = ahead.set_index("metric").loc["HR@20"]
    assert row["lift_ci95_low"] > 0 and row["verdict"] == "ahead"
    again = lift_intervals([_result("ranker", better.tolist()), repeat], sessions, everywhere)
    pd.testing.assert_frame_equal(ahead, again)  # seeded


def test_metrics_json_is_strict_json() -> None:
    document = {"slices": [{"HR@20": float("nan"), "n": np.int64(3)}], "x": np.float32("inf")}
    text = strict_json(document)

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    parsed = json.loads(text, parse_constant=refuse)
    assert parsed == {"slices": [{"HR@20": None, "n": 3}], "x": None}
