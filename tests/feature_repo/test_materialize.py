"""Materialize into a real Redis: the fast engine against stock Feast, windows, increments, push."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from feast import FeatureStore
from feast.data_source import PushMode

from recsys.pipeline import feast_ops
from recsys.pipeline.materialize import MaterializeSummary, format_summary, materialize
from tests.feature_repo.conftest import FeastRepo
from tests.feature_repo.exports import (
    SESSION_ROWS,
    T0,
    USER_ROWS,
    WINDOW_END,
    WINDOW_START,
    session_row,
    user_row,
)

# Stock Feast reads sources through ibis, which calls a DuckDB method DuckDB deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")

LOADED_VIEWS = ["item_features", "item_neighbors", "session_state", "user_features"]


@pytest.fixture(scope="module")
def store(feast_repo: FeastRepo) -> FeatureStore:
    return feast_ops.feature_store()


def _run(store: FeatureStore, engine: str = "fast", **options: Any) -> MaterializeSummary:
    options.setdefault("start", WINDOW_START)
    options.setdefault("end", WINDOW_END)
    options.setdefault("incremental", False)
    options.setdefault("views", None)
    return materialize(engine=engine, store=store, **options)


def _online(store: FeatureStore, view: str, key: str, ids: list[str]) -> dict[str, list[Any]]:
    refs = [f"{view}:{f.name}" for f in store.get_feature_view(view).features]
    return store.get_online_features(features=refs, entity_rows=[{key: i} for i in ids]).to_dict()


def _same(online: Any, offline: Any) -> bool:
    """Equal, where a null online value matches a null or NaN offline one (Feast stores NaN
    as null)."""
    if online is None:
        return offline is None or (isinstance(offline, float) and math.isnan(offline))
    return bool(online == offline)


def test_fast_engine_writes_the_bytes_stock_feast_writes(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    feast_repo.client.flushdb()
    stock = _run(store, engine="feast")
    by_feast = feast_repo.dump()
    feast_repo.client.flushdb()
    fast = _run(store, engine="fast")
    by_fast = feast_repo.dump()

    # users u1, u2, u4, u5 + items i1, i2, i3 + neighbours of i1, i2 (same keys) + s1, s2
    assert len(by_feast) == 4 + 3 + 2
    assert by_fast == by_feast
    assert [v.rows for v in fast.views] == [v.rows for v in stock.views]
    skipped = {v.view: v.skipped for v in fast.views if v.skipped}
    assert list(skipped) == ["user_batch_recommendations"]
    assert "batch_recommendations.parquet does not exist yet" in format_summary(fast)


def test_online_features_are_the_latest_row_inside_the_window(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    feast_repo.client.flushdb()
    _run(store, views=["user_features"])
    users = ["u1", "u2", "u3", "u4", "u5"]
    online = _online(store, "user_features", "user_id", users)
    for i, user in enumerate(users):
        days = [d for u, d in USER_ROWS if u == user and 0 <= d <= 10]
        expected = user_row(user, max(days)) if days else None
        for name, values in online.items():
            if name == "user_id":
                continue
            want = expected[name] if expected else None
            assert _same(values[i], want), (user, name, values[i], want)
    # u2's row at day 12 lies after the window: its day-1 value stays.
    assert online["events_total"][users.index("u2")] == 2001


def test_materializing_twice_leaves_redis_as_it_was(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    feast_repo.client.flushdb()
    first = _run(store)
    before = feast_repo.dump()
    again = _run(store)
    assert feast_repo.dump() == before
    assert [v.unchanged for v in again.views] == [v.rows for v in first.views]


def test_incremental_runs_continue_from_the_recorded_end_across_engines(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    feast_repo.client.flushdb()
    _run(store, views=["user_features"])
    recorded = store.get_feature_view("user_features").materialization_intervals[-1]
    assert recorded == (WINDOW_START, WINDOW_END)

    later = WINDOW_END + timedelta(days=5)
    ours = _run(store, start=None, end=later, incremental=True, views=["user_features"])
    assert (ours.views[0].start, ours.views[0].end) == (WINDOW_END, later)
    # Both bounds are inclusive, as in Feast: u4's row at WINDOW_END is read again but is not
    # newer than what Redis holds, so only u2's day-12 row is written.
    assert (ours.views[0].rows, ours.views[0].unchanged) == (2, 1)
    assert _online(store, "user_features", "user_id", ["u2"])["events_total"] == [2012]

    # Stock Feast continues from the end our engine recorded.
    store.materialize_incremental(
        end_date=later + timedelta(days=1), feature_views=["user_features"]
    )
    intervals = store.get_feature_view("user_features").materialization_intervals
    assert intervals[-1] == (later, later + timedelta(days=1))


def test_a_push_updates_the_session_features(feast_repo: FeastRepo, store: FeatureStore) -> None:
    feast_repo.client.flushdb()
    _run(store, views=["session_state"])
    assert _online(store, "session_state", "session_id", ["s1"])["item_ids"] == [["i1", "i2", "i1"]]

    newer = session_row(
        "s1", SESSION_ROWS[0]["event_timestamp"] + timedelta(minutes=2), ["i1", "i2", "i1", "i7"]
    )
    store.push("session_events_push", pd.DataFrame([newer]), to=PushMode.ONLINE)
    online = _online(store, "session_state", "session_id", ["s1"])
    assert online["item_ids"] == [["i1", "i2", "i1", "i7"]]
    assert online["event_count"] == [4]
    assert online["event_times_ms"] == [newer["event_times_ms"]]

    # The export is older than the push: materializing it again must not undo the push.
    again = _run(store, views=["session_state"])
    assert again.views[0].unchanged >= 1
    assert _online(store, "session_state", "session_id", ["s1"])["event_count"] == [4]


def test_a_missing_feature_column_names_file_view_and_column(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    import pyarrow.parquet as pq

    path = feast_repo.data_dir / "exports" / "item_features.parquet"
    table = pq.read_table(path)
    try:
        pq.write_table(table.drop_columns(["trend_7d"]), path)
        with pytest.raises(ValueError, match=r"item_features\.parquet: columns \['trend_7d'\]"):
            _run(store, views=["item_features"])
    finally:
        pq.write_table(table, path)


def test_unknown_view_and_engine_are_refused(store: FeatureStore) -> None:
    with pytest.raises(ValueError, match=r"\['nope'\] are not registered"):
        _run(store, views=["nope"])
    with pytest.raises(ValueError, match="expected one of fast, feast"):
        _run(store, engine="spark")


def test_rows_before_t0_exist_so_the_window_start_matters() -> None:
    # Guards the fixtures: the window tests above rely on rows on both sides of it.
    assert any(d < 0 for _, d in USER_ROWS) and any(d > 10 for _, d in USER_ROWS)
    assert WINDOW_START == T0
