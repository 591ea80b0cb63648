"""Candidate generation: the few hundred items worth ranking for one user and session.

A union of generators, each cheap and each good at a different kind of next item:
the session's own items (repeats are common in click logs), co-visitation and sequential
neighbours of the recent context (weighted by recency), session-kNN (items of similar past
sessions), popular items in the context's and the user's categories, the user's own history,
and globally popular / trending items so that a cold user with an empty session still gets
an answer. The pool is cut to `n` by reciprocal-rank fusion of the generators' own scores.

The relational scores computed along the way (co-visitation to the session, kNN score, ...)
are returned with the candidates: they are the ranker's strongest features, and computing
them here once keeps training and serving on the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.core.catalog import NO_CATEGORY, Catalog, Csr
from training.core.session import SessionArrays


@dataclass(frozen=True)
class CandidateConfig:
    """Knobs of candidate generation; defaults are sane for click logs of any size."""

    n: int = 300  # candidates returned
    context_items: int = 10  # most recent distinct items used as context
    sknn_sample: int = 500  # most recent overlapping past sessions considered (V-SKNN sample)
    sknn_neighbors: int = 100  # most similar of those that vote
    category_items: int = 20  # popular items per context / user category
    popular_items: int = 50  # global popular fallback
    trending_items: int = 30  # most events in the last day
    user_history_items: int = 30  # user's own recent items
    rrf_k: float = 20.0  # reciprocal-rank-fusion damping


@dataclass(frozen=True)
class UserContext:
    """The user's batch features as the ranker needs them (all empty for an unknown user)."""

    features: np.ndarray  # float32, aligned with the user feature names
    recent_items: np.ndarray  # int32 catalog indices, most recent first
    top_categories: np.ndarray  # int32 category codes
    top_category_shares: np.ndarray  # float32
    known: bool

    @classmethod
    def unknown(cls, n_features: int) -> UserContext:
        return cls(
            np.full(n_features, np.nan, np.float32),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
            False,
        )


@dataclass(frozen=True)
class Context:
    """Items the recommendation is conditioned on, with recency weights (1 = most recent)."""

    items: np.ndarray  # int32, distinct, most recent first
    weights: np.ndarray  # float32
    from_user_history: bool


@dataclass(frozen=True)
class Candidates:
    """Candidate items and the relational scores gathered while generating them."""

    items: np.ndarray  # int32 catalog indices
    prescore: np.ndarray  # float32 fusion score used to cut the pool (higher first)
    covis_sum: np.ndarray
    covis_last: np.ndarray
    covis_last_rank: np.ndarray
    seq_sum: np.ndarray
    seq_last: np.ndarray
    seq_last_rank: np.ndarray
    sknn: np.ndarray
    context: Context

    def __len__(self) -> int:
        return len(self.items)


def build_context(session: SessionArrays, user: UserContext, *, limit: int) -> Context:
    """Pick the context items: the session's recent distinct items, else the user's history."""
    known = session.items[session.items >= 0]
    if len(known):
        # most recent occurrence of each item decides its recency
        reversed_items = known[::-1]
        _, first = np.unique(reversed_items, return_index=True)
        order = np.sort(first)[:limit]
        items = reversed_items[order]
        return Context(items, (1.0 / (1.0 + np.arange(len(items)))).astype(np.float32), False)
    items = user.recent_items[:limit]
    weights = (1.0 / (1.0 + np.arange(len(items)))).astype(np.float32)
    return Context(items.astype(np.int32), weights, True)


