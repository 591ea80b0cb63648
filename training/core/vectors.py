"""Feature vectors: one row per candidate, the same columns in training and serving.

Columns come in four groups: the candidate item's batch features (from the item_features
view), the user's batch features (user_features view), the session's features (session.py),
and cross features relating the candidate to the session and user (co-visitation to the
session, same category as the last item, price relative to the session, ...).

Timestamps never enter the model raw: every `*_epoch_s` feature becomes `*_days_ago`,
measured from the request's reference time, so a model trained on old data reads the same
numbers for a fresh request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.core.candidates import Candidates, UserContext
from training.core.catalog import NO_CATEGORY, Catalog
from training.core.session import SESSION_FEATURES, TYPE_CODE, SessionArrays

EPOCH_SUFFIX = "_epoch_s"
SECONDS_PER_DAY = 86_400.0

CROSS_FEATURES = [
    "in_session_count",
    "in_session_recency",
    "is_last_item",
    "engaged_in_session",
    "candidate_prescore",
    "covis_sum",
    "covis_sum_norm",
    "covis_last",
    "covis_last_rank",
    "seq_sum",
    "seq_sum_norm",
    "seq_last",
    "seq_last_rank",
    "sknn",
    "sknn_norm",
    "popularity",
    "popularity_norm",
    "events_last_day",
    "same_category_as_last",
    "session_category_share",
    "user_category_share",
    "price_vs_session",
    "price_vs_user",
    "user_recent_rank",
    "context_from_user_history",
    "user_is_known",
]


def _model_name(prefix: str, feature: str) -> str:
    if feature.endswith(EPOCH_SUFFIX):
        return f"{prefix}_{feature[: -len(EPOCH_SUFFIX)]}_days_ago"
    return f"{prefix}_{feature}"


@dataclass(frozen=True)
class FeatureLayout:
    """Column names and positions of the feature matrix.

    Args:
        item_features: numeric item feature names, in catalog / Feast order.
        user_features: numeric user feature names, in Feast order.
    """

    item_features: tuple[str, ...]
    user_features: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [
            *(_model_name("item", f) for f in self.item_features),
            *(_model_name("user", f) for f in self.user_features),
            *SESSION_FEATURES,
            *CROSS_FEATURES,
        ]

    def columns_for(self, model_features: list[str]) -> np.ndarray:
        """Positions of a model's feature list in this layout (a KeyError names the missing one)."""
        position = {name: i for i, name in enumerate(self.names)}
        missing = [f for f in model_features if f not in position]
        if missing:
            raise KeyError(
                f"model expects features {missing} that the current feature service does not "
                "provide; retrain (`make train`) or restore the feature service the model used"
            )
        return np.asarray([position[f] for f in model_features], np.int64)

    def epoch_columns(self, names: tuple[str, ...]) -> np.ndarray:
        return np.asarray([i for i, f in enumerate(names) if f.endswith(EPOCH_SUFFIX)], np.int64)


def assemble(
    layout: FeatureLayout,
    catalog: Catalog,
    candidates: Candidates,
    *,
    item_rows: np.ndarray,
    user: UserContext,
    session: SessionArrays,
    session_row: np.ndarray,
    now_s: float,
    user_avg_price: float = float("nan"),
) -> np.ndarray:
    """Return the float32 feature matrix [candidates, len(layout.names)].

    Args:
        layout: Column layout.
        catalog: Item-side state used to generate the candidates.
        candidates: The candidates and their relational scores.
        item_rows: Item batch features of the candidates, [candidates, len(item_features)].
        user: The user's batch features.
        session: The current session.
        session_row: session_features(session).
        now_s: Reference time (epoch seconds) for every `*_days_ago` column.
        user_avg_price: The user's average price level (nan when unknown).
    """
    n = len(candidates)
    n_item, n_user = len(layout.item_features), len(layout.user_features)
    X = np.empty((n, n_item + n_user + len(SESSION_FEATURES) + len(CROSS_FEATURES)), np.float32)
    col = 0

    X[:, col : col + n_item] = item_rows
    epochs = layout.epoch_columns(layout.item_features)
    if len(epochs):
        X[:, col + epochs] = (now_s - X[:, col + epochs]) / SECONDS_PER_DAY
    col += n_item

    user_row = user.features.copy()
    epochs = layout.epoch_columns(layout.user_features)
    if len(epochs):
        user_row[epochs] = (now_s - user_row[epochs]) / SECONDS_PER_DAY
    X[:, col : col + n_user] = user_row
    col += n_user

    X[:, col : col + len(SESSION_FEATURES)] = session_row
    col += len(SESSION_FEATURES)

    X[:, col:] = _cross(catalog, candidates, user, session, user_avg_price)
    return X


