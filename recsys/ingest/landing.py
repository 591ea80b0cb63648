"""The one writer of the landing area: canonical events, items and users as Parquet.

Schemas follow docs/contracts.md exactly. Events stream in as Arrow batches and go to disk in
row groups, so a 10M-event ingest never holds Python objects per row. Files are written under a
temporary name and renamed on `commit()`, so a failed ingest leaves the previous landing intact
and dbt never reads a half-written file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.config import Paths
from recsys.ingest.timestamps import TIMESTAMP_TYPE

EVENTS_SCHEMA: Final = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("event_timestamp", TIMESTAMP_TYPE),
        pa.field("event_timestamp_raw", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
    ]
)
ITEMS_SCHEMA: Final = pa.schema(
    [
        pa.field("item_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("price", pa.float64()),
        pa.field("title", pa.string()),
        pa.field("attributes", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
    ]
)
USERS_SCHEMA: Final = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("attributes", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
    ]
)
# DuckDB splits its scan across row groups; ~256k rows keeps both cores busy on small files
# and the footer small on large ones.
ROW_GROUP_SIZE: Final = 262_144
# Dictionary pages pay off only for repeating columns; on unique ones (event_id, raw text)
# they cost write time for nothing. zstd halves the files next to snappy for ~15% more time.
_WRITE_OPTIONS: Final = {
    "compression": "zstd",
    "use_dictionary": ["user_id", "item_id", "event_type", "source_file", "category"],
    "write_statistics": ["event_timestamp", "source_row"],
}
_SOURCE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

ColumnValue: TypeAlias = pa.Array | pa.ChunkedArray | str | None


@dataclass(frozen=True)
class LandingResult:
    """What one ingest put into (and took out of) the landing area."""

    events_path: Path
    events_written: int
    items_written: int | None
    users_written: int | None
    removed: list[Path] = field(default_factory=list)


def events_batch(
    *,
    item_id: pa.Array,
    event_timestamp: pa.Array,
    event_timestamp_raw: pa.Array,
    source_file: str,
    first_row: int,
    user_id: ColumnValue = None,
    session_id: ColumnValue = None,
    event_type: ColumnValue = None,
    event_id: ColumnValue = None,
) -> pa.Table:
    """Assemble one batch of canonical events; a str is repeated, None is all-null.

    Args:
        item_id: The item column (strings).
        event_timestamp: Parsed timestamps, timestamp[us, tz=UTC].
        event_timestamp_raw: The source's text for each timestamp.
        source_file: File name every row of the batch came from.
        first_row: 1-based data row of the batch's first row in `source_file`.
        user_id: User column, or None when the source has none.
        session_id: Session column, or None (dbt sessionizes by inactivity gap).
        event_type: Event types after mapping, or a constant such as "view".
        event_id: The source's event ids, or None (dbt derives one).

    Returns:
        A table with exactly EVENTS_SCHEMA.
    """
    rows = len(item_id)
    columns = {
        "event_id": _column(event_id, rows),
        "user_id": _column(user_id, rows),
        "session_id": _column(session_id, rows),
        "item_id": item_id,
        "event_type": _column(event_type, rows),
        "event_timestamp": event_timestamp,
        "event_timestamp_raw": event_timestamp_raw,
        "source_file": pa.repeat(pa.scalar(source_file, pa.string()), rows),
        "source_row": pa.array(np.arange(first_row, first_row + rows, dtype=np.int64)),
    }
    return conform(pa.table(columns), EVENTS_SCHEMA)


def conform(table: pa.Table | pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """Select and cast `table`'s columns to exactly `schema` (order, types, nullability).

    Raises:
        ValueError: A column is missing or extra, cannot be cast, or a non-null column has nulls.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    names, wanted = set(table.column_names), set(schema.names)
    if names != wanted:
        raise ValueError(
            f"landing batch columns: expected {sorted(wanted)}, found {sorted(names)} "
            f"(missing {sorted(wanted - names)}, extra {sorted(names - wanted)})"
        )
    arrays = []
    for column in schema:
        values = table.column(column.name)
        if not values.type.equals(column.type):
            values = pc.cast(values, column.type)
        if not column.nullable and values.null_count:
            raise ValueError(
                f"landing column {column.name!r} must not be null; found {values.null_count} nulls"
            )
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=schema)