def generate(
    catalog: Catalog,
    session: SessionArrays,
    user: UserContext,
    *,
    config: CandidateConfig = CandidateConfig(),
    n: int | None = None,
    exclude: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    include: np.ndarray | None = None,
) -> Candidates:
    """Return up to `n` (default config.n) candidates for one user and session.

    Args:
        catalog: Item-side state as of the moment of the request.
        session: The current session so far (may be empty).
        user: The user's batch features (UserContext.unknown for a new user).
        config: Generator sizes and weights.
        n: Override of config.n (for candidate-recall curves).
        exclude: Item indices that must not be returned.
        categories: When given, only items of these category codes are returned (their
            popular items join the pool so the answer is not empty).
        include: Items that join the pool even below the cut (the server passes the user's
            batch recommendations), subject to the same filters. They take no part in the
            fusion: their prescore and relational scores come from the generators above (0
            where none found them), so every feature keeps the meaning it has in training,
            which has no such list.
    """
    n = n or config.n
    context = build_context(session, user, limit=config.context_items)
    covis_items, covis_scores = neighbour_scores(catalog.covis, context)
    seq_items, seq_scores = neighbour_scores(catalog.seq, context)
    sknn_items, sknn_values = sknn_scores(catalog, context, config)

    sources: list[tuple[np.ndarray, np.ndarray | None]] = [
        (covis_items, covis_scores),
        (seq_items, seq_scores),
        (sknn_items, sknn_values),
    ]
    session_items = session.items[session.items >= 0][::-1]
    if len(session_items):
        # the session's own items, most recent first
        _, first = np.unique(session_items, return_index=True)
        recent_first = session_items[np.sort(first)]
        sources.append((recent_first, None))
    if len(user.recent_items):
        hist = user.recent_items[: config.user_history_items]
        sources.append((hist, None))
    wanted = _context_categories(catalog, context, user)
    if categories is not None:
        wanted = np.concatenate([np.asarray(categories, np.int32), wanted])
        _, first = np.unique(wanted, return_index=True)
        wanted = wanted[np.sort(first)]
    for code in wanted:
        lst = catalog.category_popular.get(int(code))
        if lst is not None and len(lst):
            lst = lst[: config.category_items]
            sources.append((lst, None))
    trending = catalog.trending[: config.trending_items]
    sources.append((trending, None))
    popular = catalog.popular[: config.popular_items]
    sources.append((popular, None))

    pool, prescore = _fuse(sources, k=config.rrf_k)
    if include is not None and len(include):
        pool, prescore = _with_unfound(pool, prescore, include, catalog.size)
    allowed = catalog.known[pool] | np.isin(pool, session_items)
    if exclude is not None and len(exclude):
        allowed &= ~np.isin(pool, exclude)
    if categories is not None:
        allowed &= np.isin(catalog.category_codes[pool], categories)
    pool, prescore = pool[allowed], prescore[allowed]
    if len(pool) > n:
        keep = np.argpartition(-prescore, n - 1)[:n]
        if include is not None and len(include):
            forced = np.isin(pool, include)
            forced[keep] = False
            keep = np.concatenate([keep, np.flatnonzero(forced)])
        pool, prescore = pool[keep], prescore[keep]
    order = np.lexsort((pool, -prescore))
    pool, prescore = pool[order], prescore[order]

    last = context.items[:1]
    covis_last, covis_last_rank = _row_lookup(catalog.covis, last, pool)
    seq_last, seq_last_rank = _row_lookup(catalog.seq, last, pool)
    return Candidates(
        items=pool.astype(np.int32),
        prescore=prescore.astype(np.float32),
        covis_sum=_lookup(covis_items, covis_scores, pool),
        covis_last=covis_last,
        covis_last_rank=covis_last_rank,
        seq_sum=_lookup(seq_items, seq_scores, pool),
        seq_last=seq_last,
        seq_last_rank=seq_last_rank,
        sknn=_lookup(sknn_items, sknn_values, pool),
        context=context,
    )


