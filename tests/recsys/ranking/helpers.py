"""A tiny hand-made catalog whose neighbours and sessions are easy to reason about."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from recsys.ranking.catalog import Catalog, Csr, build_catalog
from recsys.ranking.session import TYPE_CODE, SessionArrays

AS_OF = datetime(2026, 1, 10, tzinfo=UTC)
ITEM_FEATURES = ["views_7d", "first_seen_epoch_s"]


def tiny_catalog(
    *,
    sessions: list[list[str]] | None = None,
    embed: dict[str, list[tuple[str, float]]] | None = None,
    rules: dict[str, list[tuple[str, float]]] | None = None,
) -> Catalog:
    """Items a..h in two categories (x: a-d, y: e-h) plus 'z' that nobody saw before AS_OF.

    Co-visitation: a<->b strong, a<->c weak; sequential: a->d. Popularity: h > g > f > ... .
    Embedding neighbours: `embed` (item -> [(neighbour, similarity), ...]), none by default;
    sequential rules: `rules` (item -> [(follower, weight), ...]), none by default.
    """
    ids = ["a", "b", "c", "d", "e", "f", "g", "h", "z"]
    items = pa.table(
        {
            "item_id": ids,
            "category": ["x", "x", "x", "x", "y", "y", "y", "y", None],
            "price": [10.0, 12.0, 8.0, 20.0, 100.0, 90.0, 110.0, 95.0, None],
            "title": [f"Item {i}" for i in ids],
        }
    )
    neighbors = pa.table(
        {
            "item_id": ["a", "b", "c"],
            "covis_item_ids": [["b", "c"], ["a"], ["a"]],
            "covis_scores": [[5.0, 1.0], [5.0], [1.0]],
            "seq_item_ids": [["d"], [], []],
            "seq_scores": [[2.0], [], []],
        }
    )
    known = ids[:-1]
    popularity = pa.table(
        {
            "item_id": known,
            "decayed_score": [float(i + 1) for i in range(len(known))],  # h most popular
            "events_1d": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 1.0],
        }
    )
    sessions = sessions if sessions is not None else [["a", "e", "f"], ["a", "e"], ["b", "g"]]
    session_rows = [(f"s{n}", item, n) for n, items_ in enumerate(sessions) for item in items_]
    session_items = pa.table(
        {
            "session_id": [r[0] for r in session_rows],
            "item_id": [r[1] for r in session_rows],
            "session_ended_at": pa.array(
                [datetime(2026, 1, 1 + r[2], tzinfo=UTC) for r in session_rows],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    item_features = pa.table(
        {
            "item_id": known,
            "views_7d": [float(10 * (i + 1)) for i in range(len(known))],
            "first_seen_epoch_s": [AS_OF.timestamp() - 86_400 * (i + 1) for i in range(len(known))],
        }
    )
    return build_catalog(
        as_of=AS_OF,
        items=items,
        neighbors=neighbors,
        popularity=popularity,
        session_items=session_items,
        item_features=item_features,
        item_feature_names=ITEM_FEATURES,
        embeddings=_lists_table(embed, "embed"),
        rules=_lists_table(rules, "rule"),
    )


def _lists_table(lists: dict[str, list[tuple[str, float]]] | None, prefix: str) -> pa.Table:
    """An item_embeddings / item_rules style table: item_id, <prefix>_item_ids, _scores."""
    return pa.table(
        {
            "item_id": list(lists or {}),
            f"{prefix}_item_ids": [[n for n, _ in v] for v in (lists or {}).values()],
            f"{prefix}_scores": [[s for _, s in v] for v in (lists or {}).values()],
        },
        schema=pa.schema(
            [
                ("item_id", pa.string()),
                (f"{prefix}_item_ids", pa.list_(pa.string())),
                (f"{prefix}_scores", pa.list_(pa.float64())),
            ]
        ),
    )


def session_of(catalog: Catalog, items: list[str], types: list[str] | None = None) -> SessionArrays:
    types = types or ["view"] * len(items)
    return SessionArrays(
        catalog.indices_of(items),
        np.array([TYPE_CODE[t] for t in types], np.int8),
        AS_OF.timestamp() + 60.0 * np.arange(len(items)),
    )


def row(csr: Csr, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Row r of a Csr: its neighbour indices and scores."""
    start, stop = csr.indptr[r], csr.indptr[r + 1]
    return csr.indices[start:stop], csr.scores[start:stop]
