"""Sessions of the built-in generator: when they happen, and which events they hold.

`plan_sessions` lays sessions out in time: heavy-tailed lengths, sessions spread by a diurnal
and weekly rhythm, and any two sessions of one user more than 30 minutes apart (so dbt's gap
rule recovers them exactly when session ids are left out). `walk_sessions` fills them with a
view -> add_to_cart -> purchase funnel whose next item is a repeat, a companion of the current
item, another item of its category, or a new pick from the user's taste.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

import numpy as np

from recsys.ingest.synthetic_world import Catalog, Population, sample_categories

VIEW, ADD_TO_CART, PURCHASE = 0, 1, 2
SESSION_GAP_S: Final = 30 * 60
# Sessions of one user are at least this far apart: the 30-minute rule plus a margin.
MIN_GAP_S: Final = SESSION_GAP_S + 60
# Inside a session no pause reaches 30 minutes, so gap sessionization never splits one.
MAX_PAUSE_S: Final = 25 * 60
MAX_SESSION_EVENTS: Final = 200
# Funnel: chance that a view is followed by carting it (times the user's propensity and a
# price factor), and that a cart is followed by buying it.
CART_RATE: Final = 0.08
PURCHASE_RATE: Final = 0.33
# Next-item mix after a view: repeat an item of this session, a companion of the current one,
# another item of its category; the rest is a fresh pick from the user's taste.
REPEAT, COMPANION, SAME_CATEGORY = 0.14, 0.30, 0.30
COMPANION_WEIGHTS: Final = np.array([0.5, 0.3, 0.2])
# Relative activity per UTC hour (evening peak, night trough) and per weekday (Mon..Sun).
HOURLY: Final = np.array(
    [0.55, 0.35, 0.22, 0.15, 0.12, 0.14, 0.25, 0.45, 0.65, 0.80, 0.90, 0.95,
     1.00, 1.00, 0.95, 0.95, 1.00, 1.10, 1.25, 1.40, 1.50, 1.45, 1.20, 0.85]
)  # fmt: skip
WEEKDAY: Final = np.array([0.95, 0.95, 0.97, 1.0, 1.02, 1.08, 1.12])
_CHUNK_EVENTS: Final = 500_000


@dataclass(frozen=True)
class SessionPlan:
    """Sessions sorted by start time; events of session s are at offset[s]..offset[s]+length[s]."""

    user: np.ndarray
    start_s: np.ndarray
    """float64 seconds from the window start."""
    length: np.ndarray
    offset: np.ndarray
    event_offset_s: np.ndarray
    """float64 per event: seconds after its session's start."""

    @property
    def events(self) -> int:
        """Number of events over all sessions."""
        return len(self.event_offset_s)


def plan_sessions(
    *,
    events: int,
    population: Population,
    span_s: float,
    window_start_epoch_s: float,
    rng: np.random.Generator,
) -> SessionPlan:
    """Lay out sessions holding exactly `events` events over a window of `span_s` seconds."""
    length = _session_lengths(events, rng)
    sessions = len(length)
    span_left = np.maximum(span_s - population.join_s, 1.0)
    weight = population.activity * span_left
    user = rng.choice(population.size, size=sessions, p=weight / weight.sum())

    offset = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    pauses = np.clip(rng.lognormal(np.log(40.0), 1.0, events), 1.0, MAX_PAUSE_S)
    pauses[offset] = 0.0
    elapsed = np.cumsum(pauses)
    event_offset = elapsed - np.repeat(elapsed[offset], length)
    duration = event_offset[offset + length - 1]

    start = _place(user, duration, population, span_s, window_start_epoch_s, rng)
    order = np.argsort(start, kind="stable")
    new_length = length[order]
    new_offset = np.concatenate([[0], np.cumsum(new_length)[:-1]]).astype(np.int64)
    gather = np.repeat(offset[order] - new_offset, new_length) + np.arange(events)
    return SessionPlan(
        user=user[order].astype(np.int64),
        start_s=start[order],
        length=new_length,
        offset=new_offset,
        event_offset_s=event_offset[gather],
    )


