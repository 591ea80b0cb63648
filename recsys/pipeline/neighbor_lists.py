"""The top co-visited and sequential neighbours of every item at every feature snapshot.

Part of the dbt project's dependencies: dbt's `item_neighbors` model
(dbt/models/marts/item_neighbors.py) imports this module and nothing else of the project, so
it depends only on numpy, pyarrow and numba, which the dbt environment (this venv) has.
`int_item_pairs_decayed` (a SQL view) holds a pair's weights once per day it occurred on,
each decayed to the end of its snapshot bucket; this module sums them per pair and bucket and
turns the sums into ranked lists. Both are compiled passes: the sums replace a SQL group-by of
millions of rows (and writing and reading its result), and a small heap keeps each list's
best `top_k`, so the tens of millions of candidate rows of a large build are never sorted.

The rules are the ones docs/contracts.md gives, and the scores are the floating-point
operations of that formula in this order (a SQL version must keep it to match bit for bit):
- at snapshot k a pair is a candidate when its first co-occurrence (covis), or its first
  a-then-b order (seq), is strictly before snapshot_at;
- score_k = bucket_0 * carry_0_k + ... + bucket_(k-1) * carry_(k-1)_k + bucket_k, where
  carry_j_k = 0.5 ^ ((snapshot_k - snapshot_j) / half-life), computed by DuckDB;
- a list keeps the `top_k` best, score descending, ties by neighbour id ascending (item keys
  are assigned in item_id order, so key order is id order).
A bucket's sum adds a pair's rows in the order they are read, as SQL's sum() does in some
order: two builds agree to float rounding, not bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numba import njit

if TYPE_CHECKING:
    import duckdb

KINDS = ("covis", "seq")
_NEVER = np.iinfo(np.int64).max  # a pair never followed in that direction


def neighbor_lists(
    con: duckdb.DuckDBPyConnection,
    *,
    pairs: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
    snapshots: duckdb.DuckDBPyRelation,
    top_k: int,
    half_life_days: float,
) -> pa.Table:
    """Rank every item's neighbours at every snapshot.

    Args:
        con: The connection the relations belong to.
        pairs: int_item_pairs_decayed (rows of pairs, each in one snapshot bucket).
        items: int_items_keyed (item_key 1..n in item_id order).
        snapshots: feature_snapshots (snapshot_index = the bucket number in pairs).
        top_k: Neighbours kept per list (var covis_top_k).
        half_life_days: Decay half-life (var covis_half_life_days).

    Returns:
        One row per item and snapshot with at least one neighbour: item_id, snapshot_name,
        event_timestamp (= snapshot_at), covis_item_ids, covis_scores, seq_item_ids,
        seq_scores; empty lists where a kind has none.
    """
    if top_k < 1:
        raise ValueError(f"var covis_top_k: expected a whole number >= 1, found {top_k}")
    snapshot = _arrow(
        snapshots.order("snapshot_index").select(
            "snapshot_index, snapshot_name, epoch_us(snapshot_at) as at_us"
        )
    )
    count = snapshot.num_rows
    if snapshot["snapshot_index"].to_pylist() != list(range(count)):
        raise ValueError("feature_snapshots: expected snapshot_index 0..n-1, one row each")
    at_us = _owned(snapshot["at_us"].to_numpy())
    carry = _carry_factors(con, at_us, half_life_days)
    item_ids = _arrow(items.order("item_key").select("item_key, item_id"))
    keys = item_ids["item_key"].to_numpy()
    if not np.array_equal(keys, np.arange(1, len(keys) + 1)):
        raise ValueError("int_items_keyed: expected item_key 1..n with no gaps")
    table = _arrow(pairs.select(_pair_columns()))

    def column(name: str) -> np.ndarray:
        return _frozen(table[name].to_numpy())

    lo, hi = column("lo_item_key"), column("hi_item_key")
    if len(lo) and not (lo.min() >= 1 and hi.max() <= len(keys) and (lo < hi).all()):
        raise ValueError(
            "int_item_pairs_decayed: expected item keys 1 <= lo_item_key < hi_item_key <= "
            f"{len(keys)} (int_items_keyed)"
        )
    lo, hi, first_paired, followed, weights = _sum_pairs(
        _pair_order(lo, hi, len(keys) + 1),
        lo,
        hi,
        column("bucket"),
        column("first_paired_us"),
        (column("lo_hi_followed_us"), column("hi_lo_followed_us")),
        tuple(column(part) for part in PARTS),
        count,
    )
    offsets, neighbours, scores = _top_neighbours(
        lo, hi, first_paired, followed, weights, at_us, carry, len(keys) + 1, top_k
    )
    names = item_ids["item_id"].combine_chunks()
    return pa.concat_tables(
        _snapshot_rows(
            names,
            snapshot["snapshot_name"][k].as_py(),
            int(at_us[k]),
            offsets[2 * k : 2 * k + 2],
            neighbours,
            scores,
        )
        for k in range(count)
    )


def _owned(values: np.ndarray) -> np.ndarray:
    """A writable C-ordered array (a copy only when it is not one already)."""
    return np.require(values, requirements=["C", "W"])


def _frozen(values: np.ndarray) -> np.ndarray:
    """A read-only C-ordered array without a copy: Arrow hands out read-only views of
    single-chunk columns and writable arrays for chunked ones, and each kind would be a
    compiled signature of the kernels; copying 5.8M-row columns to make them writable cost
    0.6 s (5M events)."""
    values = np.ascontiguousarray(values)
    if values.flags.writeable:
        values = values.view()
        values.flags.writeable = False
    return values


# int_item_pairs_decayed's weights as [direction, kind]: direction 0 = lo -> hi.
PARTS = ("lo_hi_covis", "lo_hi_seq", "hi_lo_covis", "hi_lo_seq")


def _arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    return relation.to_arrow_table()


def _pair_columns() -> str:
    never = f"{_NEVER}"
    weights = ", ".join(f"coalesce({part}, 0.0)::double as {part}" for part in PARTS)
    return (
        "lo_item_key::integer as lo_item_key, hi_item_key::integer as hi_item_key, "
        "coalesce(bucket, -1)::bigint as bucket, "
        "epoch_us(first_paired_at) as first_paired_us, "
        f"coalesce(epoch_us(lo_hi_first_followed_at), {never}) as lo_hi_followed_us, "
        f"coalesce(epoch_us(hi_lo_first_followed_at), {never}) as hi_lo_followed_us, {weights}"
    )


def _carry_factors(
    con: duckdb.DuckDBPyConnection, at_us: np.ndarray, half_life_days: float
) -> np.ndarray:
    """carry[j, k]: the decay from snapshot j to k, by DuckDB as the macro half_life_decay."""
    count = len(at_us)
    carry = np.ones((count, count))
    for k in range(count):
        for j in range(k):
            row = con.execute(
                "select pow(0.5, ((cast(? as bigint) - cast(? as bigint)) / 1e6)"
                " / (cast(? as double) * 86400.0))",
                [int(at_us[k]), int(at_us[j]), half_life_days],
            ).fetchone()
            assert row is not None
            carry[j, k] = row[0]
    return carry


def _snapshot_rows(
    names: pa.Array,
    name: str,
    at_us: int,
    offsets: np.ndarray,
    neighbours: np.ndarray,
    scores: np.ndarray,
) -> pa.Table:
    """One snapshot's rows: items (keys 1..n) with a covis or a seq neighbour."""
    lengths = np.diff(offsets, axis=1)
    keys = np.flatnonzero((lengths[0] > 0) | (lengths[1] > 0))
    columns: dict[str, pa.Array] = {
        "item_id": names.take(pa.array(keys - 1)),
        "snapshot_name": pa.array(np.full(len(keys), name, dtype=object), pa.string()),
        "event_timestamp": pa.array(np.full(len(keys), at_us, np.int64)).cast(
            pa.timestamp("us", tz="UTC")
        ),
    }
    for kind, row in zip(KINDS, offsets, strict=True):
        starts = row[keys]
        sizes = row[keys + 1] - starts
        list_offsets = np.zeros(len(keys) + 1, np.int32)
        np.cumsum(sizes, out=list_offsets[1:])
        picked = np.repeat(starts - list_offsets[:-1], sizes) + np.arange(list_offsets[-1])
        columns[f"{kind}_item_ids"] = pa.ListArray.from_arrays(
            pa.array(list_offsets), names.take(pa.array(neighbours[picked] - 1))
        )
        columns[f"{kind}_scores"] = pa.ListArray.from_arrays(
            pa.array(list_offsets), pa.array(scores[picked])
        )
    return pa.table(columns)


