"""Strong simple baselines, scored through the same protocol as the ranker.

Each baseline maps (catalog, session) to a ranked list of item indices over the whole
catalogue. They share the generator code the ranker's candidates come from, so a gap between
the ranker and a baseline is the ranker's doing, not a different implementation's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys.ranking.candidates import (
    CandidateConfig,
    UserContext,
    build_context,
    neighbour_scores,
    sknn_scores,
)
from recsys.ranking.catalog import Catalog
from recsys.ranking.session import SessionArrays
from training.session_baselines import History, SessionBaselines

Baseline = Callable[[Catalog, SessionArrays, int], np.ndarray]


def repeat_current(catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
    """The session's current (last) item alone: "the user looks at it again".

    On click logs where most next events repeat the current item this trivial list is hard to
    beat at any cutoff, so the ranker's lift must be measured against it too.
    """
    if k < 1 or len(session) == 0 or session.items[-1] < 0:
        return np.zeros(0, np.int32)
    return session.items[-1:].astype(np.int32)


def session_popularity(catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
    """The session's own items, most frequent first, ties broken by the most recent."""
    known = session.items[session.items >= 0]
    if len(known) == 0:
        return np.zeros(0, np.int32)
    items, counts = np.unique(known, return_counts=True)
    # Position of each item's last occurrence: larger = more recent.
    last_seen = np.array([np.flatnonzero(known == i)[-1] for i in items])
    order = np.lexsort((-last_seen, -counts))[:k]
    return items[order].astype(np.int32)


def popularity(catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
    """Most popular items before the window (time-decayed counts); same list for everyone."""
    return catalog.popular[:k]


def covisitation(catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
    """Items co-visited with the session's recent items, weighted by recency in the session."""
    context = build_context(session, _NO_USER, limit=_CONFIG.context_items)
    items, scores = neighbour_scores(catalog, catalog.covis, context)
    return _top(items, scores, k)


def sknn(catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
    """Session-kNN (V-SKNN, Ludewig & Jannach 2018): items of the most similar past sessions."""
    context = build_context(session, _NO_USER, limit=_CONFIG.context_items)
    items, scores = sknn_scores(catalog, context, _CONFIG)
    return _top(items, scores, k)


def session_baselines(history: History, n_items: int) -> dict[str, Baseline]:
    """SR, V-SKNN, STAN and VSTAN (training/session_baselines.py) over one window's past."""
    methods = SessionBaselines(history, n_items)
    return {
        "sr": methods.sr,
        "v-sknn (idf)": methods.vsknn,
        "stan": methods.stan,
        "vstan": methods.vstan,
    }


BASELINES: dict[str, Baseline] = {
    "repeat current item": repeat_current,
    "session popularity": session_popularity,
    "popularity": popularity,
    "covisitation": covisitation,
    "sknn": sknn,
}

_CONFIG = CandidateConfig()
_NO_USER = UserContext.unknown(0)


def _top(items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    if len(items) == 0:
        return np.zeros(0, np.int32)
    order = np.lexsort((items, -scores))[:k]
    return items[order].astype(np.int32)
