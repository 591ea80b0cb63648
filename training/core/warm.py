"""Compile the numba kernels ahead of use: `python -m training.core.warm`.

numba compiles a kernel on its first call and caches the machine code beside the source
(`__pycache__`), keyed by the source file. A first compile of all of them takes about 30 s on
these machines and a cached load about a second, so `make setup` runs this once after
installing, and the server and batch scoring call `warm()` before their first request or
fork. Calls go through the real code paths on a two-item catalog, so the argument types
compiled are exactly those of production.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from training import baselines
from training.batch_score import best_per_user
from training.core.candidates import UserContext, generate
from training.core.catalog import Catalog, build_catalog
from training.core.session import SessionArrays, session_features
from training.core.users import user_context
from training.core.vectors import FeatureLayout, assemble
from training.pipeline.neighbor_lists import bucket_columns, neighbor_lists


def warm() -> float:
    """Compile (or load from numba's cache) every kernel; return the seconds it took."""
    started = time.perf_counter()
    catalog = _two_items()
    layout = FeatureLayout(("views_7d", "first_seen_epoch_s"), ("events_total",))
    user = user_context(
        {
            "events_total": 3,
            "recent_item_ids": ["a"],
            "top_categories": ["x"],
            "top_category_shares": [1.0],
        },
        catalog,
        layout.user_features,
    )
    session = SessionArrays(np.array([0, 1], np.int32), np.array([0, 1], np.int8), np.zeros(2))
    for current, person in ((session, user), (SessionArrays.empty(), UserContext.unknown(1))):
        cands = generate(
            catalog,
            current,
            person,
            exclude=np.array([1], np.int32),
            include=np.array([0], np.int32),
            categories=np.array([0], np.int32),
        )
        cands = generate(catalog, current, person)
        X = assemble(
            layout,
            catalog,
            cands,
            item_rows=catalog.item_features[cands.items],
            user=person,
            session=current,
            session_row=session_features(current),
            now_s=catalog.as_of.timestamp(),
            user_avg_price=1.0,
        )
        best_per_user(X[:, 0].astype(np.float64), cands.items, np.array([0, len(cands)]), 2)
        for baseline in baselines.BASELINES.values():
            baseline(catalog, current, 2)
    _neighbour_lists()
    return time.perf_counter() - started


def _neighbour_lists() -> None:
    """dbt's item_neighbors kernel, on one pair of two items at two snapshots."""
    con = duckdb.connect()
    buckets = ", ".join(f"1.0::double as {name}" for name in bucket_columns(2))
    at = "timestamptz '2026-01-01 00:00:00+00'"
    neighbor_lists(
        con,
        pairs=con.sql(
            f"select 1::integer as lo_item_key, 2::integer as hi_item_key, {at} as first_paired_at,"
            f" {at} as lo_hi_first_followed_at, null::timestamptz as hi_lo_first_followed_at,"
            f" {buckets}"
        ),
        items=con.sql("select * from (values ('a', 1), ('b', 2)) as t(item_id, item_key)"),
        snapshots=con.sql(
            "select * from (values ('train', timestamptz '2026-01-02 00:00:00+00', 0),"
            " ('serving', timestamptz '2026-01-03 00:00:00+00', 1))"
            " as t(snapshot_name, snapshot_at, snapshot_index)"
        ),
        top_k=2,
        half_life_days=30.0,
    )


def _two_items() -> Catalog:
    as_of = datetime(2026, 1, 2, tzinfo=UTC)
    ended = pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC"))
    return build_catalog(
        as_of=as_of,
        items=pa.table({"item_id": ["a", "b"], "category": ["x", None], "price": [1.0, None]}),
        neighbors=pa.table(
            {
                "item_id": ["a"],
                "covis_item_ids": [["b"]],
                "covis_scores": [[1.0]],
                "seq_item_ids": [["b"]],
                "seq_scores": [[1.0]],
            }
        ),
        popularity=pa.table(
            {"item_id": ["a", "b"], "decayed_score": [2.0, 1.0], "events_1d": [1.0, 0.0]}
        ),
        session_items=pa.table(
            {"session_id": ["s", "s"], "item_id": ["a", "b"], "session_ended_at": ended}
        ),
        item_features=pa.table(
            {"item_id": ["a", "b"], "views_7d": [1.0, 2.0], "first_seen_epoch_s": [0.0, 0.0]}
        ),
        item_feature_names=["views_7d", "first_seen_epoch_s"],
    )


if __name__ == "__main__":
    print(f"numba kernels ready in {warm():.1f} s")
