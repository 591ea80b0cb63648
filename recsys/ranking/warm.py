"""Compile (or load from numba's cache) the request path's kernels before the first request.

numba compiles a kernel on its first call and caches the machine code beside the source
(`__pycache__`), keyed by the source file: a first compile takes tens of seconds here, a cached
load about a second. The server calls `warm()` at start-up and `make setup` (ops/warm.py) once
after installing. Calls go through the real code paths on a two-item catalog, so the argument
types compiled are exactly those of production.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from recsys.ranking import catalog_files
from recsys.ranking.candidates import UserContext, generate
from recsys.ranking.catalog import Catalog, build_catalog
from recsys.ranking.session import SessionArrays, session_features
from recsys.ranking.users import user_context
from recsys.ranking.vectors import FeatureLayout, assemble


def warm() -> float:
    """Compile (or load from numba's cache) every kernel; return the seconds it took."""
    started = time.perf_counter()
    # the kernels are compiled per argument type, and a mapped catalog's arrays are read-only
    # (another type to numba than the writable arrays of an in-memory one): warm both
    with tempfile.TemporaryDirectory() as folder:
        mapped = catalog_files.read_catalog(
            catalog_files.write_catalog(two_items(), Path(folder) / "v-warm")
        )
    for catalog in (two_items(), mapped):
        _run_kernels(catalog)
    return time.perf_counter() - started


def _run_kernels(catalog: Catalog) -> None:
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
        assemble(
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


def two_items() -> Catalog:
    """A catalog of two items at 2026-01-02: the smallest that reaches every kernel branch."""
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
        embeddings=pa.table({"item_id": ["a"], "embed_item_ids": [["b"]], "embed_scores": [[0.5]]}),
        rules=pa.table({"item_id": ["a"], "rule_item_ids": [["b"]], "rule_scores": [[1.0]]}),
    )
