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
from functools import cached_property

import numpy as np
from numba import njit

from recsys.ranking.candidates import Candidates, UserContext
from recsys.ranking.catalog import NO_CATEGORY, Catalog
from recsys.ranking.columns import columns
from recsys.ranking.session import SESSION_FEATURES, TYPE_CODE, SessionArrays

EPOCH_SUFFIX = "_epoch_s"
ENGAGED_TYPE = TYPE_CODE["add_to_cart"]  # add_to_cart or purchase
SECONDS_PER_DAY = 86_400.0

# Cross features: name -> meaning. _fill_cross writes each by name (CROSS.<name>).
CROSS_FEATURES = {
    "in_session_count": "times the candidate occurs in the session",
    "in_session_recency": "events since the candidate last occurred in the session",
    "is_last_item": "1 when the candidate is the session's last item",
    "engaged_in_session": "1 when the candidate was carted or bought in the session",
    "candidate_prescore": "the candidate generators' fused score",
    "covis_sum": "co-visitation with the context items, recency-weighted sum",
    "covis_sum_norm": "covis_sum over the best candidate's",
    "covis_last": "co-visitation with the most recent context item",
    "covis_last_rank": "rank among the most recent item's co-visited neighbours",
    "seq_sum": "sequential (a then b) neighbour score with the context, weighted sum",
    "seq_sum_norm": "seq_sum over the best candidate's",
    "seq_last": "sequential score after the most recent context item",
    "seq_last_rank": "rank among the most recent item's sequential neighbours",
    "sknn": "session-kNN score (votes of similar past sessions)",
    "sknn_norm": "sknn over the best candidate's",
    "embed_sum": "embedding (session PPMI-SVD) similarity to the context, recency-weighted sum",
    "embed_last_rank": "rank among the most recent item's embedding neighbours",
    "sr_score": "sequential-rule (SR, 1 / gap) weight from the most recent context item",
    "sr_rank": "rank among the most recent item's sequential rules",
    "popularity": "time-decayed popularity",
    "popularity_norm": "popularity over the most popular item's",
    "events_last_day": "events on the candidate in the last day",
    "same_category_as_last": "1 when in the category of the most recent context item",
    "session_category_share": "share of the session's events in the candidate's category",
    "user_category_share": "the user's share of activity in the candidate's category",
    "price_vs_session": "price over the session's mean price",
    "price_vs_user": "price over the user's average price",
    "user_recent_rank": "position among the user's recent items (1 = most recent)",
    "context_from_user_history": "1 when the context came from history (empty session)",
    "user_is_known": "1 when the user has batch features",
}
CROSS = columns(CROSS_FEATURES)