def _with_unfound(
    pool: np.ndarray, prescore: np.ndarray, include: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Append the `include` items no generator found to the fused pool, with prescore 0."""
    extra = np.unique(include[(include >= 0) & (include < size)])
    extra = extra[~np.isin(extra, pool)]
    return (
        np.concatenate([pool, extra.astype(pool.dtype)]),
        np.concatenate([prescore, np.zeros(len(extra), prescore.dtype)]),
    )


def neighbour_scores(adjacency: Csr, context: Context) -> tuple[np.ndarray, np.ndarray]:
    """Return (items, scores): neighbour scores summed over the context, recency-weighted."""
    if len(context.items) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    targets, scores, owner = adjacency.gather(context.items)
    if len(targets) == 0:
        return targets, scores
    weighted = scores * context.weights[owner]
    items, inverse = np.unique(targets, return_inverse=True)
    return items.astype(np.int32), np.bincount(inverse, weights=weighted).astype(np.float32)


def sknn_scores(
    catalog: Catalog, context: Context, config: CandidateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Session-kNN (V-SKNN, Ludewig & Jannach 2018) item scores for the context.

    Past sessions sharing items with the context are candidates; the most recent
    `sknn_sample` of them are compared by recency-weighted cosine similarity, and the
    `sknn_neighbors` most similar vote for their items with that similarity.
    """
    index = catalog.sessions
    empty = np.zeros(0, np.int32), np.zeros(0, np.float32)
    if len(context.items) == 0 or index.sessions == 0:
        return empty
    sessions, _, owner = index.item_sessions.gather(context.items)
    if len(sessions) == 0:
        return empty
    unique_sessions, inverse = np.unique(sessions, return_inverse=True)
    overlap = np.bincount(inverse, weights=context.weights[owner])
    if len(unique_sessions) > config.sknn_sample:
        # session ids grow with recency: the last ones of the sorted array are the newest
        unique_sessions = unique_sessions[-config.sknn_sample :]
        overlap = overlap[-config.sknn_sample :]
    similarity = overlap / np.sqrt(len(context.items) * index.session_sizes[unique_sessions])
    if len(similarity) > config.sknn_neighbors:
        top = np.argpartition(-similarity, config.sknn_neighbors - 1)[: config.sknn_neighbors]
        unique_sessions, similarity = unique_sessions[top], similarity[top]
    items, _, owner = index.session_items.gather(unique_sessions)
    if len(items) == 0:
        return empty
    voted, inverse = np.unique(items, return_inverse=True)
    return voted.astype(np.int32), np.bincount(inverse, weights=similarity[owner]).astype(
        np.float32
    )


def _context_categories(catalog: Catalog, context: Context, user: UserContext) -> np.ndarray:
    """Up to three categories of the context (recency-weighted) then the user's top two."""
    codes = catalog.category_codes[context.items] if len(context.items) else np.zeros(0, np.int32)
    mask = codes != NO_CATEGORY
    ranked: list[int] = []
    if mask.any():
        cats, inverse = np.unique(codes[mask], return_inverse=True)
        weight = np.bincount(inverse, weights=context.weights[mask])
        ranked = [int(c) for c in cats[np.argsort(-weight, kind="stable")][:3]]
    for code in user.top_categories[:2]:
        if int(code) != NO_CATEGORY and int(code) not in ranked:
            ranked.append(int(code))
    return np.asarray(ranked, np.int32)


def _fuse(
    sources: list[tuple[np.ndarray, np.ndarray | None]], *, k: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion: each source ranks its items by score; sum 1 / (k + rank)."""
    all_items, all_scores = [], []
    for items, scores in sources:
        if len(items) == 0:
            continue
        if scores is None:  # an already ranked list: first is best
            ranks = np.arange(1, len(items) + 1, dtype=np.float32)
        else:
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty(len(items), np.float32)
            ranks[order] = np.arange(1, len(items) + 1, dtype=np.float32)
        all_items.append(items)
        all_scores.append(1.0 / (k + ranks))
    if not all_items:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    items = np.concatenate(all_items)
    scores = np.concatenate(all_scores)
    pool, inverse = np.unique(items, return_inverse=True)
    return pool.astype(np.int32), np.bincount(inverse, weights=scores).astype(np.float32)


def _lookup(items: np.ndarray, scores: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Scores of `pool` items within a sorted (items, scores) pair; 0 where absent."""
    out = np.zeros(len(pool), np.float32)
    if len(items) == 0:
        return out
    pos = np.searchsorted(items, pool)
    pos = np.minimum(pos, len(items) - 1)
    hit = items[pos] == pool
    out[hit] = scores[pos[hit]]
    return out


def _row_lookup(
    adjacency: Csr, last: np.ndarray, pool: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Score and 1-based rank of each pool item in the last context item's neighbour list."""
    score = np.zeros(len(pool), np.float32)
    rank = np.full(len(pool), np.nan, np.float32)
    if len(last) == 0:
        return score, rank
    targets, scores = adjacency.row(int(last[0]))
    if len(targets) == 0:
        return score, rank
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    pos = np.minimum(np.searchsorted(sorted_targets, pool), len(sorted_targets) - 1)
    hit = sorted_targets[pos] == pool
    score[hit] = scores[order[pos[hit]]]
    rank[hit] = order[pos[hit]] + 1  # rows are stored score-descending
    return score, rank
