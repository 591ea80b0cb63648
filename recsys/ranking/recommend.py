"""The whole path from a session and a user to a ranked list, as the server and batch run it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.ranking.candidates import CandidateConfig, UserContext, generate
from recsys.ranking.catalog import Catalog
from recsys.ranking.ranker import Ranker
from recsys.ranking.session import SessionArrays, session_features
from recsys.ranking.vectors import FeatureLayout, assemble


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


def recommend(
    scorer: Scorer,
    catalog: Catalog,
    *,
    session: SessionArrays,
    user: UserContext,
    user_avg_price: float,
    now_s: float,
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
        session: The current session (may be empty).
        user: The user's batch features (unknown user allowed).
        user_avg_price: The user's price level (nan when unknown).
        now_s: Reference time for age features: the last session event, else now.
        k: How many items to return.
        config: Candidate generation settings.
        exclude: Item indices never to return (already seen, explicitly excluded).
        categories: Restrict to these category codes.
        include: Items that join the candidates even below the cut (see `generate`).
    """
    cands = generate(
        catalog,
        session,
        user,
        config=config,
        exclude=exclude,
        categories=categories,
        include=include,
    )
    if len(cands) == 0:
        empty = np.zeros(0, np.int32)
        return Ranked(empty, np.zeros(0), np.zeros((0, len(scorer.columns)), np.float32), 0)
    X = assemble(
        scorer.layout,
        catalog,
        cands,
        item_rows=catalog.item_features[cands.items],
        user=user,
        session=session,
        session_row=session_features(session),
        now_s=now_s,
        user_avg_price=user_avg_price,
    )[:, scorer.columns]
    scores = scorer.ranker.score(X)
    take = min(k, len(scores))
    top = np.argpartition(-scores, take - 1)[:take]
    top = top[np.lexsort((cands.items[top], -scores[top]))]
    return Ranked(cands.items[top], scores[top], X[top], len(cands))