def walk_sessions(
    plan: SessionPlan,
    *,
    catalog: Catalog,
    population: Population,
    span_s: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill every planned session with events; returns (internal item id, type code) per event.

    Sessions are processed in chunks, each with its own random stream derived from `seed`, so
    memory stays bounded and the output does not depend on anything but the seed.
    """
    item = np.zeros(plan.events, dtype=np.int32)
    kind = np.zeros(plan.events, dtype=np.int8)
    price_factor = np.clip((np.median(catalog.price) / catalog.price) ** 0.3, 0.5, 2.0)
    bounds = np.searchsorted(np.cumsum(plan.length), np.arange(1, plan.events, _CHUNK_EVENTS))
    edges = np.unique(np.concatenate([[0], bounds + 1, [len(plan.length)]]))
    for chunk, (lo, hi) in enumerate(itertools.pairwise(edges)):
        rng = np.random.default_rng([seed, 3, chunk])
        sessions = np.arange(lo, hi)
        ordered = sessions[np.argsort(-plan.length[sessions], kind="stable")]
        _walk_chunk(ordered, plan, item, kind, catalog, population, price_factor, span_s, rng)
    return item, kind


def _walk_chunk(
    sessions: np.ndarray,
    plan: SessionPlan,
    item: np.ndarray,
    kind: np.ndarray,
    catalog: Catalog,
    population: Population,
    price_factor: np.ndarray,
    span_s: float,
    rng: np.random.Generator,
) -> None:
    """Walk sessions sorted by length (longest first): step j touches a prefix of them."""
    base = plan.offset[sessions]
    users = plan.user[sessions]
    when = plan.start_s[sessions]
    progress = np.clip(when / span_s, 0.0, 1.0)
    lengths = plan.length[sessions]
    categories = sample_categories(population, catalog, users=users, progress=progress, rng=rng)
    item[base] = _launched(catalog, categories, when, rng)
    for step in range(1, int(lengths[0]) if len(lengths) else 0):
        active = int(np.searchsorted(-lengths, -step, side="left"))
        at = base[:active] + step
        previous, previous_kind = item[at - 1].astype(np.int64), kind[at - 1]
        roll = rng.random(active)
        cart_chance = CART_RATE * population.propensity[users[:active]] * price_factor[previous]
        carts = (previous_kind == VIEW) & (roll < cart_chance)
        buys = (previous_kind == ADD_TO_CART) & (roll < PURCHASE_RATE)
        chosen = previous.copy()
        kinds = np.where(carts, ADD_TO_CART, np.where(buys, PURCHASE, VIEW)).astype(np.int8)
        moves = np.flatnonzero(~(carts | buys))
        chosen[moves] = _next_items(
            moves, step, previous, base, item, users, progress, when, catalog, population, rng
        )
        item[at] = chosen
        kind[at] = kinds


def _next_items(
    moves: np.ndarray,
    step: int,
    previous: np.ndarray,
    base: np.ndarray,
    item: np.ndarray,
    users: np.ndarray,
    progress: np.ndarray,
    when: np.ndarray,
    catalog: Catalog,
    population: Population,
    rng: np.random.Generator,
) -> np.ndarray:
    roll = rng.random(len(moves))
    result = np.empty(len(moves), dtype=np.int64)
    repeat = roll < REPEAT
    back = np.minimum(rng.geometric(0.5, int(repeat.sum())), step)
    result[repeat] = item[base[moves[repeat]] + step - back]
    companion = (roll >= REPEAT) & (roll < REPEAT + COMPANION)
    slot = rng.choice(len(COMPANION_WEIGHTS), size=int(companion.sum()), p=COMPANION_WEIGHTS)
    result[companion] = catalog.companions[previous[moves[companion]], slot]
    same = (roll >= REPEAT + COMPANION) & (roll < REPEAT + COMPANION + SAME_CATEGORY)
    fresh = roll >= REPEAT + COMPANION + SAME_CATEGORY
    categories = np.empty(len(moves), dtype=np.int64)
    categories[same] = catalog.category[previous[moves[same]]]
    categories[fresh] = sample_categories(
        population,
        catalog,
        users=users[moves[fresh]],
        progress=progress[moves[fresh]],
        rng=rng,
    )
    drawn = same | fresh
    result[drawn] = catalog.sample(categories[drawn], rng.random(int(drawn.sum())))
    # A companion or draw that is not on sale yet at the session's time becomes a launched
    # item of the same category.
    pending = np.flatnonzero(~repeat)
    late = pending[catalog.launch_s[result[pending]] > when[moves[pending]]]
    if len(late):
        result[late] = _launched(
            catalog, catalog.category[result[late]].astype(np.int64), when[moves[late]], rng
        )
    return result


def _launched(
    catalog: Catalog, categories: np.ndarray, when: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw items of `categories` already launched at `when`; a few retries, then the top item."""
    chosen = catalog.sample(categories, rng.random(len(categories)))
    late = np.flatnonzero(catalog.launch_s[chosen] > when)
    for _ in range(3):
        if not len(late):
            break
        chosen[late] = catalog.sample(categories[late], rng.random(len(late)))
        late = late[catalog.launch_s[chosen[late]] > when[late]]
    chosen[late] = catalog.category_start[categories[late]]
    return chosen


def _session_lengths(events: int, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed session lengths (median ~4, mean ~5.5) that sum to exactly `events`."""
    drawn: list[np.ndarray] = []
    total = 0
    while total < events:
        batch = 1 + np.floor(rng.lognormal(np.log(3.2), 0.95, max(events // 4, 16)))
        batch = np.minimum(batch, MAX_SESSION_EVENTS).astype(np.int64)
        drawn.append(batch)
        total += int(batch.sum())
    lengths = np.concatenate(drawn)
    cut = int(np.searchsorted(np.cumsum(lengths), events))
    lengths = lengths[: cut + 1].copy()
    lengths[-1] -= int(lengths.sum()) - events
    return lengths


def _place(
    user: np.ndarray,
    duration: np.ndarray,
    population: Population,
    span_s: float,
    window_start_epoch_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Start times: each user's sessions in order, > 30 minutes apart, on a daily rhythm.

    Per user, the free time (window minus session durations and minimum gaps) is split at
    sorted random points drawn from the diurnal intensity; adding the durations and gaps of
    the sessions before each point gives its start, so no two sessions can come too close.
    """
    order = np.lexsort((rng.random(len(user)), user))
    user_sorted = user[order]
    need = duration[order] + MIN_GAP_S
    firsts = np.flatnonzero(np.r_[True, user_sorted[1:] != user_sorted[:-1]])
    counts = np.diff(np.r_[firsts, len(user_sorted)])
    need_total = np.add.reduceat(need, firsts)
    owners = user_sorted[firsts]
    begin = population.join_s[owners]
    free = span_s - begin - need_total
    # A user too busy for the window starts earlier than it rather than overlapping sessions.
    crowded = free < 0.1 * need_total
    free = np.where(crowded, 0.1 * need_total, free)
    begin = np.where(crowded, span_s - need_total - free, begin)
    before = np.cumsum(need) - np.repeat(np.cumsum(need_total) - need_total, counts) - need
    points = _sorted_within(rng.random(len(user)), firsts, counts)
    low, high = np.repeat(begin, counts), np.repeat(begin + free, counts)
    warped = _diurnal_warp(points, low, high, window_start_epoch_s, span_s)
    start = np.empty(len(user))
    start[order] = warped + before
    return start


def _sorted_within(values: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    group = np.repeat(np.arange(len(firsts)), counts)
    return values[np.lexsort((values, group))]


def _diurnal_warp(
    points: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    window_start_epoch_s: float,
    span_s: float,
) -> np.ndarray:
    """Map uniform points in [0, 1) to times in [low, high) with the hourly/weekday rhythm."""
    step = 300.0
    first = min(float(low.min()), 0.0)
    grid = np.arange(first, span_s + step, step)
    epoch = window_start_epoch_s + grid
    hour = (epoch / 3600.0) % 24.0
    rate = np.interp(hour, np.arange(25), np.append(HOURLY, HOURLY[0]))
    weekday = ((epoch // 86_400) + 3) % 7  # 1970-01-01 was a Thursday (index 3, Monday = 0)
    rate = rate * WEEKDAY[weekday.astype(np.int64)] * (0.9 + 0.2 * np.clip(grid / span_s, 0, 1))
    cumulative = np.concatenate([[0.0], np.cumsum(rate[:-1] * step)])
    at_low, at_high = np.interp(low, grid, cumulative), np.interp(high, grid, cumulative)
    return np.interp(at_low + points * (at_high - at_low), cumulative, grid)
