"""Item metadata carried on the event rows themselves (a category or price column in the log).

Many public logs repeat an item's category and price on every event instead of shipping an
item file. Without `--items`, such columns become `landing/items.parquet`: per item, the
latest non-empty category and the latest price (by event time, then file and row order);
source_file/source_row point at the latest row that carried either. Items whose rows never
carry a category or price get no row (dbt's dim_items still lists them from the events).

The rows stream into a scratch Parquet file beside the landing area and DuckDB reduces them
once at the end: memory stays bounded and the reduction runs on every core.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.ingest.landing import ITEMS_SCHEMA, conform

_SCRATCH_SCHEMA: Final = pa.schema(
    [
        ("item_id", pa.string()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("micros", pa.int64()),
        ("file", pa.int64()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
# Event time, then file order, then row as one sortable int128: later wins, ties are stable.
_LATEST_SQL: Final = """
    with rows as (
        select *,
               micros::hugeint * (1::hugeint << 64) + (file::hugeint << 40) + source_row as key
        from read_parquet($path)
        where nullif(trim(item_id), '') is not null
          and (nullif(trim(category), '') is not null or price is not null)
    )
    select
        item_id,
        arg_max(category, key) filter (where nullif(trim(category), '') is not null)
            as category,
        arg_max(price, key) filter (where price is not null) as price,
        cast(null as varchar) as title,
        cast(null as varchar) as attributes,
        arg_max(source_file, key) as source_file,
        arg_max(source_row, key) as source_row
    from rows
    group by item_id
    order by item_id
"""


class EventItems:
    """Collect category and price per event row, then reduce to one row per item.

    Use as a context manager: the scratch file is removed on exit.
    """

    def __init__(self, scratch_dir: Path) -> None:
        """Prepare a scratch file in `scratch_dir` (created if missing)."""
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self._path = scratch_dir / ".event_items.parquet.tmp"
        self._writer: pq.ParquetWriter | None = None
        self._files: dict[str, int] = {}

    def __enter__(self) -> EventItems:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        self._path.unlink(missing_ok=True)

    def add(self, *, events: pa.Table, category: pa.Array | None, price: pa.Array | None) -> None:
        """Record one canonical events batch with its category/price columns.

        Args:
            events: The batch as written to the landing (item_id, timestamps, source rows).
            category: The batch's category column as text, or None.
            price: The batch's price column as float64, or None.
        """
        rows = events.num_rows
        if rows == 0:
            return
        source = events.column("source_file")[0].as_py()
        file_index = self._files.setdefault(source, len(self._files))
        micros = pc.fill_null(pc.cast(events.column("event_timestamp"), pa.int64()), -(2**62))
        table = pa.table(
            {
                "item_id": events.column("item_id"),
                "category": category if category is not None else pa.nulls(rows, pa.string()),
                "price": price if price is not None else pa.nulls(rows, pa.float64()),
                "micros": micros,
                "file": pa.repeat(file_index, rows),
                "source_file": events.column("source_file"),
                "source_row": events.column("source_row"),
            }
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, _SCRATCH_SCHEMA, compression="lz4")
        self._writer.write_table(table.cast(_SCRATCH_SCHEMA))

    def table(self) -> pa.Table:
        """Return one row per item that has a category or price, in ITEMS_SCHEMA."""
        self._close()
        if not self._path.exists():
            return ITEMS_SCHEMA.empty_table()
        import duckdb

        with duckdb.connect() as con:
            latest = con.execute(_LATEST_SQL, {"path": str(self._path)}).to_arrow_table()
        return conform(latest, ITEMS_SCHEMA)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
