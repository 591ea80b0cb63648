"""Answer one recommendation request: model path first, in-memory fallbacks when it cannot run.

The model path reads the user and session rows from Redis (Feast), generates candidates (the
user's batch recommendations always among them) and features with `recsys.ranking` and ranks
them. Fallbacks, marked `degraded` with a reason:
batch recommendations (from Redis, else the in-memory copy) and then popularity. Nothing in
here raises for an operational fault: a request always gets an answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from recsys.contract import session_key
from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import Moment, recommend
from recsys.ranking.session import SessionArrays, SessionState, session_arrays
from recsys.ranking.users import average_price, user_context
from recsys.ranking.vectors import feature_label
from serving.metrics import FALLBACKS, STAGE_SECONDS
from serving.online import OnlineRow, OnlineStoreUnavailableError
from serving.schemas import Contribution, ItemOut
from serving.state import BatchList, ServingState

log = logging.getLogger(__name__)
EXPLAIN_TOP = 5


class UnknownCategoryError(ValueError):
    """A category filter names no category the catalog knows."""


@dataclass(frozen=True)
class Query:
    """A validated recommendation request."""

    user_id: str
    session_id: str | None
    k: int
    exclude_seen: bool = False
    exclude: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    explain: bool = False


@dataclass
class Answer:
    items: list[ItemOut]
    model_version: str | None
    degraded: bool
    reason: str | None
    session_events: int
    candidates: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The shown items' feature vectors (model column order) and the columns' names; model
    # path only. Kept by reference for the impression log, never copied on the request path.
    features: np.ndarray | None = None
    feature_names: list[str] | None = None
    arm: str | None = None  # champion / challenger while an experiment runs (recsys/experiments)


class _ModelPathError(Exception):
    """The model path cannot answer: why, and what it read before it stopped."""

    def __init__(
        self,
        reason: str,
        label: str,
        *,
        row: OnlineRow | None = None,
        session: SessionState | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason, self.label, self.row, self.session = reason, label, row, session


def answer(state: ServingState, query: Query) -> Answer:
    """Return recommendations for `query`, degrading instead of failing.

    Raises:
        UnknownCategoryError: `query.categories` names an unknown category (a client error).
    """
    timings: dict[str, float] = {}
    catalog = state.catalog
    if catalog is None:
        FALLBACKS.labels(reason="no_features").inc()
        reason = f"no features built yet: {state.catalog_error or 'run `make features`'}"
        return Answer([], state.model_version, True, reason, 0, 0, timings)
    categories = _category_codes(catalog, query.categories)
    try:
        result = _ranked(state, catalog, query, categories, timings)
    except _ModelPathError as degraded:
        result = _fallback(state, catalog, query, categories, timings, degraded)
    # a fallback answer still counts for its user's arm (the comparison is per assigned user)
    result.arm = state.scorer_for(query.user_id)[1]
    return result


def _ranked(
    state: ServingState,
    catalog: Catalog,
    query: Query,
    categories: np.ndarray | None,
    timings: dict[str, float],
) -> Answer:
    """The model path: online rows, candidates, features, ranker (raises _ModelPathError)."""
    t0 = time.perf_counter()
    try:
        row = state.online.read(
            user_id=query.user_id, session_key=session_key(query.user_id, query.session_id)
        )
    except OnlineStoreUnavailableError as exc:
        timings["features"] = _ms(t0)
        raise _ModelPathError(f"online store unavailable ({exc})", "redis") from exc
    timings["features"] = _ms(t0)
    STAGE_SECONDS.labels(stage="features").observe(timings["features"] / 1000)

    session = row.session
    if session is not None and query.session_id is None:
        session = session.current(gap_minutes=state.settings.session_gap_minutes)
    missing = state.online.missing_features()
    if missing is not None:  # Redis answers but holds no features: say so, do not pretend
        raise _ModelPathError(missing, "online_features_missing", row=row, session=session)
    scorer, _ = state.scorer_for(query.user_id)
    if scorer is None:
        raise _ModelPathError(
            f"no model loaded: {state.model_error}; run `make train`",
            "no_model",
            row=row,
            session=session,
        )

    t0 = time.perf_counter()
    try:
        moment = Moment(
            session=_arrays(session, catalog),
            user=user_context(row.user, catalog, scorer.layout.user_features),
            user_avg_price=average_price(row.user),
            now_s=session.last_time_s if session and session.last_time_s else time.time(),
        )
        ranked = recommend(
            scorer,
            catalog,
            moment,
            k=query.k,
            config=CandidateConfig(n=state.settings.candidates),
            exclude=_exclusions(catalog, query, session),
            categories=categories,
            include=_batch_items(catalog, row.batch),
        )
    except Exception as exc:  # a bug in the model path must still leave the user an answer
        log.exception("ranking failed for user %s", query.user_id)
        raise _ModelPathError(
            f"ranking failed ({type(exc).__name__}: {exc})", "error", row=row, session=session
        ) from exc
    timings["rank"] = _ms(t0)
    STAGE_SECONDS.labels(stage="rank").observe(timings["rank"] / 1000)
    items = _items(catalog, ranked.items, ranked.scores)
    if query.explain and len(ranked.items):
        t0 = time.perf_counter()
        _explain(
            items,
            scorer.ranker.contributions(ranked.features),
            ranked.features,
            scorer.ranker.features,
        )
        timings["explain"] = _ms(t0)
    return Answer(
        items,
        scorer.ranker.version,
        False,
        None,
        len(session.item_ids) if session else 0,
        ranked.candidates,
        timings,
        features=ranked.features,
        feature_names=scorer.ranker.features,
    )


def _batch_items(catalog: Catalog, batch: BatchList | None) -> np.ndarray | None:
    """The user's batch recommendations as catalog indices: a candidate source (see generate)."""
    if not batch:
        return None
    items = catalog.indices_of(batch[0])
    return items[items >= 0]


