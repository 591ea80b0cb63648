"""What an ingest did, in numbers the CLI prints: rows read and written, types, time range.

The statistics are gathered batch by batch with Arrow kernels while the events stream to disk,
so they cost no extra pass over the data. Warnings point at rows dbt will quarantine (null
timestamps, non-canonical event types) while the flag that fixes them is still fresh in mind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from recsys.ingest.landing import LandingResult
from recsys.ingest.mapping import EVENT_TYPES

_EXAMPLES: Final = 3


@dataclass
class EventStats:
    """Counts over every event written by one ingest."""

    rows: int = 0
    event_types: Counter[str] = field(default_factory=Counter)
    null_event_types: int = 0
    unparsed_timestamps: int = 0
    unparsed_examples: list[str] = field(default_factory=list)
    missing_users: int = 0
    missing_items: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, batch: pa.Table) -> None:
        """Fold one canonical events batch into the counts."""
        self.rows += batch.num_rows
        types = batch.column("event_type")
        self.null_event_types += types.null_count
        for entry in pc.value_counts(pc.drop_null(types)).to_pylist():
            self.event_types[entry["values"]] += entry["counts"]
        timestamps = batch.column("event_timestamp")
        self.unparsed_timestamps += timestamps.null_count
        if timestamps.null_count and len(self.unparsed_examples) < _EXAMPLES:
            raw = pc.filter(batch.column("event_timestamp_raw"), pc.is_null(timestamps))
            for value in pc.unique(raw).to_pylist():
                if len(self.unparsed_examples) < _EXAMPLES and repr(value) not in map(
                    repr, self.unparsed_examples
                ):
                    self.unparsed_examples.append(value)
        self.missing_users += _blank_count(batch.column("user_id"))
        self.missing_items += _blank_count(batch.column("item_id"))
        bounds = pc.min_max(timestamps).as_py()
        if bounds["min"] is not None:
            low, high = bounds["min"], bounds["max"]
            self.first_at = low if self.first_at is None else min(self.first_at, low)
            self.last_at = high if self.last_at is None else max(self.last_at, high)


@dataclass
class IngestReport:
    """Everything the CLI prints after one ingest."""

    source: str
    rows_read: dict[str, int]
    landing: LandingResult
    stats: EventStats
    notes: list[str] = field(default_factory=list)
    flag_hints: bool = True
    """Name the `recsys ingest file` flags that fix a warning (False for fixed layouts)."""

    @property
    def total_read(self) -> int:
        """Rows read over all source files."""
        return sum(self.rows_read.values())

    def check_reconciled(self) -> None:
        """Fail loudly if rows were lost between the source and the landing file.

        Raises:
            RuntimeError: Rows read differ from events written (a loader bug, never bad data).
        """
        if self.total_read != self.landing.events_written:
            raise RuntimeError(
                f"{self.source}: read {self.total_read} rows but wrote "
                f"{self.landing.events_written} events; loaders must pass every row through"
            )

    def lines(self) -> list[str]:
        """Return the human summary, one line per fact."""
        out = list(self.notes)
        for name, rows in self.rows_read.items():
            out.append(f"read {rows:,} rows from {name}")
        out.append(
            f"wrote {self.landing.events_written:,} events to {self.landing.events_path} "
            f"(rows read {self.total_read:,} = rows written {self.landing.events_written:,})"
        )
        if self.stats.event_types:
            types = ", ".join(f"{k} {v:,}" for k, v in self.stats.event_types.most_common())
            out.append(f"event types: {types}")
        if self.stats.first_at is not None and self.stats.last_at is not None:
            out.append(
                f"time range: {self.stats.first_at:%Y-%m-%d %H:%M:%S} .. "
                f"{self.stats.last_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        for label, written in (
            ("items", self.landing.items_written),
            ("users", self.landing.users_written),
        ):
            if written is not None:
                out.append(f"{label}: {written:,} rows in landing/{label}.parquet")
        if self.landing.removed:
            names = ", ".join(p.name for p in self.landing.removed)
            out.append(f"removed the previous dataset's {names} (pass --append to keep them)")
        out.extend(self.warnings())
        return out

    def warnings(self) -> list[str]:
        """Return warnings about rows dbt will quarantine, each with the flag that fixes it."""
        out = []
        stats = self.stats
        if stats.unparsed_timestamps:
            examples = ", ".join(repr(v) for v in stats.unparsed_examples)
            fix = "; check --time and --time-format" if self.flag_hints else ""
            out.append(
                f"warning: {stats.unparsed_timestamps:,} timestamps could not be parsed "
                f"(e.g. {examples}); they land with a null event_timestamp and dbt quarantines "
                f"them{fix}"
            )
        unknown = {k: v for k, v in stats.event_types.items() if k not in EVENT_TYPES}
        if unknown:
            shown = ", ".join(f"{k!r} {v:,}" for k, v in Counter(unknown).most_common(5))
            example = Counter(unknown).most_common(1)[0][0]
            fix = (
                f"; map them with --type-map '{example}=view' (targets: {', '.join(EVENT_TYPES)})"
                if self.flag_hints
                else ""
            )
            out.append(
                f"warning: {sum(unknown.values()):,} events have a non-canonical event_type "
                f"({shown}); dbt quarantines them{fix}"
            )
        for label, count in (("user_id", stats.missing_users), ("item_id", stats.missing_items)):
            if count:
                out.append(f"warning: {count:,} events have no {label}; dbt quarantines them")
        return out


def _blank_count(values: pa.ChunkedArray | pa.Array) -> int:
    blank = pc.or_kleene(pc.is_null(values), pc.equal(pc.utf8_trim_whitespace(values), ""))
    return int(pc.sum(pc.cast(pc.fill_null(blank, True), pa.int64())).as_py() or 0)