@njit(cache=True, inline="always")
def _worse(score, other, than_score, than_other):
    """Ranks below: lower score, or the same score and a larger neighbour key."""
    return score < than_score or (score == than_score and other > than_other)


@njit(cache=True, inline="always")
def _sift_up(scores, others, base, size, score, other):
    """Add (score, other) to the heap scores/others[base : base + size]."""
    slot = size
    while slot > 0:
        parent = (slot - 1) // 2
        if not _worse(score, other, scores[base + parent], others[base + parent]):
            break
        scores[base + slot] = scores[base + parent]
        others[base + slot] = others[base + parent]
        slot = parent
    scores[base + slot] = score
    others[base + slot] = other


@njit(cache=True, inline="always")
def _sift_down(scores, others, base, size, score, other):
    """Put (score, other) at the root of the heap of `size` entries in place of the worst."""
    slot = 0
    while True:
        child = 2 * slot + 1
        if child >= size:
            break
        if child + 1 < size and _worse(
            scores[base + child + 1],
            others[base + child + 1],
            scores[base + child],
            others[base + child],
        ):
            child += 1
        if not _worse(scores[base + child], others[base + child], score, other):
            break
        scores[base + slot] = scores[base + child]
        others[base + slot] = others[base + child]
        slot = child
    scores[base + slot] = score
    others[base + slot] = other


