"""The compiled inner loops of candidate generation: neighbours, rules, session-kNN and fusion.

Why compiled (numba): a request walks a few thousand neighbour links and past sessions. As
numpy calls on small arrays, the calls' own overhead would be most of the cost (about 0.6 ms
per request here); one compiled pass over the same arrays takes tens of microseconds.
candidates.py keeps the meaning and the documentation; this module only loops.

Scratch: each call collects items into a small pool through a dense item -> pool slot map
of the catalog's size (`Catalog.item_slot`), which every kernel returns to its resting state
(all -1) before it returns; a slot counts only if the pool holds that item there, so even a
dirty map cannot make a kernel write outside its pool. Kernels hold the GIL, so no two
threads share the map mid-call.

Ties are broken the same way everywhere: by the smaller item index, and among past sessions
by the more recent one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_CATEGORY = -1  # == catalog.NO_CATEGORY (not imported: keep this module free of pandas)


@njit(cache=True)
def _position(slot: np.ndarray, pool: np.ndarray, size: int, item: int) -> int:
    """Position of `item` in pool[:size], or -1.

    The slot is trusted only when the pool agrees, so a map left dirty (a kernel that never
    returned) can cost speed but never sends a write outside the pool.
    """
    p = slot[item]
    return p if 0 <= p < size and pool[p] == item else -1


@njit(cache=True)
def _slot(slot: np.ndarray, pool: np.ndarray, size: int, item: int) -> tuple[int, int]:
    """Position of `item` in the pool, adding it at the end if new; returns (position, size)."""
    p = _position(slot, pool, size, item)
    if p < 0:
        p = size
        slot[item] = p
        pool[p] = item
        size += 1
    return p, size


@njit(cache=True)
def _row_total(indptr: np.ndarray, rows: np.ndarray) -> int:
    total = 0
    for r in rows:
        total += indptr[r + 1] - indptr[r]
    return total


@njit(cache=True)
def _add_weighted(
    indptr: np.ndarray,
    indices: np.ndarray,
    scores: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    slot: np.ndarray,
    pool: np.ndarray,
    size: int,
    acc: np.ndarray,
    seen: np.ndarray,
    members: np.ndarray,
) -> tuple[int, int]:
    """acc[item] += score(row -> item) * weight(row) over `rows`; returns (size, members).

    Neighbours: rows are the context items, weighted by recency. Session-kNN votes: rows are
    the voting sessions (every score 1), weighted by similarity.
    """
    found = 0
    for j in range(len(rows)):
        row = rows[j]
        for q in range(indptr[row], indptr[row + 1]):
            p, size = _slot(slot, pool, size, indices[q])
            if not seen[p]:
                seen[p] = True
                members[found] = p
                found += 1
            acc[p] += np.float64(scores[q] * weights[j])
    return size, found


@njit(cache=True)
def _sknn_voters(
    context: np.ndarray,
    weights: np.ndarray,
    item_sessions_indptr: np.ndarray,
    item_sessions: np.ndarray,
    session_sizes: np.ndarray,
    sample: int,
    neighbours: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The past sessions that vote and their similarity to the context (V-SKNN).

    Each item's sessions are stored newest first (larger id = more recent), so the `sample`
    newest sessions sharing an item with the context come from merging the heads of the
    context items' lists, without visiting the older ones.
    """
    heads = np.empty(len(context), np.int64)
    ends = np.empty(len(context), np.int64)
    for j in range(len(context)):
        heads[j] = item_sessions_indptr[context[j]]
        ends[j] = item_sessions_indptr[context[j] + 1]
    sessions: np.ndarray = np.empty(sample, np.int32)
    overlap: np.ndarray = np.empty(sample, np.float64)
    found = 0
    while found < sample:
        newest = -1
        for j in range(len(context)):
            if heads[j] < ends[j] and item_sessions[heads[j]] > newest:
                newest = item_sessions[heads[j]]
        if newest < 0:
            break
        weight = 0.0
        for j in range(len(context)):
            if heads[j] < ends[j] and item_sessions[heads[j]] == newest:
                weight += weights[j]
                heads[j] += 1
        sessions[found] = newest
        overlap[found] = weight
        found += 1
    sessions, overlap = sessions[:found], overlap[:found]
    similarity: np.ndarray = np.empty(found, np.float64)
    n_context = np.float32(len(context))
    for i in range(found):
        similarity[i] = overlap[i] / np.float64(np.sqrt(n_context * session_sizes[sessions[i]]))
    if found > neighbours:  # the most similar; ties: the newer (sessions are newest first)
        top = np.argsort(-similarity, kind="mergesort")[:neighbours]
        sessions, similarity = sessions[top], similarity[top]
    return sessions, similarity


