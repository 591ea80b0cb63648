"""Turn a user's batch feature row (online from Feast or point-in-time offline) into context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recsys.ranking.candidates import UserContext
from recsys.ranking.catalog import NO_CATEGORY, Catalog

RECENT_ITEMS = "recent_item_ids"
TOP_CATEGORIES = "top_categories"
TOP_CATEGORY_SHARES = "top_category_shares"
AVG_PRICE = "avg_price_30d"


def user_context(
    row: Mapping[str, Any] | None, catalog: Catalog, numeric_features: Sequence[str]
) -> UserContext:
    """Build the UserContext from one feature row; an absent row means an unknown user.

    Args:
        row: Feature name -> value (lists for the list features); None or all-null = unknown.
        catalog: Maps item ids and category names to catalog indices.
        numeric_features: The numeric user features, in the ranker's order.
    """
    if row is None:
        return UserContext.unknown(len(numeric_features))
    values = _numbers([row.get(name) for name in numeric_features])
    recent = _strings(row.get(RECENT_ITEMS))
    categories = _strings(row.get(TOP_CATEGORIES))
    shares = row.get(TOP_CATEGORY_SHARES)
    share_values = np.asarray(
        [_number(s) for s in shares] if shares is not None else [], np.float32
    )
    known = bool(np.isfinite(values).any() or recent)
    if not known:
        return UserContext.unknown(len(numeric_features))
    recent_idx = catalog.indices_of(recent)
    length = min(len(categories), len(share_values))
    codes = np.asarray([catalog.category_code(c) for c in categories[:length]], np.int32)
    keep = codes != NO_CATEGORY
    return UserContext(
        features=values,
        recent_items=recent_idx[recent_idx >= 0],
        top_categories=codes[keep],
        top_category_shares=share_values[:length][keep],
        known=True,
    )


def average_price(row: Mapping[str, Any] | None) -> float:
    """The user's price level, nan when unknown."""
    return _number(row.get(AVG_PRICE)) if row else float("nan")


def _numbers(values: list[Any]) -> np.ndarray:
    """float32 values, nan for None or anything that is not a number."""
    try:
        # numpy reads None as nan and numbers (or numeric strings) as themselves
        fast = np.array(values, np.float64)
        if fast.shape == (len(values),):
            return fast.astype(np.float32)
    except (TypeError, ValueError):
        pass
    return np.array([_number(v) for v in values], np.float32)


def _number(value: Any) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value if v is not None]
