"""The hidden world behind `recsys ingest generate`: catalog, companion items, users, tastes.

Nothing here is written out as such; the generator samples events from it. Tests read it to
check that the planted structure (companions, popularity, tastes) shows in the events.
Every array is indexed by an internal id: items are grouped by category and ranked by
popularity inside it, so sampling an item of a category is one `searchsorted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

COMPANIONS_PER_ITEM: Final = 3
# Share of companion links that cross into the category's related one (phone -> case).
CROSS_CATEGORY_COMPANIONS: Final = 0.2
ZIPF_EXPONENT: Final = 1.1
# Share of items on sale before the window starts; the rest launch during it.
PRELAUNCHED_ITEMS: Final = 0.75
TASTE_SLOTS: Final = 5
REGIONS: Final = ("north", "south", "east", "west", "central", "abroad")
_REGION_SHARES: Final = (0.28, 0.22, 0.18, 0.16, 0.11, 0.05)


@dataclass(frozen=True)
class Catalog:
    """Items and their hidden structure, indexed by internal item id."""

    category: np.ndarray
    """int32 category of each item; items are contiguous per category."""
    category_start: np.ndarray
    """int64 first internal id of each category (its most popular item, always on sale)."""
    category_share: np.ndarray
    """float64 share of items per category (uneven by design)."""
    related: np.ndarray
    """int32 the category each category's cross-category companions come from."""
    cdf: np.ndarray
    """float64 category + cumulative popularity inside it: sampling is one searchsorted."""
    launch_s: np.ndarray
    """float64 launch time, seconds from the window start (negative: before it)."""
    price: np.ndarray
    brand: np.ndarray
    companions: np.ndarray
    """int32 (items, COMPANIONS_PER_ITEM): items that follow each item far more than chance."""
    public_id: np.ndarray
    """int64 the number in the written item id `i<n>` (shuffled: ids reveal no category)."""

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self.category)

    def sample(self, categories: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """Draw one item per entry of `categories`, by popularity inside the category."""
        found = np.searchsorted(self.cdf, categories + uniforms, side="right")
        # Guard the upper edge of a category against rounding into the next one.
        last = np.append(self.category_start[1:], self.size) - 1
        return np.minimum(found, last[categories]).astype(np.int64)


@dataclass(frozen=True)
class Population:
    """Users and their hidden behaviour, indexed by internal user id."""

    activity: np.ndarray
    """float64 heavy-tailed relative rate of sessions."""
    join_s: np.ndarray
    """float64 first possible activity, seconds from the window start."""
    propensity: np.ndarray
    """float64 multiplier on the chance to cart a viewed item."""
    taste_categories: np.ndarray
    """int32 (users, TASTE_SLOTS) the categories a user cares about."""
    taste_start_cdf: np.ndarray
    """float64 (users, TASTE_SLOTS) cumulative weights at the window start."""
    taste_end_cdf: np.ndarray
    """float64 (users, TASTE_SLOTS) the same at the window end: tastes drift between them."""
    region: np.ndarray
    """int8 index into REGIONS (the extra column of users.parquet)."""

    @property
    def size(self) -> int:
        """Number of users."""
        return len(self.activity)


def build_catalog(
    *, items: int, categories: int, span_s: float, rng: np.random.Generator
) -> Catalog:
    """Create `items` items in `categories` categories of uneven size.

    Popularity is Zipf-like inside each category, prices are lognormal per category, a
    quarter of the items launch during the window, and each item gets a few companions.
    """
    share = rng.dirichlet(np.full(categories, 1.0))
    # Every category keeps a few items so companions and repeats have room.
    sizes = 4 + rng.multinomial(items - 4 * categories, share)
    category = np.repeat(np.arange(categories, dtype=np.int32), sizes)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    rank = np.arange(items) - start[category] + 1
    weight = rank ** (-ZIPF_EXPONENT) * rng.lognormal(0.0, 0.25, items)
    weight[start] = np.maximum(weight[start], weight[start + 1] * 1.01)  # top item stays top
    totals = np.bincount(category, weights=weight, minlength=categories)
    within = np.cumsum(weight) - np.repeat(np.cumsum(totals) - totals, sizes)
    within /= totals[category]
    within[np.append(start[1:], items) - 1] = 1.0
    cdf = category + within

    launch = np.where(
        rng.random(items) < PRELAUNCHED_ITEMS,
        -rng.uniform(0.0, 365 * 86_400.0, items),
        rng.uniform(0.0, span_s * 0.9, items),
    )
    launch[start] = -1.0  # each category's top item is always on sale (sampling fallback)
    median = np.exp(rng.normal(np.log(30.0), 0.9, categories))
    price = np.maximum(np.floor(median[category] * rng.lognormal(0.0, 0.5, items)), 0.0) + 0.99
    brands = max(5, 3 * categories)
    brand = (3 * category + np.minimum(rng.geometric(0.35, items) - 1, 7)) % brands

    others = np.arange(categories) if categories > 1 else np.zeros(1, dtype=np.int64)
    related = np.array(
        [rng.choice(others[others != c]) if categories > 1 else c for c in range(categories)],
        dtype=np.int32,
    )
    companions = _companions(category, start, sizes, related, rng)
    return Catalog(
        category=category,
        category_start=start,
        category_share=share,
        related=related,
        cdf=cdf,
        launch_s=launch,
        price=price,
        brand=brand.astype(np.int32),
        companions=companions,
        public_id=rng.permutation(items).astype(np.int64) + 1,
    )


def build_population(
    *, users: int, catalog: Catalog, span_s: float, rng: np.random.Generator
) -> Population:
    """Create `users` users with heavy-tailed activity and concentrated, drifting tastes."""
    categories = len(catalog.category_start)
    join = np.where(rng.random(users) < 0.6, 0.0, rng.uniform(0.0, span_s * 0.85, users))
    slots = rng.choice(categories, size=(users, TASTE_SLOTS), p=catalog.category_share)
    # Dirichlet(0.5) weights: most users care about one or two of their slots; start and end
    # weights differ, so what a user looks at drifts across the window.
    start = rng.gamma(0.5, size=(users, TASTE_SLOTS))
    end = rng.gamma(0.5, size=(users, TASTE_SLOTS))
    return Population(
        activity=rng.lognormal(0.0, 1.0, users),
        join_s=join,
        propensity=np.clip(rng.lognormal(0.0, 0.5, users), 0.2, 5.0),
        taste_categories=slots.astype(np.int32),
        taste_start_cdf=_row_cdf(start),
        taste_end_cdf=_row_cdf(end),
        region=rng.choice(len(REGIONS), size=users, p=_REGION_SHARES).astype(np.int8),
    )


def sample_categories(
    population: Population,
    catalog: Catalog,
    *,
    users: np.ndarray,
    progress: np.ndarray,
    rng: np.random.Generator,
    explore: float = 0.08,
) -> np.ndarray:
    """Draw a category per (user, point in the window) from the user's drifted taste.

    Args:
        population: The users.
        catalog: The items (for the popularity of categories when exploring).
        users: Internal user ids.
        progress: 0 at the window start, 1 at its end, per draw.
        rng: Randomness.
        explore: Chance to ignore taste and pick a category by overall share.
    """
    late = rng.random(len(users)) < progress
    cdf = np.where(
        late[:, None], population.taste_end_cdf[users], population.taste_start_cdf[users]
    )
    slot = np.minimum((cdf < rng.random(len(users))[:, None]).sum(axis=1), TASTE_SLOTS - 1)
    chosen = population.taste_categories[users, slot]
    wander = rng.random(len(users)) < explore
    if wander.any():
        chosen[wander] = rng.choice(
            len(catalog.category_start), size=int(wander.sum()), p=catalog.category_share
        )
    return chosen.astype(np.int64)


def _companions(
    category: np.ndarray,
    start: np.ndarray,
    sizes: np.ndarray,
    related: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    items = len(category)
    shape = (items, COMPANIONS_PER_ITEM)
    cross = rng.random(shape) < CROSS_CATEGORY_COMPANIONS
    target = np.where(cross, related[category][:, None], category[:, None])
    # Uniform inside the target category: companions reach into the long tail, which is what
    # makes them worth finding (popularity alone would not suggest them).
    picked = start[target] + (rng.random(shape) * sizes[target]).astype(np.int64)
    own = np.arange(items)[:, None]
    clash = picked == own
    shifted = start[target] + (picked - start[target] + 1) % sizes[target]
    return np.where(clash, shifted, picked).astype(np.int32)


def _row_cdf(weights: np.ndarray) -> np.ndarray:
    weights = weights + 1e-12
    cdf = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    cdf[:, -1] = 1.0
    return cdf