def _fallback(
    state: ServingState,
    catalog: Catalog,
    query: Query,
    categories: np.ndarray | None,
    timings: dict[str, float],
    degraded: _ModelPathError,
) -> Answer:
    """Batch recommendations (from Redis, else in memory), then popularity; marked degraded."""
    reason, label, row, session = degraded.reason, degraded.label, degraded.row, degraded.session
    FALLBACKS.labels(reason=label).inc()
    exclude = set(_excluded_ids(query, session))
    batch: BatchList | None = row.batch if row is not None else None
    batch = batch or state.batch.get(query.user_id)
    if batch:
        ids, scores, version = batch
        picks = [(i, s) for i, s in zip(ids, scores, strict=False) if i not in exclude]
        if categories is not None:
            wanted = {int(c) for c in categories}
            picks = [
                (i, s)
                for i, s in picks
                if (j := catalog.index_of(i)) >= 0 and int(catalog.category_codes[j]) in wanted
            ]
        if picks:
            idx = catalog.indices_of([i for i, _ in picks[: query.k]])
            items = _items(
                catalog,
                idx,
                np.array([s for _, s in picks[: query.k]]),
                ids=[i for i, _ in picks[: query.k]],
            )
            return Answer(
                items,
                version,
                True,
                f"{reason}; served batch recommendations",
                len(session.item_ids) if session else 0,
                0,
                timings,
            )
    popular = catalog.popular
    if categories is not None:
        popular = np.concatenate(
            [catalog.category_popular.get(int(c), np.zeros(0, np.int32)) for c in categories]
        )
    excluded_idx = catalog.indices_of(list(exclude))
    popular = popular[~np.isin(popular, excluded_idx)][: query.k]
    scores = catalog.popularity[popular].astype(np.float64)
    return Answer(
        _items(catalog, popular, scores),
        state.model_version,
        True,
        f"{reason}; served popular items",
        len(session.item_ids) if session else 0,
        0,
        timings,
    )


def _arrays(session: SessionState | None, catalog: Catalog) -> SessionArrays:
    if session is None:
        return SessionArrays.empty()
    return session_arrays(session, catalog._index)


def _excluded_ids(query: Query, session: SessionState | None) -> list[str]:
    ids = list(query.exclude)
    if query.exclude_seen and session is not None:
        ids += session.item_ids
    return ids


def _exclusions(catalog: Catalog, query: Query, session: SessionState | None) -> np.ndarray | None:
    ids = _excluded_ids(query, session)
    if not ids:
        return None
    idx = catalog.indices_of(ids)
    return idx[idx >= 0]


def _category_codes(catalog: Catalog, names: tuple[str, ...]) -> np.ndarray | None:
    if not names:
        return None
    codes = [catalog.category_code(n) for n in names]
    unknown = [n for n, c in zip(names, codes, strict=True) if c < 0]
    if unknown:
        known = ", ".join(catalog.category_names[:10]) or "(this catalog has no categories)"
        raise UnknownCategoryError(
            f"categories: unknown {unknown}; known categories include: {known}"
        )
    return np.asarray(codes, np.int32)


def _items(
    catalog: Catalog, idx: np.ndarray, scores: np.ndarray, ids: list[str] | None = None
) -> list[ItemOut]:
    out = []
    for rank, (i, score) in enumerate(zip(idx, scores, strict=True), start=1):
        i = int(i)
        known = i >= 0
        price = float(catalog.price[i]) if known else float("nan")
        title = catalog.titles[i] if known else None
        out.append(
            ItemOut(
                item_id=str(catalog.item_ids[i]) if known else (ids[rank - 1] if ids else "?"),
                score=round(float(score), 6),
                rank=rank,
                category=catalog.category_of(i) if known else None,
                price=None if np.isnan(price) else round(price, 2),
                title=str(title) if title is not None else None,
            )
        )
    return out


def _explain(
    items: list[ItemOut], contributions: np.ndarray, features: np.ndarray, names: list[str]
) -> None:
    for item, row, feature_row in zip(items, contributions, features, strict=False):
        values = row[:-1]  # the last column is the bias term
        top = np.argsort(-np.abs(values))[:EXPLAIN_TOP]
        item.explanation = [
            Contribution(
                feature=names[j],
                label=feature_label(names[j]),
                value=None if np.isnan(feature_row[j]) else round(float(feature_row[j]), 5),
                contribution=round(float(values[j]), 5),
            )
            for j in top
        ]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