def feature_label(name: str) -> str:
    """A model feature's meaning in words, for people reading an explanation.

    Session and cross features have their meanings above; batch features are named after
    their Feast column (`item_price` -> "item: price", `user_last_event_days_ago` ->
    "user: last event, days ago").
    """
    meaning = SESSION_FEATURES.get(name) or CROSS_FEATURES.get(name)
    if meaning:
        return meaning
    for prefix in ("item", "user"):
        if name.startswith(prefix + "_"):
            rest = name[len(prefix) + 1 :]
            ago = rest.endswith("_days_ago")
            words = (rest[: -len("_days_ago")] if ago else rest).replace("_", " ")
            return f"{prefix}: {words}{', days ago' if ago else ''}"
    return name.replace("_", " ")


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

    @cached_property
    def item_epoch_mask(self) -> np.ndarray:
        """True at the `*_epoch_s` item features (they become `*_days_ago`)."""
        return np.asarray([f.endswith(EPOCH_SUFFIX) for f in self.item_features], np.bool_)

    @cached_property
    def user_epoch_mask(self) -> np.ndarray:
        return np.asarray([f.endswith(EPOCH_SUFFIX) for f in self.user_features], np.bool_)


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
    out: np.ndarray | None = None,
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
        out: Where to write the matrix (a C-contiguous float32 block of that shape, e.g. rows
            of a training set's matrix); default a new array.
    """
    n_item, n_user = len(layout.item_features), len(layout.user_features)
    shape = (len(candidates), n_item + n_user + len(SESSION_FEATURES) + len(CROSS_FEATURES))
    if out is None:
        X = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(
            f"assemble: out is {out.dtype}{out.shape}, expected a C-contiguous float32{shape}"
        )
    else:
        X = out
    _fill_batch_columns(
        X,
        np.ascontiguousarray(item_rows, np.float32),
        layout.item_epoch_mask,
        np.ascontiguousarray(user.features, np.float32),
        layout.user_epoch_mask,
        np.ascontiguousarray(session_row, np.float32),
        float(now_s),
    )
    _cross(
        X[:, X.shape[1] - len(CROSS_FEATURES) :], catalog, candidates, user, session, user_avg_price
    )
    return X


@njit(cache=True)
def _fill_batch_columns(
    X: np.ndarray,
    item_rows: np.ndarray,
    item_epochs: np.ndarray,
    user_row: np.ndarray,
    user_epochs: np.ndarray,
    session_row: np.ndarray,
    now_s: float,
) -> None:
    """Item, user and session columns; `*_epoch_s` ones become days before now_s.

    The arithmetic is float32, as numpy's on these float32 columns, so a model reads the same
    numbers whichever of the two computed them.
    """
    now = np.float32(now_s)
    day = np.float32(SECONDS_PER_DAY)
    n_item, n_user = item_rows.shape[1], len(user_row)
    user_values = user_row.copy()
    for j in range(n_user):
        if user_epochs[j]:
            user_values[j] = (now - user_values[j]) / day
    for i in range(X.shape[0]):
        for j in range(n_item):
            value = item_rows[i, j]
            X[i, j] = (now - value) / day if item_epochs[j] else value
        for j in range(n_user):
            X[i, n_item + j] = user_values[j]
        for j in range(len(session_row)):
            X[i, n_item + n_user + j] = session_row[j]


def _cross(
    out: np.ndarray,
    catalog: Catalog,
    cands: Candidates,
    user: UserContext,
    session: SessionArrays,
    user_avg_price: float,
) -> None:
    known = session.items >= 0
    top_popularity = catalog.popularity[catalog.popular[0]] if len(catalog.popular) else 0.0
    _fill_cross(
        out,
        (cands.items, cands.prescore),
        (cands.covis_sum, cands.covis_last, cands.covis_last_rank),
        (cands.seq_sum, cands.seq_last, cands.seq_last_rank, cands.sknn),
        (cands.embed_sum, cands.embed_last_rank),
        (cands.sr_score, cands.sr_rank),
        cands.context.items,
        (session.items[known], session.types[known].astype(np.int8)),
        (catalog.popularity, catalog.recent_events, catalog.price, catalog.category_codes),
        (user.top_categories, user.top_category_shares, user.recent_items),
        (
            float(top_popularity),
            float(user_avg_price),
            float(cands.context.from_user_history),
            float(user.known),
        ),
    )


@njit(cache=True)
def _fill_cross(
    out: np.ndarray,
    candidates: tuple[np.ndarray, np.ndarray],
    covis: tuple[np.ndarray, np.ndarray, np.ndarray],
    seq: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    embed: tuple[np.ndarray, np.ndarray],
    rules: tuple[np.ndarray, np.ndarray],
    context: np.ndarray,
    session: tuple[np.ndarray, np.ndarray],
    catalog: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    user: tuple[np.ndarray, np.ndarray, np.ndarray],
    scalars: tuple[float, float, float, float],
) -> None:
    """Write every CROSS_FEATURES column into `out` (compiled: one pass over the candidates).

    nan means "does not apply" (no session, no category, no price, ...) and 0 "applies, none".
    """
    items, prescore = candidates
    covis_sum, covis_last, covis_last_rank = covis
    seq_sum, seq_last, seq_last_rank, sknn = seq
    embed_sum, embed_last_rank = embed
    sr_score, sr_rank = rules
    session_items, session_types = session
    popularity, recent_events, price, category_codes = catalog
    user_categories, user_shares, user_recent = user
    top_popularity, user_avg_price, from_history, user_known = scalars
    nan = np.float32(np.nan)
    n_session = len(session_items)

    # session-wide numbers: category shares and mean price of the session's events
    session_cats = np.empty(n_session, np.int32)
    n_categorized = 0
    session_prices = np.empty(n_session, np.float32)
    n_priced = 0
    for j in range(n_session):
        code = category_codes[session_items[j]]
        if code != NO_CATEGORY:
            session_cats[n_categorized] = code
            n_categorized += 1
        p = price[session_items[j]]
        if not np.isnan(p):
            session_prices[n_priced] = p
            n_priced += 1
    session_price = np.float32(0.0)
    if n_priced:
        session_price = _pairwise_sum(session_prices, n_priced) / np.float32(n_priced)
    last_cat = category_codes[context[0]] if len(context) else NO_CATEGORY
    # the user's recent items, first occurrence only, for their rank
    recent = np.empty(len(user_recent), np.int32)
    n_recent = 0
    for item in user_recent:
        if item not in recent[:n_recent]:
            recent[n_recent] = item
            n_recent += 1
    tops = np.zeros(3, np.float32)
    for c, values in enumerate((covis_sum, seq_sum, sknn)):
        tops[c] = values.max() if len(values) else np.float32(0.0)

    for i in range(len(items)):
        item = items[i]
        row = out[i]
        if n_session:
            count = 0
            last_at = -1
            engaged = False
            for j in range(n_session):
                if session_items[j] == item:
                    count += 1
                    last_at = j
                    engaged = engaged or session_types[j] >= ENGAGED_TYPE
            row[CROSS.in_session_count] = count
            row[CROSS.in_session_recency] = n_session - 1 - last_at if last_at >= 0 else nan
            row[CROSS.is_last_item] = 1.0 if session_items[n_session - 1] == item else 0.0
            row[CROSS.engaged_in_session] = 1.0 if engaged else 0.0
        else:
            row[CROSS.in_session_count] = 0.0
            row[CROSS.in_session_recency] = nan
            row[CROSS.is_last_item] = 0.0
            row[CROSS.engaged_in_session] = 0.0
        row[CROSS.candidate_prescore] = prescore[i]
        row[CROSS.covis_sum] = covis_sum[i]
        row[CROSS.covis_sum_norm] = covis_sum[i] / tops[0] if tops[0] > 0 else np.float32(0.0)
        row[CROSS.covis_last] = covis_last[i]
        row[CROSS.covis_last_rank] = covis_last_rank[i]
        row[CROSS.seq_sum] = seq_sum[i]
        row[CROSS.seq_sum_norm] = seq_sum[i] / tops[1] if tops[1] > 0 else np.float32(0.0)
        row[CROSS.seq_last] = seq_last[i]
        row[CROSS.seq_last_rank] = seq_last_rank[i]
        row[CROSS.sknn] = sknn[i]
        row[CROSS.sknn_norm] = sknn[i] / tops[2] if tops[2] > 0 else np.float32(0.0)
        row[CROSS.embed_sum] = embed_sum[i]
        row[CROSS.embed_last_rank] = embed_last_rank[i]
        row[CROSS.sr_score] = sr_score[i]
        row[CROSS.sr_rank] = sr_rank[i]
        row[CROSS.popularity] = popularity[item]
        row[CROSS.popularity_norm] = (
            popularity[item] / np.float32(top_popularity) if top_popularity > 0 else np.float32(0.0)
        )
        row[CROSS.events_last_day] = recent_events[item]

        cat = category_codes[item]
        row[CROSS.same_category_as_last] = nan
        row[CROSS.session_category_share] = nan
        row[CROSS.user_category_share] = nan
        if cat != NO_CATEGORY:
            if last_cat != NO_CATEGORY:
                row[CROSS.same_category_as_last] = 1.0 if cat == last_cat else 0.0
            if n_categorized:
                same = 0
                for j in range(n_categorized):
                    if session_cats[j] == cat:
                        same += 1
                row[CROSS.session_category_share] = np.float32(same) / np.float32(n_categorized)
            if len(user_categories):
                row[CROSS.user_category_share] = 0.0
                for j in range(len(user_categories)):
                    if user_categories[j] == cat:
                        row[CROSS.user_category_share] = user_shares[j]
                        break
        row[CROSS.price_vs_session] = price[item] / session_price if session_price > 0 else nan
        row[CROSS.price_vs_user] = (
            price[item] / np.float32(user_avg_price) if user_avg_price > 0 else nan
        )
        row[CROSS.user_recent_rank] = nan
        for j in range(n_recent):
            if recent[j] == item:
                row[CROSS.user_recent_rank] = j + 1
                break
        row[CROSS.context_from_user_history] = from_history
        row[CROSS.user_is_known] = user_known


@njit(cache=True)
def _pairwise_sum(values: np.ndarray, n: int) -> np.float32:
    """numpy's float32 pairwise summation of values[:n], so a mean equals numpy's to the bit.

    numpy splits runs longer than 128 in two (the first part a multiple of 8) and adds the
    halves; the split tree is walked with an explicit stack, because numba's cache cannot
    hold a recursive function.
    """
    if n <= 128:
        return _block_sum(values, 0, n)
    starts = np.zeros(64, np.int64)
    sizes = np.zeros(64, np.int64)
    stage = np.zeros(64, np.int8)  # 0 = start, 1 = left half returned, 2 = right returned
    left = np.zeros(64, np.float32)
    sizes[0] = n
    top = 0
    result = np.float32(0.0)
    while top >= 0:
        start, size = starts[top], sizes[top]
        if size <= 128:
            result = _block_sum(values, start, size)
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        if stage[top] == 0:
            stage[top] = 1
            top += 1
            starts[top], sizes[top], stage[top] = start, half, 0
        elif stage[top] == 1:
            left[top] = result
            stage[top] = 2
            top += 1
            starts[top], sizes[top], stage[top] = start + half, size - half, 0
        else:
            result = left[top] + result
            top -= 1
    return result


@njit(cache=True)
def _block_sum(values: np.ndarray, start: int, n: int) -> np.float32:
    """One run of at most 128 values, summed as numpy does (8 interleaved partial sums)."""
    if n < 8:
        total = np.float32(0.0)
        for i in range(n):
            total += values[start + i]
        return total
    partial = values[start : start + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            partial[j] += values[start + i + j]
        i += 8
    total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
        (partial[4] + partial[5]) + (partial[6] + partial[7])
    )
    while i < n:
        total += values[start + i]
        i += 1
    return total
