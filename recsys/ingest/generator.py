"""`recsys ingest generate`: realistic synthetic e-commerce sessions, the demo's data source.

Deterministic for a seed (same seed, same files), vectorized with numpy (10M events in well
under two minutes) and written in row groups. The world it samples from lives in
synthetic_world.py and the sessions in synthetic_sessions.py; this module sizes the run,
turns ids into text, optionally injects junk rows for the quarantine demo, and writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.config import Paths
from recsys.ingest.landing import (
    ITEMS_SCHEMA,
    USERS_SCHEMA,
    LandingWriter,
    attributes_json,
    conform,
    events_batch,
)
from recsys.ingest.report import EventStats, IngestReport
from recsys.ingest.synthetic_sessions import SessionPlan, plan_sessions, walk_sessions
from recsys.ingest.synthetic_world import (
    REGIONS,
    Catalog,
    Population,
    build_catalog,
    build_population,
)
from recsys.ingest.timestamps import TIMESTAMP_TYPE

DEFAULT_END: Final = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_DAYS: Final = 60
SOURCE_FILE: Final = "generator"
EVENT_NAMES: Final = ("view", "add_to_cart", "purchase")
# Junk the dirty fraction injects, one kind per quarter of the dirty rows.
DIRTY_KINDS: Final = ("missing_user", "unknown_event_type", "bad_timestamp", "duplicate_event_id")
JUNK_EVENT_TYPES: Final = ("clik", "veiw", "add_to_crt", "purchse")
JUNK_TIMESTAMPS: Final = ("not-a-timestamp", "2026-13-45T25:61:00Z", "", "yesterday")
# Codes in the per-row dirty marker, in DIRTY_KINDS order (0 is a clean row).
_MISSING_USER, _UNKNOWN_TYPE, _BAD_TIMESTAMP, _DUPLICATE = 1, 2, 3, 4
_WRITE_ROWS: Final = 1_000_000


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate; None sizes are derived from `events`."""

    events: int
    seed: int = 7
    users: int | None = None
    items: int | None = None
    categories: int | None = None
    days: float = DEFAULT_DAYS
    end: datetime = DEFAULT_END
    session_ids: bool = True
    dirty_fraction: float = 0.0

    def sizes(self) -> tuple[int, int, int]:
        """Return (users, items, categories), derived where not given.

        Raises:
            ValueError: A size or fraction is out of range, with the flag that sets it.
        """
        if self.events < 1:
            raise ValueError(f"--events: expected a positive count, found {self.events}")
        items = self.items if self.items is not None else max(60, self.events // 30)
        categories = self.categories or max(8, min(200, round(math.sqrt(items) / 4)))
        users = self.users if self.users is not None else max(20, self.events // 25)
        if users < 1:
            raise ValueError(f"--users: expected at least 1, found {users}")
        if categories < 1 or items < 4 * categories:
            raise ValueError(
                f"--items {items} / --categories {categories}: expected at least 4 items per "
                f"category; pass --items {4 * max(categories, 1)} or fewer --categories"
            )
        if not self.days > 0:
            raise ValueError(f"--days: expected a positive number of days, found {self.days}")
        if not 0.0 <= self.dirty_fraction <= 0.5:
            raise ValueError(
                f"--dirty-fraction: expected a share between 0 and 0.5, found {self.dirty_fraction}"
            )
        return users, items, categories


@dataclass(frozen=True)
class World:
    """Everything a seed determines before events are written (tests inspect it)."""

    catalog: Catalog
    population: Population
    plan: SessionPlan
    item: np.ndarray
    kind: np.ndarray
    window_start: datetime


def simulate(config: GeneratorConfig) -> World:
    """Run the simulation for `config` without writing anything."""
    users, items, categories = config.sizes()
    span_s = config.days * 86_400.0 - 1.0  # every event strictly before the end date
    window_start = config.end.astimezone(UTC) - timedelta(days=config.days)
    catalog = build_catalog(
        items=items,
        categories=categories,
        span_s=span_s,
        rng=np.random.default_rng([config.seed, 1]),
    )
    population = build_population(
        users=users, catalog=catalog, span_s=span_s, rng=np.random.default_rng([config.seed, 2])
    )
    plan = plan_sessions(
        events=config.events,
        population=population,
        span_s=span_s,
        window_start_epoch_s=window_start.timestamp(),
        rng=np.random.default_rng([config.seed, 4]),
    )
    item, kind = walk_sessions(
        plan, catalog=catalog, population=population, span_s=span_s, seed=config.seed
    )
    return World(catalog, population, plan, item, kind, window_start)


def generate(
    config: GeneratorConfig,
    *,
    layout: Paths,
    append: bool = False,
    source: str = SOURCE_FILE,
) -> tuple[IngestReport, dict[str, int]]:
    """Generate events, items and users into the landing area.

    Args:
        config: Sizes, seed, window and options.
        layout: Where the landing area is.
        append: Keep the other landing event files instead of replacing the dataset.
        source: Landing file name.

    Returns:
        The ingest report and the number of dirty rows per kind (see DIRTY_KINDS).

    Raises:
        ValueError: The configuration is out of range.
    """
    world = simulate(config)
    rows = world.plan.events
    start_ms = np.round((world.window_start.timestamp() + world.plan.start_s) * 1000.0)
    session_of = np.repeat(np.arange(len(world.plan.length)), world.plan.length)
    stamp_ms = start_ms.astype(np.int64)[session_of] + np.round(
        world.plan.event_offset_s * 1000.0
    ).astype(np.int64)
    order = np.argsort(stamp_ms, kind="stable")
    columns = {
        "event": np.arange(1, rows + 1, dtype=np.int64),
        "user": world.plan.user[session_of][order] + 1,
        "session": session_of[order] + 1,
        "item": world.catalog.public_id[world.item[order]],
        "kind": world.kind[order].astype(np.int64),
        "stamp_ms": stamp_ms[order],
    }
    del session_of, stamp_ms, order
    dirty, counts = _dirty_rows(
        rows, config.dirty_fraction, np.random.default_rng([config.seed, 5])
    )
    for column in columns.values():  # a duplicate is a resent copy of an earlier clean row
        column[dirty == _DUPLICATE] = column[_originals(dirty)]
    stats = EventStats()
    with LandingWriter(layout, source=source, append=append) as writer:
        for lo in range(0, rows, _WRITE_ROWS):
            part = slice(lo, min(lo + _WRITE_ROWS, rows))
            batch = _events_batch(columns, dirty, part, session_ids=config.session_ids)
            writer.write_events(batch)
            stats.add(batch)
        writer.write_items(_items_table(world.catalog))
        writer.write_users(_users_table(world.population))
        result = writer.commit()
    users, items, categories = config.sizes()
    notes = [
        f"generated {rows:,} events: seed {config.seed}, {users:,} users, {items:,} items, "
        f"{categories} categories, {config.days:g} days ending {config.end:%Y-%m-%dT%H:%MZ}, "
        f"{len(world.plan.length):,} sessions"
        + ("" if config.session_ids else " (session ids omitted: dbt splits by 30-minute gap)")
    ]
    if counts["total"]:
        notes.append("dirty rows injected: " + ", ".join(f"{k} {counts[k]:,}" for k in DIRTY_KINDS))
    report = IngestReport(
        source=source,
        rows_read={SOURCE_FILE: rows},
        landing=result,
        stats=stats,
        notes=notes,
        flag_hints=False,
    )
    report.check_reconciled()
    return report, counts


def _events_batch(
    columns: dict[str, np.ndarray], dirty: np.ndarray, part: slice, *, session_ids: bool
) -> pa.Table:
    kinds = dirty[part]
    stamp = columns["stamp_ms"][part]
    bad_stamp = kinds == _BAD_TIMESTAMP
    raw = pc.cast(pa.array(stamp), pa.string())
    junk_stamps = pa.array(JUNK_TIMESTAMPS)
    raw = pc.if_else(
        pa.array(bad_stamp), pc.take(junk_stamps, np.arange(len(stamp)) % len(JUNK_TIMESTAMPS)), raw
    )
    type_names = pa.array(EVENT_NAMES + JUNK_EVENT_TYPES)
    type_code = np.where(
        kinds == _UNKNOWN_TYPE,
        len(EVENT_NAMES) + np.arange(len(kinds)) % len(JUNK_EVENT_TYPES),
        columns["kind"][part],
    )
    user = _ids("u", columns["user"][part])
    # Missing users come both as null and as an empty string: dbt trims and treats both alike.
    missing = kinds == _MISSING_USER
    user = pc.if_else(pa.array(missing & (np.arange(len(kinds)) % 2 == 0)), None, user)
    user = pc.if_else(pa.array(missing & (np.arange(len(kinds)) % 2 == 1)), "", user)
    return events_batch(
        event_id=_ids("e", columns["event"][part]),
        user_id=user,
        session_id=_ids("s", columns["session"][part]) if session_ids else None,
        item_id=_ids("i", columns["item"][part]),
        event_type=pc.take(type_names, type_code),
        event_timestamp=pa.array(stamp * 1000, type=TIMESTAMP_TYPE, mask=bad_stamp),
        event_timestamp_raw=raw,
        source_file=SOURCE_FILE,
        first_row=part.start + 1,
    )


def _dirty_rows(
    rows: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, int]]:
    """Mark round(fraction * rows) rows dirty, split evenly over DIRTY_KINDS (codes 1..4).

    Row 0 is never dirty, so every duplicate has an earlier clean row to copy.
    """
    dirty = np.zeros(rows, dtype=np.int8)
    total = min(round(fraction * rows), max(rows - 1, 0))
    slots = rng.choice(rows - 1, size=total, replace=False) + 1 if total else np.zeros(0, int)
    for code, group in enumerate(np.array_split(slots, len(DIRTY_KINDS)), start=1):
        dirty[group] = code
    counts = {kind: int((dirty == code).sum()) for code, kind in enumerate(DIRTY_KINDS, 1)}
    counts["total"] = total
    return dirty, counts


def _originals(dirty: np.ndarray) -> np.ndarray:
    """For each duplicate row, the nearest earlier clean row (the event it resends)."""
    index = np.arange(len(dirty))
    last_clean = np.maximum.accumulate(np.where(dirty == 0, index, -1))
    return last_clean[np.flatnonzero(dirty == _DUPLICATE) - 1]


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _items_table(catalog: Catalog) -> pa.Table:
    order = np.argsort(catalog.public_id)
    width = len(str(len(catalog.category_start)))
    category = pc.binary_join_element_wise(
        "cat", pc.utf8_lpad(pc.cast(pa.array(catalog.category[order]), pa.string()), width, "0"), ""
    )
    brand = pc.binary_join_element_wise(
        "brand-", pc.utf8_lpad(pc.cast(pa.array(catalog.brand[order]), pa.string()), 3, "0"), ""
    )
    item_id = _ids("i", catalog.public_id[order])
    title = pc.binary_join_element_wise(
        brand, " ", category, " #", _ids("", catalog.public_id[order]), ""
    )
    rows = catalog.size
    table = pa.table(
        {
            "item_id": item_id,
            "category": category,
            "price": pa.array(catalog.price[order]),
            "title": title,
            "attributes": attributes_json(pa.table({"brand": brand})),
            "source_file": pa.repeat(pa.scalar(SOURCE_FILE), rows),
            "source_row": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        }
    )
    return conform(table, ITEMS_SCHEMA)


def _users_table(population: Population) -> pa.Table:
    rows = population.size
    region = pc.take(pa.array(REGIONS), population.region.astype(np.int64))
    table = pa.table(
        {
            "user_id": _ids("u", np.arange(1, rows + 1)),
            "attributes": attributes_json(pa.table({"region": region})),
            "source_file": pa.repeat(pa.scalar(SOURCE_FILE), rows),
            "source_row": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        }
    )
    return conform(table, USERS_SCHEMA)