@njit(cache=True, nogil=True)
def _pair_order(lo, hi, n_keys):
    """The rows' positions ordered by (lo, hi), each pair's rows in read order: two stable
    counting sorts (by hi, then by lo), linear in the rows where an argsort is n log n
    (0.9 s for 5.8M rows)."""
    n_rows = lo.shape[0]
    by_hi = np.empty(n_rows, np.int64)
    order = np.empty(n_rows, np.int64)
    starts = np.zeros(n_keys + 1, np.int64)
    for i in range(n_rows):
        starts[hi[i] + 1] += 1
    for key in range(n_keys):
        starts[key + 1] += starts[key]
    for i in range(n_rows):
        by_hi[starts[hi[i]]] = i
        starts[hi[i]] += 1
    starts[:] = 0
    for i in range(n_rows):
        starts[lo[i] + 1] += 1
    for key in range(n_keys):
        starts[key + 1] += starts[key]
    for i in range(n_rows):
        row = by_hi[i]
        order[starts[lo[row]]] = row
        starts[lo[row]] += 1
    return order


@njit(cache=True, nogil=True)
def _sum_pairs(order, lo, hi, bucket, first_paired, followed, parts, n_buckets):
    """One row per pair from its rows (`order` lists them pair by pair): the earliest times
    and, per bucket, the sums of the four weights, added in `order`.

    parts[direction * 2 + kind][row] and followed[direction][row] (tuples of columns); a
    row of bucket -1 (after the last snapshot) counts for the times only, as SQL's
    `filter (where bucket = k)` leaves it.
    Returns lo, hi, first_paired, followed[direction, pair] and
    weights[direction, kind, bucket, pair], the layout _top_neighbours reads.
    """
    n_rows = order.shape[0]
    n_pairs = 0
    for i in range(n_rows):
        if i == 0 or lo[order[i]] != lo[order[i - 1]] or hi[order[i]] != hi[order[i - 1]]:
            n_pairs += 1
    out_lo = np.empty(n_pairs, np.int32)
    out_hi = np.empty(n_pairs, np.int32)
    out_first = np.empty(n_pairs, np.int64)
    out_followed = np.empty((2, n_pairs), np.int64)
    weights = np.zeros((2, 2, n_buckets, n_pairs), np.float64)
    pair = -1
    for i in range(n_rows):
        row = order[i]
        if i == 0 or lo[row] != lo[order[i - 1]] or hi[row] != hi[order[i - 1]]:
            pair += 1
            out_lo[pair] = lo[row]
            out_hi[pair] = hi[row]
            out_first[pair] = first_paired[row]
            out_followed[0, pair] = followed[0][row]
            out_followed[1, pair] = followed[1][row]
        else:
            out_first[pair] = min(out_first[pair], first_paired[row])
            out_followed[0, pair] = min(out_followed[0, pair], followed[0][row])
            out_followed[1, pair] = min(out_followed[1, pair], followed[1][row])
        b = bucket[row]
        if b < 0:
            continue
        if b >= n_buckets:
            raise ValueError("int_item_pairs_decayed: a bucket past the last snapshot")
        weights[0, 0, b, pair] += parts[0][row]
        weights[0, 1, b, pair] += parts[1][row]
        weights[1, 0, b, pair] += parts[2][row]
        weights[1, 1, b, pair] += parts[3][row]
    return out_lo, out_hi, out_first, out_followed, weights


