"""Point-in-time example sets on a tiny catalog with a fetcher that returns Feast-shaped rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.session import TYPE_CODE
from recsys.ranking.vectors import FeatureLayout
from tests.recsys.ranking.helpers import AS_OF, ITEM_FEATURES, tiny_catalog
from training.dataset import Queries, SessionLog, Window, build_examples, select_queries

DAY = 86_400


def _log(catalog) -> SessionLog:
    """Two sessions: s1 = a, b, a (one day after AS_OF); s2 = e, f (two days after)."""
    items = ["a", "b", "a", "e", "f"]
    start = AS_OF.timestamp()
    return SessionLog(
        session_ids=np.array(["s1", "s2"], object),
        user_ids=np.array(["u1", "u2"], object),
        offsets=np.array([0, 3, 5], np.int64),
        item_ids=np.array(items, object),
        items=catalog.indices_of(items),
        types=np.array(
            [TYPE_CODE["view"], TYPE_CODE["view"], TYPE_CODE["purchase"], 0, 0], np.int8
        ),
        times_s=np.array(
            [
                start + DAY + 10,
                start + DAY + 20,
                start + DAY + 30,
                start + 2 * DAY + 10,
                start + 2 * DAY + 20,
            ]
        ),
    )


def test_queries_start_after_each_event_and_label_the_next_one() -> None:
    catalog = tiny_catalog()
    window = Window("test", AS_OF, AS_OF.replace(year=2027))
    q = select_queries(
        _log(catalog),
        window,
        max_queries=100,
        max_positions_per_session=None,
        include_session_start=True,
        seed=1,
    )
    assert list(q.prefix_len) == [0, 1, 2, 0, 1]
    assert list(catalog.item_ids[q.target]) == ["a", "b", "a", "e", "f"]
    assert list(q.grade) == [1, 1, 3, 1, 1]  # purchase of the third event grades 3
    no_start = select_queries(
        _log(catalog),
        window,
        max_queries=100,
        max_positions_per_session=None,
        include_session_start=False,
        seed=1,
    )
    assert list(no_start.prefix_len) == [1, 2, 1]
    capped = select_queries(
        _log(catalog),
        window,
        max_queries=100,
        max_positions_per_session=1,
        include_session_start=True,
        seed=1,
    )
    assert list(np.bincount(capped.session)) == [1, 1]


def test_features_are_fetched_at_the_query_days_midnight_and_joined_back() -> None:
    catalog = tiny_catalog()
    layout = FeatureLayout(tuple(ITEM_FEATURES), ("events_total",))
    log = _log(catalog)
    window = Window("test", AS_OF, AS_OF.replace(year=2027))
    queries: Queries = select_queries(
        log,
        window,
        max_queries=100,
        max_positions_per_session=None,
        include_session_start=False,
        seed=1,
    )
    asked: list[tuple[str, float]] = []

    def fetch(entity: str, keys: np.ndarray, day_start_s: np.ndarray) -> pa.Table:
        # Feast hands back microsecond tz-aware timestamps, as here
        asked.extend((entity, float(d)) for d in day_start_s)
        key = f"{entity}_id"
        feature = "views_7d" if entity == "item" else "events_total"
        values = [float(len(str(k))) + d / DAY for k, d in zip(keys, day_start_s, strict=True)]
        extra = {"first_seen_epoch_s": [AS_OF.timestamp()] * len(keys)} if entity == "item" else {}
        return pa.table(
            {
                key: pa.array([str(k) for k in keys]),
                "event_timestamp": pa.array(
                    (np.asarray(day_start_s) * 1_000_000).astype("int64"),
                    pa.timestamp("us", tz="UTC"),
                ),
                feature: values,
                **extra,
            }
        )

    examples = build_examples(
        window,
        catalog=catalog,
        log=log,
        queries=queries,
        layout=layout,
        fetch=fetch,
        config=CandidateConfig(),
        drop_missing_targets=False,
    )
    midnights = {d for _, d in asked}
    # asked exactly at the midnight before each query (never later than the query itself)
    assert midnights == {float(np.floor(t / DAY) * DAY) for t in queries.time_s}
    col = examples.feature_names.index("item_views_7d")
    user_col = examples.feature_names.index("user_events_total")
    assert not np.isnan(examples.X[:, col]).any()  # every candidate got its row back
    assert not np.isnan(examples.X[:, user_col]).any()
    day_of_first = np.floor(queries.time_s[0] / DAY) * DAY
    assert examples.X[0, user_col] == len("u1") + day_of_first / DAY