class LandingWriter:
    """Write one ingest's events (streamed), items and users, then swap them in on commit.

    Replace mode (the default) treats the ingest as a new dataset: on commit it removes the
    other `landing/events/*.parquet` files and any items/users file this ingest did not write.
    Append mode keeps them; items and users are then merged, the new rows winning per id.
    `landing/served/` belongs to the API and is never touched.

    Use as a context manager and call `commit()`; leaving the block without committing (for
    example on an error) removes the temporary files and changes nothing.
    """

    def __init__(
        self,
        layout: Paths,
        *,
        source: str,
        append: bool = False,
        row_group_size: int = ROW_GROUP_SIZE,
    ) -> None:
        """Prepare to write `landing/events/<source>.parquet` under `layout`.

        Raises:
            ValueError: `source` is not a plain file-name stem.
        """
        if not _SOURCE_NAME.match(source):
            raise ValueError(
                f"source name {source!r}: expected letters, digits, '_', '-' or '.' "
                "(it becomes landing/events/<source>.parquet); pass --source with such a name"
            )
        self._layout = layout
        self._append = append
        self._row_group_size = row_group_size
        self.events_path = layout.landing_events / f"{source}.parquet"
        self._events_tmp = _temporary(self.events_path)
        self._writer: pq.ParquetWriter | None = None
        self._events_written = 0
        self._items_rows: int | None = None
        self._users_rows: int | None = None
        self._committed = False

    def __enter__(self) -> LandingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.abort()

    @property
    def events_written(self) -> int:
        """Events written so far."""
        return self._events_written

    def write_events(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Append one batch of events (cast to EVENTS_SCHEMA) to the events file."""
        table = conform(batch, EVENTS_SCHEMA)
        if self._writer is None:
            self._events_tmp.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._events_tmp, EVENTS_SCHEMA, **_WRITE_OPTIONS)
        self._writer.write_table(table, row_group_size=self._row_group_size)
        self._events_written += table.num_rows

    def write_items(self, items: pa.Table) -> None:
        """Stage the item metadata (ITEMS_SCHEMA) to land on commit."""
        self._items_rows = self._stage(
            conform(items, ITEMS_SCHEMA), self._layout.landing_items, key="item_id"
        )

    def write_users(self, users: pa.Table) -> None:
        """Stage the user metadata (USERS_SCHEMA) to land on commit."""
        self._users_rows = self._stage(
            conform(users, USERS_SCHEMA), self._layout.landing_users, key="user_id"
        )

    def commit(self) -> LandingResult:
        """Move the staged files into place and, in replace mode, remove the previous dataset."""
        if self._writer is None:  # no events at all still lands a valid, empty file
            self.write_events(EVENTS_SCHEMA.empty_table())
        assert self._writer is not None
        self._writer.close()
        removed: list[Path] = []
        staged = [(self._events_tmp, self.events_path)]
        for rows, final in (
            (self._items_rows, self._layout.landing_items),
            (self._users_rows, self._layout.landing_users),
        ):
            if rows is not None:
                staged.append((_temporary(final), final))
            elif not self._append and final.exists():
                final.unlink()
                removed.append(final)
        for tmp, final in staged:
            tmp.replace(final)
        if not self._append:
            for other in sorted(self._layout.landing_events.glob("*.parquet")):
                if other != self.events_path:
                    other.unlink()
                    removed.append(other)
        self._committed = True
        return LandingResult(
            events_path=self.events_path,
            events_written=self._events_written,
            items_written=self._items_rows,
            users_written=self._users_rows,
            removed=removed,
        )

    def abort(self) -> None:
        """Drop everything staged; the landing area stays as it was."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for final in (self.events_path, self._layout.landing_items, self._layout.landing_users):
            _temporary(final).unlink(missing_ok=True)

    def _stage(self, table: pa.Table, final: Path, *, key: str) -> int:
        if self._append and final.exists():
            previous = pq.read_table(final, schema=table.schema)
            kept = previous.filter(pc.invert(pc.is_in(previous.column(key), table.column(key))))
            table = pa.concat_tables([kept, table])
        final.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table, _temporary(final), row_group_size=self._row_group_size, compression="zstd"
        )
        return table.num_rows


def attributes_json(extra: pa.Table) -> pa.Array:
    """Encode each row of `extra` as a JSON object string (null where there are no columns).

    Lists stay JSON arrays and numbers stay numbers; DuckDB does the encoding column-wise.
    """
    if extra.num_columns == 0:
        return pa.nulls(extra.num_rows, pa.string())
    import duckdb

    with duckdb.connect() as con:
        con.register("extra", extra)
        result = con.execute("select to_json(extra) as attributes from extra").to_arrow_table()
    return pc.cast(result.column("attributes").combine_chunks(), pa.string())


def _column(value: ColumnValue, rows: int) -> pa.Array | pa.ChunkedArray:
    if value is None:
        return pa.nulls(rows, pa.string())
    if isinstance(value, str):
        return pa.repeat(pa.scalar(value, pa.string()), rows)
    return value


def _temporary(final: Path) -> Path:
    # Hidden and not ending in .parquet: dbt's `landing/events/*.parquet` glob never sees it.
    return final.with_name(f".{final.name}.tmp")