@njit(cache=True)
def _best_first(items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """`items` ordered by float32 score descending, then item ascending.

    One sort of int64 keys (score bits above, item below) rather than two argsorts: the bits
    of a non-negative float32 sort the same way as its value, and every generator's score is
    non-negative.
    """
    bits = scores.astype(np.float32).view(np.int32)
    keys = np.empty(len(items), np.int64)
    for i in range(len(items)):
        keys[i] = (np.int64(0x7FFFFFFF - bits[i]) << 32) | np.int64(items[i])
    keys.sort()
    return (keys & 0xFFFFFFFF).astype(np.int32)


@njit(cache=True)
def _release(slot: np.ndarray, pool: np.ndarray, size: int) -> None:
    for i in range(size):
        slot[pool[i]] = -1


@njit(cache=True)
def _summed(
    indptr: np.ndarray,
    indices: np.ndarray,
    scores: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    slot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(items ascending, float32 sums) of score(row -> item) * weight(row) over `rows`."""
    cap = _row_total(indptr, rows)
    pool = np.empty(cap, np.int32)
    acc = np.zeros(cap, np.float64)
    size, _ = _add_weighted(
        indptr,
        indices,
        scores,
        rows,
        weights,
        slot,
        pool,
        0,
        acc,
        np.zeros(cap, np.bool_),
        np.empty(cap, np.int64),
    )
    _release(slot, pool, size)
    order = np.argsort(pool[:size])
    return pool[order], acc[order].astype(np.float32)


@njit(cache=True)
def neighbour_scores(
    indptr: np.ndarray,
    indices: np.ndarray,
    scores: np.ndarray,
    context: np.ndarray,
    weights: np.ndarray,
    slot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(items ascending, float32 scores): neighbour scores summed over the weighted context."""
    return _summed(indptr, indices, scores, context, weights, slot)


@njit(cache=True)
def sknn_scores(
    context: np.ndarray,
    weights: np.ndarray,
    item_sessions_indptr: np.ndarray,
    item_sessions: np.ndarray,
    session_items: tuple[np.ndarray, np.ndarray, np.ndarray],
    session_sizes: np.ndarray,
    sample: int,
    neighbours: int,
    slot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(items ascending, float32 scores): the V-SKNN votes of the most similar past sessions.

    session_items = (indptr, items, scores of 1) of the session -> item Csr.
    """
    sessions, similarity = _sknn_voters(
        context, weights, item_sessions_indptr, item_sessions, session_sizes, sample, neighbours
    )
    indptr, items, ones = session_items
    return _summed(indptr, items, ones, sessions, similarity, slot)


@njit(cache=True)
def _append_new(out: np.ndarray, size: int, codes: np.ndarray, limit: int) -> int:
    """Append up to `limit` of `codes` to out[:size], skipping NO_CATEGORY and repeats."""
    for code in codes[:limit]:
        if code == NO_CATEGORY:
            continue
        seen = False
        for i in range(size):
            if out[i] == code:
                seen = True
                break
        if not seen:
            out[size] = code
            size += 1
    return size


@njit(cache=True)
def _wanted_categories(
    context: np.ndarray,
    weights: np.ndarray,
    category_codes: np.ndarray,
    user_top: np.ndarray,
    required: np.ndarray,
) -> np.ndarray:
    """Required codes, then the context's top three (recency-weighted), then the user's top two."""
    cats: np.ndarray = np.empty(len(context), np.int32)
    cat_weight: np.ndarray = np.zeros(len(context), np.float64)
    n_cats = 0
    for j in range(len(context)):
        code = category_codes[context[j]]
        if code == NO_CATEGORY:
            continue
        at = -1
        for i in range(n_cats):
            if cats[i] == code:
                at = i
                break
        if at < 0:
            at = n_cats
            cats[at] = code
            n_cats += 1
        cat_weight[at] += weights[j]
    by_code = np.argsort(cats[:n_cats])
    cats, cat_weight = cats[:n_cats][by_code], cat_weight[:n_cats][by_code]
    ranked = cats[np.argsort(-cat_weight, kind="mergesort")]
    wanted = np.empty(len(required) + 5, np.int32)
    n_wanted = _append_new(wanted, 0, required, len(required))
    n_wanted = _append_new(wanted, n_wanted, ranked, 3)
    n_wanted = _append_new(wanted, n_wanted, user_top, 2)
    return wanted[:n_wanted]


@njit(cache=True)
def _fuse_scored(
    slot: np.ndarray,
    pool: np.ndarray,
    size: int,
    members: np.ndarray,
    acc: np.ndarray,
    fused: np.ndarray,
    k: np.float32,
) -> None:
    """Reciprocal-rank fusion of a scored source: fused += 1 / (k + rank by score)."""
    best = _best_first(pool[members], acc[members])
    for r in range(len(best)):
        fused[_position(slot, pool, size, best[r])] += np.float32(1.0) / (k + np.float32(r + 1))


@njit(cache=True)
def _fuse_ranked(
    items: np.ndarray,
    slot: np.ndarray,
    pool: np.ndarray,
    size: int,
    fused: np.ndarray,
    k: np.float32,
) -> int:
    """Reciprocal-rank fusion of an already ranked list (first is best); returns the pool size."""
    for r in range(len(items)):
        p, size = _slot(slot, pool, size, items[r])
        fused[p] += np.float32(1.0) / (k + np.float32(r + 1))
    return size


@njit(cache=True)
def _row_lookup(
    indptr: np.ndarray,
    indices: np.ndarray,
    scores: np.ndarray,
    row: int,
    slot: np.ndarray,
    pool: np.ndarray,
    final: np.ndarray,
    score_out: np.ndarray,
    rank_out: np.ndarray,
) -> None:
    """Score and 1-based rank of each kept pool item in `row`'s neighbour list."""
    for q in range(indptr[row], indptr[row + 1]):
        p = _position(slot, pool, len(final), indices[q])
        if p >= 0 and final[p] >= 0 and np.isnan(rank_out[final[p]]):
            score_out[final[p]] = scores[q]
            rank_out[final[p]] = q - indptr[row] + 1  # rows are stored score-descending


@njit(cache=True)
def _set_state(
    state: np.ndarray,
    slot: np.ndarray,
    pool: np.ndarray,
    size: int,
    item: int,
    value: int,
    only_from: int,
) -> None:
    """state[item's position] = value, if it is in the pool (and its state is only_from >= 0)."""
    p = _position(slot, pool, size, item)
    if p >= 0 and (only_from < 0 or state[p] == only_from):
        state[p] = value


@njit(cache=True)
def generate_pool(
    context: np.ndarray,
    weights: np.ndarray,
    covis: tuple[np.ndarray, np.ndarray, np.ndarray],
    seq: tuple[np.ndarray, np.ndarray, np.ndarray],
    embed: tuple[np.ndarray, np.ndarray, np.ndarray],
    rules: tuple[np.ndarray, np.ndarray, np.ndarray],
    sessions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    category_lists: tuple[np.ndarray, np.ndarray],
    lists: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    filters: tuple[np.ndarray, np.ndarray, np.ndarray, bool],
    items: tuple[np.ndarray, np.ndarray, np.ndarray],
    sizes: tuple[int, float, int, int, int],
    slot: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Fuse every generator's list and cut to `n`; candidates.generate gives the meaning.

    Tuples group the arrays: covis, seq, embed and rules = (indptr, indices, scores); the
    rules (SR) are read for the most recent context item only; sessions = (item ->
    session indptr, sessions, session -> item indptr, items, scores of 1, session sizes);
    category_lists = (indptr, items) by category code; lists = (the session's items most
    recent first, the user's history, trending, popular); filters = (exclude, include,
    required categories, only those categories?); items = (known, category codes, the user's
    top categories); sizes = (n, rrf_k, sknn sample, sknn neighbours, items per category);
    slot = the catalog's item slot map.

    Returns (items, prescore, covis_sum, covis_last, covis_last_rank, seq_sum, seq_last,
    seq_last_rank, sknn, embed_sum, embed_last_rank, sr_score, sr_rank), best prescore
    first, ties by item.
    """
    c_ptr, c_idx, c_sc = covis
    s_ptr, s_idx, s_sc = seq
    e_ptr, e_idx, e_sc = embed
    r_ptr, r_idx, r_sc = rules
    last = context[:1]  # SR answers from the most recent item alone
    is_ptr, is_idx, si_ptr, si_idx, si_ones, session_sizes = sessions
    cat_ptr, cat_items = category_lists
    session_first, history, trending, popular = lists
    exclude, include, required, only_required = filters
    known, category_codes, user_top = items
    n, rrf_k, sknn_sample, sknn_neighbours, per_category = sizes
    n_categories = len(cat_ptr) - 1

    voters, similarity = _sknn_voters(
        context, weights, is_ptr, is_idx, session_sizes, sknn_sample, sknn_neighbours
    )
    wanted = _wanted_categories(context, weights, category_codes, user_top, required)
    cap = (
        _row_total(c_ptr, context)
        + _row_total(s_ptr, context)
        + _row_total(e_ptr, context)
        + _row_total(r_ptr, last)
        + _row_total(si_ptr, voters)
        + len(session_first)
        + len(history)
        + len(wanted) * per_category
        + len(trending)
        + len(popular)
        + len(include)
    )
    pool = np.empty(cap, np.int32)
    covis_acc = np.zeros(cap, np.float64)
    seq_acc = np.zeros(cap, np.float64)
    sknn_acc = np.zeros(cap, np.float64)
    embed_acc = np.zeros(cap, np.float64)
    rules_acc = np.zeros(cap, np.float64)
    fused = np.zeros(cap, np.float64)
    members = np.empty(cap, np.int64)
    k = np.float32(rrf_k)

    seen = np.zeros(cap, np.bool_)
    size, found = _add_weighted(
        c_ptr, c_idx, c_sc, context, weights, slot, pool, 0, covis_acc, seen, members
    )
    _fuse_scored(slot, pool, size, members[:found], covis_acc, fused, k)
    seen[:] = False
    size, found = _add_weighted(
        s_ptr, s_idx, s_sc, context, weights, slot, pool, size, seq_acc, seen, members
    )
    _fuse_scored(slot, pool, size, members[:found], seq_acc, fused, k)
    seen[:] = False
    size, found = _add_weighted(
        si_ptr, si_idx, si_ones, voters, similarity, slot, pool, size, sknn_acc, seen, members
    )
    _fuse_scored(slot, pool, size, members[:found], sknn_acc, fused, k)
    seen[:] = False
    size, found = _add_weighted(
        e_ptr, e_idx, e_sc, context, weights, slot, pool, size, embed_acc, seen, members
    )
    _fuse_scored(slot, pool, size, members[:found], embed_acc, fused, k)
    seen[:] = False
    size, found = _add_weighted(
        r_ptr,
        r_idx,
        r_sc,
        last,
        np.ones(len(last), np.float32),
        slot,
        pool,
        size,
        rules_acc,
        seen,
        members,
    )
    _fuse_scored(slot, pool, size, members[:found], rules_acc, fused, k)
    size = _fuse_ranked(session_first, slot, pool, size, fused, k)
    size = _fuse_ranked(history, slot, pool, size, fused, k)
    for code in wanted:
        if 0 <= code < n_categories:
            start = cat_ptr[code]
            stop = min(cat_ptr[code + 1], start + per_category)
            size = _fuse_ranked(cat_items[start:stop], slot, pool, size, fused, k)
    size = _fuse_ranked(trending, slot, pool, size, fused, k)
    size = _fuse_ranked(popular, slot, pool, size, fused, k)
    n_catalog = len(known)
    for item in include:  # they join with prescore 0 when no generator found them
        if 0 <= item < n_catalog:
            _, size = _slot(slot, pool, size, item)

    # state: 0 = dropped, 1 = allowed, 2 = allowed and kept even below the cut
    state = np.zeros(size, np.int8)
    for i in range(size):
        state[i] = 1 if known[pool[i]] else 0
    for item in session_first:  # the session's own items are allowed even if new
        _set_state(state, slot, pool, size, item, 1, -1)
    for item in exclude:
        if 0 <= item < n_catalog:
            _set_state(state, slot, pool, size, item, 0, -1)
    if only_required:
        for i in range(size):
            inside = False
            for code in required:
                if category_codes[pool[i]] == code:
                    inside = True
                    break
            if not inside:
                state[i] = 0
    for item in include:
        if 0 <= item < n_catalog:
            _set_state(state, slot, pool, size, item, 2, 1)

    allowed = np.flatnonzero(state > 0)
    order = _best_first(pool[allowed], fused[allowed])
    final = np.full(size, -1, np.int64)
    kept = 0
    for r in range(len(order)):
        i = _position(slot, pool, size, order[r])
        if r < n or state[i] == 2:
            final[i] = kept
            kept += 1
    out_items = np.empty(kept, np.int32)
    out_prescore = np.empty(kept, np.float32)
    covis_sum = np.empty(kept, np.float32)
    seq_sum = np.empty(kept, np.float32)
    sknn = np.empty(kept, np.float32)
    embed_sum = np.empty(kept, np.float32)
    for i in range(size):
        f = final[i]
        if f >= 0:
            out_items[f] = pool[i]
            out_prescore[f] = np.float32(fused[i])
            covis_sum[f] = np.float32(covis_acc[i])
            seq_sum[f] = np.float32(seq_acc[i])
            sknn[f] = np.float32(sknn_acc[i])
            embed_sum[f] = np.float32(embed_acc[i])
    covis_last = np.zeros(kept, np.float32)
    covis_last_rank = np.full(kept, np.nan, np.float32)
    seq_last = np.zeros(kept, np.float32)
    seq_last_rank = np.full(kept, np.nan, np.float32)
    embed_last = np.zeros(kept, np.float32)
    embed_last_rank = np.full(kept, np.nan, np.float32)
    sr_score = np.zeros(kept, np.float32)
    sr_rank = np.full(kept, np.nan, np.float32)
    if len(context):
        _row_lookup(c_ptr, c_idx, c_sc, context[0], slot, pool, final, covis_last, covis_last_rank)
        _row_lookup(s_ptr, s_idx, s_sc, context[0], slot, pool, final, seq_last, seq_last_rank)
        _row_lookup(e_ptr, e_idx, e_sc, context[0], slot, pool, final, embed_last, embed_last_rank)
        _row_lookup(r_ptr, r_idx, r_sc, context[0], slot, pool, final, sr_score, sr_rank)
    _release(slot, pool, size)
    return (
        out_items,
        out_prescore,
        covis_sum,
        covis_last,
        covis_last_rank,
        seq_sum,
        seq_last,
        seq_last_rank,
        sknn,
        embed_sum,
        embed_last_rank,
        sr_score,
        sr_rank,
    )