def _cross(
    catalog: Catalog,
    cands: Candidates,
    user: UserContext,
    session: SessionArrays,
    user_avg_price: float,
) -> np.ndarray:
    items = cands.items
    n = len(items)
    out = np.full((n, len(CROSS_FEATURES)), np.nan, np.float32)
    nan = np.float32(np.nan)

    known = session.items >= 0
    sess_items = session.items[known]
    if len(sess_items):
        uniq, counts = np.unique(sess_items, return_counts=True)
        out[:, 0] = _gather(uniq, counts.astype(np.float32), items, 0.0)
        reversed_items = sess_items[::-1]
        uniq_r, first_r = np.unique(reversed_items, return_index=True)
        out[:, 1] = _gather(uniq_r, first_r.astype(np.float32), items, nan)
        out[:, 2] = (items == sess_items[-1]).astype(np.float32)
        engaged = sess_items[session.types[known] >= TYPE_CODE["add_to_cart"]]
        out[:, 3] = np.isin(items, engaged).astype(np.float32)
    else:
        out[:, 0] = 0.0
        out[:, 2] = 0.0
        out[:, 3] = 0.0

    out[:, 4] = cands.prescore
    out[:, 5] = cands.covis_sum
    out[:, 6] = _normalized(cands.covis_sum)
    out[:, 7] = cands.covis_last
    out[:, 8] = cands.covis_last_rank
    out[:, 9] = cands.seq_sum
    out[:, 10] = _normalized(cands.seq_sum)
    out[:, 11] = cands.seq_last
    out[:, 12] = cands.seq_last_rank
    out[:, 13] = cands.sknn
    out[:, 14] = _normalized(cands.sknn)

    popularity = catalog.popularity[items]
    out[:, 15] = popularity
    top = catalog.popularity[catalog.popular[0]] if len(catalog.popular) else 0.0
    out[:, 16] = popularity / top if top > 0 else 0.0
    out[:, 17] = catalog.recent_events[items]

    cats = catalog.category_codes[items]
    has_cat = cats != NO_CATEGORY
    context = cands.context.items
    if len(context):
        last_cat = catalog.category_codes[context[0]]
        if last_cat != NO_CATEGORY:
            out[has_cat, 18] = (cats[has_cat] == last_cat).astype(np.float32)
        ctx_cats = catalog.category_codes[sess_items] if len(sess_items) else np.zeros(0, np.int32)
        ctx_cats = ctx_cats[ctx_cats != NO_CATEGORY]
        if len(ctx_cats):
            uniq_c, counts_c = np.unique(ctx_cats, return_counts=True)
            share = counts_c.astype(np.float32) / len(ctx_cats)
            out[has_cat, 19] = _gather(uniq_c, share, cats[has_cat], 0.0)
    if len(user.top_categories) and has_cat.any():
        order = np.argsort(user.top_categories)
        out[has_cat, 20] = _gather(
            user.top_categories[order], user.top_category_shares[order], cats[has_cat], 0.0
        )

    price = catalog.price[items]
    if len(sess_items):
        sess_prices = catalog.price[sess_items]
        sess_prices = sess_prices[~np.isnan(sess_prices)]
        if len(sess_prices) and sess_prices.mean() > 0:
            out[:, 21] = price / sess_prices.mean()
    if user_avg_price > 0:
        out[:, 22] = price / user_avg_price

    if len(user.recent_items):
        _, first = np.unique(user.recent_items, return_index=True)
        out[:, 23] = _rank_in(user.recent_items[np.sort(first)], items)
    out[:, 24] = float(cands.context.from_user_history)
    out[:, 25] = float(user.known)
    return out


def _gather(
    keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float | np.floating
) -> np.ndarray:
    """values[keys == q] for each q in query (keys sorted ascending); default where absent."""
    out = np.full(len(query), default, np.float32)
    if len(keys) == 0:
        return out
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hit = keys[pos] == query
    out[hit] = values[pos[hit]]
    return out


def _rank_in(ordered: np.ndarray, query: np.ndarray) -> np.ndarray:
    """1-based position of each query item in an ordered list; nan where absent."""
    order = np.argsort(ordered, kind="stable")
    return _gather(ordered[order], (order + 1).astype(np.float32), query, np.float32(np.nan))


def _normalized(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values)
