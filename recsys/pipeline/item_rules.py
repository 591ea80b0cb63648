"""Sequential rules (SR) per item: which items follow it in sessions, by a gap-decayed count.

Part of the dbt project's dependencies: dbt's `item_rules` model (dbt/models/marts/
item_rules.py) imports this module, which imports item_embeddings (the shared per-snapshot
loading and storing), nothing else of the project.

Why a second sequential list: `item_neighbors`' sequential scores look 3 positions ahead and
are decayed by time and event type, summed over the whole context; SR (Ludewig & Jannach
2018) looks `window` positions ahead at weight 1 / gap and answers from the last item alone.
Its longer reach finds next items the fused pool misses (the training report's `pool+` for
the SR baseline), so it serves as a generator of its own.

The rules, per feature snapshot (point in time: only events strictly before snapshot_at):
- an event of item a followed, `gap` <= `window` positions later in the same session, by an
  event of a different item b adds 1 / gap to the rule a -> b;
- an item's list holds its `top_k` heaviest rules, weight descending, ties by item id
  ascending (item keys follow item_id order).
Events after a snapshot never change its lists: a pair counts only when both its events are
before the snapshot. With var list_refresh_days > 0 a snapshot's lists are those of the latest
grid midnight at or before it, and incremental builds reuse list sets already computed
(snapshot_lists.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numba import njit

from recsys.pipeline.item_embeddings import lists_per_snapshot, no_lists

if TYPE_CHECKING:
    import duckdb


def item_rules(
    con: duckdb.DuckDBPyConnection,
    *,
    events: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
    snapshots: duckdb.DuckDBPyRelation,
    top_k: int,
    window: int,
    refresh_days: int = 0,
    data_dir: str | None = None,
    reuse: bool = False,
) -> pa.Table:
    """Every item's heaviest sequential rules at every snapshot.

    Args:
        con: The connection the relations belong to.
        events: fct_events (session_id, session_position, item_id, event_timestamp).
        items: int_items_keyed (item_key 1..n in item_id order).
        snapshots: feature_snapshots (snapshot_name, snapshot_at, snapshot_index).
        top_k: Rules kept per item (var rules_top_k).
        window: Largest gap in positions a rule spans (var rules_window).
        refresh_days, data_dir, reuse: As for item_embeddings.item_embeddings.

    Returns:
        One row per item and snapshot with at least one rule: item_id, snapshot_name,
        event_timestamp (= snapshot_at), rule_item_ids, rule_scores (summed 1 / gap).
    """
    for name, value in (("rules_top_k", top_k), ("rules_window", window)):
        if value < 1:
            raise ValueError(f"var {name}: expected a whole number >= 1, found {value}")
    return lists_per_snapshot(
        con,
        events=events,
        items=items,
        snapshots=snapshots,
        model="item_rules",
        prefix="rule",
        kernel=functools.partial(sequential_rules, top_k=top_k, window=window),
        refresh_days=refresh_days,
        data_dir=data_dir,
        reuse=reuse,
        sources=[Path(__file__)],
    )


def sequential_rules(
    session: np.ndarray, item: np.ndarray, n_keys: int, *, top_k: int, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lists of one snapshot from its events (in session, then position order).

    Returns (owners, offsets, followers, weights): owner keys ascending; owner i's list is
    followers/weights[offsets[i]:offsets[i + 1]], heaviest first.
    """
    src, dst, weight = rule_pairs(
        np.ascontiguousarray(session, np.int64), np.ascontiguousarray(item, np.int64), window
    )
    if len(src) == 0:
        return no_lists()
    key = src * n_keys + dst
    uniq, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=weight)
    a, b = uniq // n_keys, uniq % n_keys
    order = np.lexsort((b, -summed, a))  # by owner, heaviest first, then follower id
    a, b, summed = a[order], b[order], summed[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    rank = np.arange(len(a)) - np.repeat(starts, np.diff(np.r_[starts, len(a)]))
    keep = rank < top_k
    a, b, summed = a[keep], b[keep], summed[keep]
    owners, lengths = np.unique(a, return_counts=True)
    offsets = np.zeros(len(owners) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return owners, offsets, b, summed


@njit(cache=True)
def rule_pairs(
    session: np.ndarray, item: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, 1 / gap) for every event b at most `window` positions after a in its session."""
    n = len(item)
    total = 0
    for i in range(n):
        for j in range(i + 1, min(n, i + window + 1)):
            if session[j] != session[i]:
                break
            if item[j] != item[i]:
                total += 1
    src = np.empty(total, np.int64)
    dst = np.empty(total, np.int64)
    weight = np.empty(total, np.float64)
    at = 0
    for i in range(n):
        for j in range(i + 1, min(n, i + window + 1)):
            if session[j] != session[i]:
                break
            if item[j] != item[i]:
                src[at], dst[at], weight[at] = item[i], item[j], 1.0 / (j - i)
                at += 1
    return src, dst, weight
