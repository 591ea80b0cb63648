"""Item embeddings learned from sessions, and each item's nearest neighbours in them.

Part of the dbt project's dependencies: dbt's `item_embeddings` model
(dbt/models/marts/item_embeddings.py) imports this module, which imports only snapshot_lists
of the project, so it depends only on numpy, scipy, threadpoolctl, pyarrow and numba.

Why: co-visitation and sequential rules only link items that were seen together; an
embedding also links items that share neighbours (two films watched after the same ones),
which is what candidate generation misses on sparse or long-tailed logs. The method is the
count-based twin of item2vec / skip-gram (Levy & Goldberg 2014, Levy et al. 2015): skip-gram
with negative sampling factorizes a shifted PMI matrix, and a truncated SVD of the positive
PMI matrix gives vectors of the same quality on small data, deterministically and in seconds.

The rules, per feature snapshot (point in time: only events strictly before snapshot_at):
- two events of one session at most `window` positions apart count one co-occurrence of
  their items (both directions; an item with itself never counts);
- PPMI with context-distribution smoothing 0.75: max(0, log(c_ij * sum_j' c_j'^0.75 /
  (c_i * c_j^0.75)));
- a randomized truncated SVD (Halko et al. 2011, fixed seed) of that matrix, `dims`
  components; an item's vector is U*sqrt(S) + V*sqrt(S) (the "W + C" vectors; for the
  symmetric PPMI matrix this keeps the components of positive eigenvalues);
- an item's list holds the `top_k` items of highest cosine similarity above 0, similarity
  descending, ties by neighbour id ascending. Only items seen before the snapshot have a
  vector, so only they are listed or listed as neighbours. Up to `EXACT_MAX_ITEMS` items the
  search is exact; above, it compares each item with the items of the `PROBES` clusters
  nearest its own (spherical k-means, fixed seed): an exact search costs items^2 x dims per
  snapshot (815 s for 158k items on 5M events), the clustered one about 1/40 of that, and it
  finds ~95% of the exact lists' items (tests/recsys/pipeline/test_item_embeddings.py).
The matrix of a snapshot holds only the items seen before it, in item_id order, so events
after a snapshot never change its lists (a new item changes no row or column of it).
With var list_refresh_days > 0 a snapshot's lists are those of the latest grid midnight at or
before it, and incremental builds reuse list sets already computed (snapshot_lists.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from numba import njit
from threadpoolctl import threadpool_limits

from recsys.pipeline import snapshot_lists
from recsys.pipeline.snapshot_lists import ListStore, event_fingerprints, per_snapshot

if TYPE_CHECKING:
    import duckdb

SMOOTHING = 0.75  # context-distribution smoothing of PMI (Levy et al. 2015)
OVERSAMPLE = 10  # extra random directions of the range finder (Halko et al. 2011)
POWER_ITERATIONS = 4  # subspace iterations: PPMI spectra decay slowly
SEED = 20260101  # the range finder's random matrix; fixed so builds are reproducible
BLOCK_ROWS = 1024  # rows of the similarity matrix computed at once (memory: rows x items)
EXACT_MAX_ITEMS = 20_000  # above this many items, search the nearest clusters only
PROBES = 10  # clusters searched per item: its own and the 9 whose centroids are nearest it
KMEANS_ROUNDS = 6


def item_embeddings(
    con: duckdb.DuckDBPyConnection,
    *,
    events: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
    snapshots: duckdb.DuckDBPyRelation,
    dims: int,
    top_k: int,
    window: int,
    refresh_days: int = 0,
    data_dir: str | None = None,
    reuse: bool = False,
) -> pa.Table:
    """Every item's nearest neighbours in the session embedding at every snapshot.

    Args:
        con: The connection the relations belong to.
        events: fct_events (session_id, session_position, item_id, event_timestamp).
        items: int_items_keyed (item_key 1..n in item_id order).
        snapshots: feature_snapshots (snapshot_name, snapshot_at, snapshot_index).
        dims: Embedding dimensions (var embed_dims).
        top_k: Neighbours kept per item (var embed_top_k).
        window: Largest distance in a session that counts as co-occurrence (var embed_window).
        refresh_days: Grid of the lists' cut-offs in days, 0 = each snapshot (var
            list_refresh_days; recsys/pipeline/snapshot_lists.py).
        data_dir: Where computed list sets are stored ($RECSYS_DATA_DIR); None stores none.
        reuse: Reuse stored list sets whose events match (incremental builds).

    Returns:
        One row per item and snapshot with at least one neighbour: item_id, snapshot_name,
        event_timestamp (= snapshot_at), embed_item_ids, embed_scores (cosine similarity).
    """
    for name, value in (("embed_dims", dims), ("embed_top_k", top_k), ("embed_window", window)):
        if value < 1:
            raise ValueError(f"var {name}: expected a whole number >= 1, found {value}")
    # One BLAS thread: the products here are small (items x 74), and OpenBLAS's threads
    # spin-waiting for each other cost 20-30x the CPU time on a busy 2-core host (8 s vs
    # 0.3 s per snapshot of 150k events, measured); dbt runs other models meanwhile anyway.
    with threadpool_limits(limits=1, user_api="blas"):
        return lists_per_snapshot(
            con,
            events=events,
            items=items,
            snapshots=snapshots,
            model="item_embeddings",
            prefix="embed",
            kernel=functools.partial(nearest_neighbours, dims=dims, top_k=top_k, window=window),
            refresh_days=refresh_days,
            data_dir=data_dir,
            reuse=reuse,
        )


Lists = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def lists_per_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    events: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
    snapshots: duckdb.DuckDBPyRelation,
    model: str,
    prefix: str,
    kernel: functools.partial[Lists],
    refresh_days: int,
    data_dir: str | None,
    reuse: bool,
    sources: Sequence[Path] = (),
) -> pa.Table:
    """The rows of a per-snapshot list model (item_embeddings, item_rules).

    `kernel(session, item_key, n_keys)` computes one snapshot's lists from its events; its
    bound keywords (the model's vars) and the source of this module, snapshot_lists and
    `sources` are the rules a stored list set is kept under (snapshot_lists.ListStore). The
    events are loaded only when a list set is not stored (snapshot_lists.per_snapshot).
    """
    store = ListStore.open(
        data_dir,
        model,
        kernel.keywords,
        [Path(__file__), Path(snapshot_lists.__file__), *sources],
        reuse=reuse,
    )
    loaded: tuple[pa.Array, int, np.ndarray, np.ndarray, np.ndarray] | None = None

    def compute(cutoff: int) -> pa.Table:
        nonlocal loaded
        if loaded is None:
            loaded = session_events(con, events=events, items=items)
        names, n_keys, session, item_key, at_us = loaded
        before = at_us < cutoff
        lists = kernel(session[before], item_key[before], n_keys)
        # Every set a build computes is checked here (a stored set was when it was computed;
        # on incremental nights dbt's point-in-time test reads only the lists cut off from the
        # recomputed days on): each owner and neighbour must have an event before the cut-off.
        seen = np.zeros(n_keys, bool)
        seen[item_key[before]] = True
        if not (seen[lists[0]].all() and seen[lists[2]].all()):
            raise ValueError(
                f"{prefix} lists at cut-off {cutoff} (epoch us) name an item with no event "
                "before it: a point-in-time leak in the kernel"
            )
        return lists_table(names, prefix, *lists)

    parts = per_snapshot(
        snapshot_times(snapshots),
        refresh_days=refresh_days,
        store=store,
        fingerprints=lambda cutoffs: event_fingerprints(con, events, cutoffs),
        compute=compute,
        label=label_snapshot,
    )
    if not parts:
        return label_snapshot(lists_table(pa.array([], pa.string()), prefix, *no_lists()), "", 0)
    return pa.concat_tables(parts)


def snapshot_times(snapshots: duckdb.DuckDBPyRelation) -> list[tuple[str, int]]:
    """feature_snapshots as (name, snapshot_at in epoch us), in snapshot order."""
    snapshot = snapshots.order("snapshot_index").select(
        "snapshot_name, epoch_us(snapshot_at) as at_us"
    )
    return [(str(name), int(at)) for name, at in snapshot.fetchall()]


def session_events(
    con: duckdb.DuckDBPyConnection,
    *,
    events: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
) -> tuple[pa.Array, int, np.ndarray, np.ndarray, np.ndarray]:
    """The events as arrays in (session, position) order, for the per-snapshot list models.

    Returns (item ids by key - 1, number of keys + 1, dense session number, item key, event
    time in epoch us).
    """
    keyed = items.order("item_key").select("item_key, item_id").to_arrow_table()
    keys = keyed["item_key"].to_numpy()
    if not np.array_equal(keys, np.arange(1, len(keys) + 1)):
        raise ValueError("int_items_keyed: expected item_key 1..n with no gaps")
    names = keyed["item_id"].combine_chunks()
    con.register("_list_events", events)
    con.register("_list_items", items)
    try:
        table = con.sql(
            "select dense_rank() over (order by e.session_id) as session,"
            " k.item_key, epoch_us(e.event_timestamp) as at_us"
            " from _list_events e join _list_items k using (item_id)"
            " order by e.session_id, e.session_position"
        ).to_arrow_table()
    finally:
        con.unregister("_list_events")
        con.unregister("_list_items")
    session = np.ascontiguousarray(table["session"].to_numpy(), np.int64)
    item_key = np.ascontiguousarray(table["item_key"].to_numpy(), np.int64)
    at_us = np.ascontiguousarray(table["at_us"].to_numpy(), np.int64)
    return names, len(keys) + 1, session, item_key, at_us


def nearest_neighbours(
    session: np.ndarray, item: np.ndarray, n_keys: int, *, dims: int, top_k: int, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lists of one snapshot from its events (in session, then position order).

    Returns (owners, offsets, neighbours, scores): owner keys ascending; owner i's list is
    neighbours/scores[offsets[i]:offsets[i + 1]], best first.
    """
    present = np.unique(item)  # ascending key = item_id order
    if len(present) < 2:
        return no_lists()
    compact = np.searchsorted(present, item).astype(np.int32)
    rows, cols = window_pairs(session, compact, window)
    size = len(present)
    counts = sp.csr_matrix(
        (np.ones(len(rows), np.float64), (rows, cols)), shape=(size, size)
    )  # duplicates are summed: the co-occurrence counts
    vectors = embed(ppmi(counts), dims)
    owners, offsets, neighbours, scores = _top_cosine(vectors, top_k)
    return present[owners], offsets, present[neighbours], scores


def ppmi(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Positive PMI with context-distribution smoothing of a symmetric count matrix."""
    counts = counts.tocsr()
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    col_sums = np.asarray(counts.sum(axis=0)).ravel()
    smoothed = col_sums**SMOOTHING
    total = smoothed.sum()
    if total <= 0:
        return sp.csr_matrix(counts.shape, dtype=np.float64)
    coo = counts.tocoo()
    values = np.log(coo.data * total / (row_sums[coo.row] * smoothed[coo.col]))
    keep = values > 0
    return sp.csr_matrix((values[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


def embed(matrix: sp.csr_matrix, dims: int) -> np.ndarray:
    """Item vectors U*sqrt(S) + V*sqrt(S) of a truncated SVD of `matrix`, [items, <= dims]."""
    size = matrix.shape[0]
    rank = min(dims, size)
    wanted = rank + OVERSAMPLE
    if wanted >= size:  # small enough for the exact decomposition
        u, s, vt = np.linalg.svd(matrix.toarray())
    else:
        u, s, vt = _randomized_svd(matrix, wanted)
    u, s, vt = u[:, :rank], s[:rank], vt[:rank]
    root = np.sqrt(s)
    return u * root + vt.T * root


def _randomized_svd(
    matrix: sp.csr_matrix, wanted: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Halko et al. 2011, algorithm 4.4 (subspace iteration) then 5.1."""
    random = np.random.default_rng(SEED)
    transposed = matrix.T.tocsr()
    basis = _orthonormal(matrix @ random.standard_normal((matrix.shape[1], wanted)))
    for _ in range(POWER_ITERATIONS):
        basis = _orthonormal(matrix @ _orthonormal(transposed @ basis))
    small = (transposed @ basis).T  # basis.T @ matrix, [wanted, items]
    u_small, s, vt = np.linalg.svd(small, full_matrices=False)
    return basis @ u_small, s, vt


def _orthonormal(block: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(block)
    return np.ascontiguousarray(q)


def _top_cosine(
    vectors: np.ndarray, top_k: int, *, exact_max: int = EXACT_MAX_ITEMS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's `top_k` most cosine-similar other rows with similarity > 0 (exact up to
    `exact_max` rows, within the nearest clusters above)."""
    norms = np.linalg.norm(vectors, axis=1)
    has = norms > 0
    unit = np.zeros_like(vectors, dtype=np.float32)
    unit[has] = (vectors[has] / norms[has, None]).astype(np.float32)
    if len(unit) > exact_max:
        return _top_cosine_clustered(unit, top_k)
    return _top_cosine_exact(unit, top_k)


def _top_cosine_exact(
    unit: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    size = len(unit)
    owners_out, sizes_out, neighbours_out, scores_out = [], [], [], []
    for start in range(0, size, BLOCK_ROWS):
        stop = min(size, start + BLOCK_ROWS)
        similarity = unit[start:stop] @ unit.T
        similarity[np.arange(stop - start), np.arange(start, stop)] = 0.0  # never itself
        owners, lengths, neighbours, scores = _rank_rows(similarity, top_k, start)
        owners_out.append(owners)
        sizes_out.append(lengths)
        neighbours_out.append(neighbours)
        scores_out.append(scores)
    lengths = np.concatenate(sizes_out)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (
        np.concatenate(owners_out),
        offsets,
        np.concatenate(neighbours_out),
        np.concatenate(scores_out),
    )


def _top_cosine_clustered(
    unit: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_top_cosine_exact` within clusters: each item against the members of the PROBES
    clusters nearest its own (an inverted-file search, as in FAISS's IVF), ties as there.

    Rows without a vector are left out: they have no list and are in no list.
    """
    live = np.flatnonzero(unit.any(axis=1))  # ascending, so column order (ties) is kept
    vectors = unit[live]
    lists = min(len(live), max(PROBES, int(2 * np.sqrt(len(live)))))
    if lists == 0:
        return no_lists()
    centroids, assign = _spherical_kmeans(vectors, lists)
    order = np.argsort(assign, kind="stable")  # members of each cluster, ascending rows
    bounds = np.searchsorted(assign[order], np.arange(lists + 1))
    nearest = np.argsort(-(centroids @ centroids.T), axis=1, kind="stable")
    owners_out, sizes_out, neighbours_out, scores_out = [], [], [], []
    for cluster in range(lists):
        queries = order[bounds[cluster] : bounds[cluster + 1]]
        if not len(queries):
            continue
        probed = sorted({cluster, *nearest[cluster, :PROBES].tolist()})
        candidates = np.sort(np.concatenate([order[bounds[c] : bounds[c + 1]] for c in probed]))
        for start in range(0, len(queries), BLOCK_ROWS):
            block = queries[start : start + BLOCK_ROWS]
            similarity = vectors[block] @ vectors[candidates].T
            similarity[np.arange(len(block)), np.searchsorted(candidates, block)] = 0.0
            owners, lengths, neighbours, scores = _rank_rows(similarity, top_k, 0)
            owners_out.append(live[block[owners]])
            sizes_out.append(lengths)
            neighbours_out.append(live[candidates[neighbours]])
            scores_out.append(scores)
    if not owners_out:
        return no_lists()
    owners = np.concatenate(owners_out)
    lengths = np.concatenate(sizes_out)
    neighbours = np.concatenate(neighbours_out)
    scores = np.concatenate(scores_out)
    # back to ascending owners: move each owner's run of neighbours along with it
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    by_owner = np.argsort(owners, kind="stable")
    lengths = lengths[by_owner]
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    gather = np.repeat(starts[by_owner] - offsets[:-1], lengths) + np.arange(offsets[-1])
    return owners[by_owner], offsets, neighbours[gather], scores[gather]


def _spherical_kmeans(unit: np.ndarray, lists: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit centroids and each row's cluster: k-means on cosine, fixed seed, few rounds."""
    random = np.random.default_rng(SEED)
    centroids = unit[np.sort(random.choice(len(unit), lists, replace=False))].copy()
    assign = _assign(unit, centroids)
    for _ in range(KMEANS_ROUNDS):
        members = sp.csr_matrix(
            (np.ones(len(unit), np.float32), (assign, np.arange(len(unit)))),
            shape=(lists, len(unit)),
        )
        sums = np.asarray(members @ unit)
        norms = np.linalg.norm(sums, axis=1)
        moved = norms > 0  # an emptied cluster keeps its centroid
        centroids[moved] = sums[moved] / norms[moved, None]
        assign = _assign(unit, centroids)
    return centroids, assign


def _assign(unit: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    out = np.empty(len(unit), np.int64)
    for start in range(0, len(unit), 8 * BLOCK_ROWS):
        out[start : start + 8 * BLOCK_ROWS] = np.argmax(
            unit[start : start + 8 * BLOCK_ROWS] @ centroids.T, axis=1
        )
    return out


@njit(cache=True)
def window_pairs(
    session: np.ndarray, item: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every pair of distinct items at most `window` apart in a session."""
    n = len(item)
    total = 0
    for i in range(n):
        for j in range(i + 1, min(n, i + window + 1)):
            if session[j] != session[i]:
                break
            if item[j] != item[i]:
                total += 2
    rows = np.empty(total, np.int32)
    cols = np.empty(total, np.int32)
    at = 0
    for i in range(n):
        for j in range(i + 1, min(n, i + window + 1)):
            if session[j] != session[i]:
                break
            if item[j] != item[i]:
                rows[at], cols[at] = item[i], item[j]
                rows[at + 1], cols[at + 1] = item[j], item[i]
                at += 2
    return rows, cols


@njit(cache=True)
def _rank_rows(
    similarity: np.ndarray, top_k: int, first_row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the best `top_k` columns with similarity > 0: score desc, then column asc.

    A bounded insertion list per row: one pass over the row, no sort of all columns.
    """
    rows, cols = similarity.shape
    owners = np.empty(rows, np.int64)
    lengths = np.empty(rows, np.int64)
    neighbours = np.empty(rows * top_k, np.int64)
    scores = np.empty(rows * top_k, np.float64)
    kept_rows = 0
    written = 0
    best_cols = np.empty(top_k, np.int64)
    best_scores = np.empty(top_k, np.float32)
    for r in range(rows):
        size = 0
        for c in range(cols):
            value = similarity[r, c]
            if value <= 0:
                continue
            # columns come in ascending order, so an equal score never displaces a kept one
            if size == top_k and value <= best_scores[size - 1]:
                continue
            at = size if size < top_k else top_k - 1
            while at > 0 and best_scores[at - 1] < value:
                if at < top_k:
                    best_scores[at] = best_scores[at - 1]
                    best_cols[at] = best_cols[at - 1]
                at -= 1
            best_scores[at] = value
            best_cols[at] = c
            if size < top_k:
                size += 1
        if size:
            owners[kept_rows] = first_row + r
            lengths[kept_rows] = size
            kept_rows += 1
            for i in range(size):
                neighbours[written + i] = best_cols[i]
                scores[written + i] = best_scores[i]
            written += size
    return owners[:kept_rows], lengths[:kept_rows], neighbours[:written], scores[:written]


def no_lists() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros(0, np.int64),
        np.zeros(1, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.float64),
    )


def lists_table(
    names: pa.Array,
    prefix: str,
    owners: np.ndarray,
    offsets: np.ndarray,
    neighbours: np.ndarray,
    scores: np.ndarray,
) -> pa.Table:
    """One snapshot's lists; owners and neighbours are item keys (1..n); lists are named
    `{prefix}_item_ids` and `{prefix}_scores`."""
    list_offsets = pa.array(offsets.astype(np.int32))
    return pa.table(
        {
            "item_id": names.take(pa.array(owners - 1)),
            f"{prefix}_item_ids": pa.ListArray.from_arrays(
                list_offsets, names.take(pa.array(neighbours - 1))
            ),
            f"{prefix}_scores": pa.ListArray.from_arrays(
                list_offsets, pa.array(scores, pa.float64())
            ),
        }
    )


def label_snapshot(lists: pa.Table, name: str, at_us: int) -> pa.Table:
    """`lists` as the model's rows: snapshot_name and event_timestamp after item_id."""
    rows = len(lists)
    at = pa.array(np.full(rows, at_us, np.int64)).cast(pa.timestamp("us", tz="UTC"))
    labelled = lists.add_column(1, "snapshot_name", pa.array([name] * rows, pa.string()))
    return labelled.add_column(2, "event_timestamp", at)