@njit(cache=True, nogil=True)
def _top_neighbours(lo, hi, first_paired, followed, weights, snapshot_at, carry, n_keys, top_k):
    """Top `top_k` neighbours per (snapshot, kind, item).

    weights[direction, kind, bucket, pair] (direction 0 = lo -> hi); followed[direction, pair].
    Returns offsets[2 * snapshot + kind, key] (a list is neighbours/scores[o[key]:o[key + 1]]),
    neighbours (item keys) and scores, each list best first.
    """
    n_pairs = lo.shape[0]
    n_kinds = weights.shape[1]
    n_snapshots = snapshot_at.shape[0]
    # Every pair twice, once under each of its items, grouped by item (a counting sort), with
    # what a list needs in one row per entry so the passes below read memory in order.
    starts = np.zeros(n_keys + 1, np.int64)
    for p in range(n_pairs):
        starts[lo[p] + 1] += 1
        starts[hi[p] + 1] += 1
    for key in range(n_keys):
        starts[key + 1] += starts[key]
    fill = starts[:-1].copy()
    neighbour = np.empty(2 * n_pairs, np.int32)
    first_at = np.empty((2 * n_pairs, n_kinds), np.int64)
    entry_weights = np.empty((2 * n_pairs, n_kinds, n_snapshots), np.float64)
    for p in range(n_pairs):
        for direction in range(2):
            item = lo[p] if direction == 0 else hi[p]
            at = fill[item]
            fill[item] = at + 1
            neighbour[at] = hi[p] if direction == 0 else lo[p]
            first_at[at, 0] = first_paired[p]
            first_at[at, 1] = followed[direction, p]
            for kind in range(n_kinds):
                for bucket in range(n_snapshots):
                    entry_weights[at, kind, bucket] = weights[direction, kind, bucket, p]

    capacity = 0
    for key in range(n_keys):
        capacity += min(top_k, starts[key + 1] - starts[key])
    offsets = np.zeros((n_snapshots * n_kinds, n_keys + 1), np.int64)
    out_neighbours = np.empty(capacity * n_snapshots * n_kinds, np.int32)
    out_scores = np.empty(capacity * n_snapshots * n_kinds, np.float64)
    written = 0
    for k in range(n_snapshots):
        cutoff = snapshot_at[k]
        for kind in range(n_kinds):
            row = k * n_kinds + kind
            for key in range(n_keys):
                offsets[row, key] = written
                size = 0
                for e in range(starts[key], starts[key + 1]):
                    if first_at[e, kind] >= cutoff:
                        continue
                    w = entry_weights[e, kind]
                    # The SQL's sum, term by term: b_0 * c_0k + ... + b_(k-1) * c_(k-1)k + b_k.
                    if k == 0:
                        score = w[0]
                    else:
                        score = w[0] * carry[0, k]
                        for j in range(1, k):
                            score += w[j] * carry[j, k]
                        score += w[k]
                    other = neighbour[e]
                    if size < top_k:
                        _sift_up(out_scores, out_neighbours, written, size, score, other)
                        size += 1
                    elif _worse(out_scores[written], out_neighbours[written], score, other):
                        _sift_down(out_scores, out_neighbours, written, size, score, other)
                # The buffer is a heap with the worst kept entry at its root; popping the
                # worst to the back, one at a time, leaves the list best first.
                for end in range(size - 1, 0, -1):
                    last_score = out_scores[written + end]
                    last_other = out_neighbours[written + end]
                    out_scores[written + end] = out_scores[written]
                    out_neighbours[written + end] = out_neighbours[written]
                    _sift_down(out_scores, out_neighbours, written, end, last_score, last_other)
                written += size
            offsets[row, n_keys] = written
    return offsets, out_neighbours[:written], out_scores[:written]
