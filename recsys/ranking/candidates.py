"""Candidate generation: the few hundred items worth ranking for one user and session.

A union of generators, each cheap and each good at a different kind of next item:
the session's own items (repeats are common in click logs), co-visitation, sequential and
embedding neighbours of the recent context (weighted by recency), the sequential rules (SR)
of the most recent item, session-kNN (items of similar past
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

from recsys.ranking import generators
from recsys.ranking.catalog import Catalog, Csr
from recsys.ranking.session import SessionArrays


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
    embed_sum: np.ndarray  # embedding similarity to the context, recency-weighted sum
    embed_last_rank: np.ndarray  # rank among the last context item's embedding neighbours
    sr_score: np.ndarray  # sequential-rule (SR) weight last context item -> candidate, 0 if none
    sr_rank: np.ndarray  # rank among the last context item's rules (nan if not among them)
    context: Context

    def __len__(self) -> int:
        return len(self.items)


def build_context(session: SessionArrays, user: UserContext, *, limit: int) -> Context:
    """Pick the context items: the session's recent distinct items, else the user's history."""
    return _context(recent_first(session), user, limit)


def _context(recent: np.ndarray, user: UserContext, limit: int) -> Context:
    from_history = len(recent) == 0
    items = np.asarray((user.recent_items if from_history else recent)[:limit], np.int32)
    # 1 / (1 + position); positive, which the compiled generators rely on
    weights = (
        _RECENCY[: len(items)]
        if len(items) <= len(_RECENCY)
        else (1.0 / (1.0 + np.arange(len(items)))).astype(np.float32)
    )
    return Context(items, weights, from_history)


# Shared, never written. (Not marked read-only: numba compiles read-only arrays separately.)
_RECENCY = (1.0 / (1.0 + np.arange(64))).astype(np.float32)
_EMPTY = np.zeros(0, np.int32)


def recent_first(session: SessionArrays) -> np.ndarray:
    """The session's distinct catalog items, most recent occurrence first."""
    if len(session.items) == 0:
        return _EMPTY
    known = session.items[session.items >= 0]
    if len(known) == 0:
        return _EMPTY
    reversed_items = known[::-1]
    _, first = np.unique(reversed_items, return_index=True)
    return reversed_items[np.sort(first)].astype(np.int32)


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

    The generators, in fusion order: co-visitation and sequential neighbours of the context
    (scores summed over the context items, weighted by recency), session-kNN, nearest
    neighbours in the item embedding (cosine similarities summed the same way), the
    sequential rules (SR) of the most recent context item, heaviest first, the session's
    own items (most recent first), the user's history, popular items of up to three context
    categories and the user's top two, trending, popular. Each ranks its items (ties: smaller
    item index); an item scores sum(1 / (rrf_k + rank)) over the generators that found it,
    and the best `n` by that score are kept, in score order (ties: smaller item index).
    Only items known before `catalog.as_of`, or in the session, are returned.

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
    recent = recent_first(session)
    context = _context(recent, user, config.context_items)
    index = catalog.sessions
    lists = catalog.category_lists
    out = generators.generate_pool(
        context.items,
        context.weights,
        (catalog.covis.indptr, catalog.covis.indices, catalog.covis.scores),
        (catalog.seq.indptr, catalog.seq.indices, catalog.seq.scores),
        (catalog.embed.indptr, catalog.embed.indices, catalog.embed.scores),
        (catalog.rules.indptr, catalog.rules.indices, catalog.rules.scores),
        (
            index.item_sessions.indptr,
            index.item_sessions.indices,
            index.session_items.indptr,
            index.session_items.indices,
            index.session_items.scores,
            index.session_sizes,
        ),
        (lists.indptr, lists.indices),
        (
            recent,
            np.asarray(user.recent_items[: config.user_history_items], np.int32),
            catalog.trending[: config.trending_items],
            catalog.popular[: config.popular_items],
        ),
        (
            _EMPTY if exclude is None else np.asarray(exclude, np.int32),
            _EMPTY if include is None else np.asarray(include, np.int32),
            _EMPTY if categories is None else np.asarray(categories, np.int32),
            categories is not None,
        ),
        (catalog.known, catalog.category_codes, np.asarray(user.top_categories, np.int32)),
        (
            int(n or config.n),
            float(config.rrf_k),
            int(config.sknn_sample),
            int(config.sknn_neighbors),
            int(config.category_items),
        ),
        catalog.item_slot,
    )
    (
        items,
        prescore,
        covis_sum,
        covis_last,
        covis_last_rank,
        seq_sum,
        seq_last,
        seq_rank,
        sknn,
        embed_sum,
        embed_last_rank,
        sr_score,
        sr_rank,
    ) = out
    return Candidates(
        items,
        prescore,
        covis_sum,
        covis_last,
        covis_last_rank,
        seq_sum,
        seq_last,
        seq_rank,
        sknn,
        embed_sum,
        embed_last_rank,
        sr_score,
        sr_rank,
        context,
    )


def neighbour_scores(
    catalog: Catalog, adjacency: Csr, context: Context
) -> tuple[np.ndarray, np.ndarray]:
    """Return (items ascending, scores): neighbour scores summed over the context, weighted."""
    return generators.neighbour_scores(
        adjacency.indptr,
        adjacency.indices,
        adjacency.scores,
        context.items,
        context.weights,
        catalog.item_slot,
    )


def rule_scores(catalog: Catalog, context: Context) -> tuple[np.ndarray, np.ndarray]:
    """Return (items ascending, scores): the SR rules of the most recent context item."""
    last = context.items[:1]
    return generators.neighbour_scores(
        catalog.rules.indptr,
        catalog.rules.indices,
        catalog.rules.scores,
        last,
        np.ones(len(last), np.float32),
        catalog.item_slot,
    )


def sknn_scores(
    catalog: Catalog, context: Context, config: CandidateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Session-kNN (V-SKNN, Ludewig & Jannach 2018) item scores for the context.

    Past sessions sharing items with the context are candidates; the most recent
    `sknn_sample` of them are compared by recency-weighted cosine similarity, and the
    `sknn_neighbors` most similar (ties: the more recent) vote for their items with that
    similarity. Returns (items ascending, scores).
    """
    index = catalog.sessions
    return generators.sknn_scores(
        context.items,
        context.weights,
        index.item_sessions.indptr,
        index.item_sessions.indices,
        (index.session_items.indptr, index.session_items.indices, index.session_items.scores),
        index.session_sizes,
        int(config.sknn_sample),
        int(config.sknn_neighbors),
        catalog.item_slot,
    )
