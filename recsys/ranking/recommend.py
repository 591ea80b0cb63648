"""The one request path: candidates -> feature matrix -> scores -> top k.

The server (`recommend`), batch scoring and the training-set builder all go through
`candidates` and `features`, so a candidate or a feature column is computed one way
everywhere; evaluation ranks with the same `top_k` tie rule as the server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.ranking.candidates import CandidateConfig, Candidates, UserContext, generate
from recsys.ranking.catalog import Catalog
from recsys.ranking.ranker import Ranker
from recsys.ranking.session import SessionArrays, session_features
from recsys.ranking.vectors import FeatureLayout, assemble


@dataclass(frozen=True)
class Moment:
    """What a recommendation is conditioned on: the session so far, the user, and when.

    Args:
        session: The current session (may be empty).
        user: The user's batch features (unknown user allowed).
        user_avg_price: The user's price level (nan when unknown).
        now_s: Reference time for age features: the last session event, else now.
    """

    session: SessionArrays
    user: UserContext
    user_avg_price: float
    now_s: float


@dataclass(frozen=True)
class Ranked:
    """Top items of one request, best first, with what is needed to explain them."""

    items: np.ndarray  # int32 catalog indices
    scores: np.ndarray  # float64 ranker scores
    features: np.ndarray  # float32 rows of the returned items, in the model's column order
    candidates: int  # how many candidates were scored


@dataclass(frozen=True)
class Scorer:
    """A ranker bound to a feature layout: knows which layout columns the model reads."""

    ranker: Ranker
    layout: FeatureLayout
    columns: np.ndarray

    @classmethod
    def bind(cls, ranker: Ranker, layout: FeatureLayout) -> Scorer:
        return cls(ranker, layout, layout.columns_for(ranker.features))

    @property
    def in_layout_order(self) -> bool:
        """True when the model reads every layout column in layout order (no reordering)."""
        return bool(np.array_equal(self.columns, np.arange(len(self.layout.names))))


def candidates(
    catalog: Catalog,
    moment: Moment,
    *,
    config: CandidateConfig = CandidateConfig(),
    exclude: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    include: np.ndarray | None = None,
) -> Candidates:
    """The candidates of one moment (see `candidates.generate` for the filters)."""
    return generate(
        catalog,
        moment.session,
        moment.user,
        config=config,
        exclude=exclude,
        categories=categories,
        include=include,
    )


def features(
    layout: FeatureLayout,
    catalog: Catalog,
    cands: Candidates,
    moment: Moment,
    *,
    item_rows: np.ndarray | None = None,
    session_row: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The float32 feature matrix of the candidates, in layout order.

    Args:
        layout: Column layout.
        catalog: Item-side state the candidates came from.
        cands: The candidates.
        moment: The session, user and reference time.
        item_rows: Item batch features of the candidates; default the catalog's (what Redis
            holds); training passes the point-in-time rows Feast returned.
        session_row: session_features(moment.session), when the caller already has it.
        out: Write the matrix there (see `vectors.assemble`) instead of a new array.
    """
    return assemble(
        layout,
        catalog,
        cands,
        item_rows=catalog.item_features[cands.items] if item_rows is None else item_rows,
        user=moment.user,
        session=moment.session,
        session_row=session_features(moment.session) if session_row is None else session_row,
        now_s=moment.now_s,
        user_avg_price=moment.user_avg_price,
        out=out,
    )


def top_k(scores: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first; equal scores go to the smaller item index."""
    take = min(k, len(scores))
    if take == 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, take - 1)[:take]
    return top[np.lexsort((items[top], -scores[top]))]


def recommend(
    scorer: Scorer,
    catalog: Catalog,
    moment: Moment,
    *,
    k: int,
    config: CandidateConfig = CandidateConfig(),
    exclude: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    include: np.ndarray | None = None,
) -> Ranked:
    """Generate candidates, build their features and return the k best by the ranker.

    Args:
        scorer: The model and its feature columns.
        catalog: Item-side state.
        moment: The session, user and reference time.
        k: How many items to return.
        config: Candidate generation settings.
        exclude: Item indices never to return (already seen, explicitly excluded).
        categories: Restrict to these category codes.
        include: Items that join the candidates even below the cut (see `generate`).
    """
    cands = candidates(
        catalog, moment, config=config, exclude=exclude, categories=categories, include=include
    )
    if len(cands) == 0:
        empty = np.zeros(0, np.int32)
        return Ranked(empty, np.zeros(0), np.zeros((0, len(scorer.columns)), np.float32), 0)
    X = features(scorer.layout, catalog, cands, moment)[:, scorer.columns]
    scores = scorer.ranker.score(X)
    top = top_k(scores, cands.items, k)
    return Ranked(cands.items[top], scores[top], X[top], len(cands))
