"""Compile every numba kernel once after installing: `python -m ops.warm` (run by `make setup`).

The request path's kernels (recsys.ranking.warm, which the server also calls at start-up),
batch scoring's top-k, the baselines' scorers and dbt's neighbour-list kernel. numba caches
the machine code beside each source, so later processes load it in about a second.
"""

from __future__ import annotations

import time

import duckdb
import numpy as np

from recsys.pipeline.neighbor_lists import PARTS, neighbor_lists
from recsys.ranking.session import SessionArrays
from recsys.ranking.warm import two_items
from recsys.ranking.warm import warm as warm_request_path
from serving.batch import best_per_user
from training import baselines


def warm() -> float:
    """Compile (or load) every kernel of the project; return the seconds it took."""
    started = time.perf_counter()
    warm_request_path()
    catalog = two_items()
    scores, items = np.array([1.0, 0.5]), np.array([0, 1], np.int32)
    best_per_user(scores, items, np.array([0, 2]), 2)
    session = SessionArrays(np.array([0, 1], np.int32), np.array([0, 1], np.int8), np.zeros(2))
    for current in (session, SessionArrays.empty()):
        for baseline in baselines.BASELINES.values():
            baseline(catalog, current, 2)
    _neighbour_lists()
    return time.perf_counter() - started


def _neighbour_lists() -> None:
    """dbt's item_neighbors kernel, on one pair of two items at two snapshots."""
    con = duckdb.connect()
    weights = ", ".join(f"1.0::double as {part}" for part in PARTS)
    at = "timestamptz '2026-01-01 00:00:00+00'"
    neighbor_lists(
        con,
        pairs=con.sql(
            f"select 1::integer as lo_item_key, 2::integer as hi_item_key, 0 as bucket,"
            f" {at} as first_paired_at, {at} as lo_hi_first_followed_at,"
            f" null::timestamptz as hi_lo_first_followed_at, {weights}"
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


if __name__ == "__main__":
    print(f"numba kernels ready in {warm():.1f} s")
