"""Hand-made landing files for the dbt tests, written with pyarrow exactly as the contract says.

The tests build small datasets whose right answers are known by hand, so this module writes
them directly instead of going through a loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.pipeline import dbt_runner

TIMESTAMP = pa.timestamp("us", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("item_id", pa.string()),
        ("event_type", pa.string()),
        ("event_timestamp", TIMESTAMP),
        ("event_timestamp_raw", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("title", pa.string()),
        ("attributes", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("attributes", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)


def at(text: str) -> datetime:
    """Parse an ISO-8601 UTC time ('2024-03-01T10:00:00') into an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def write_events(
    data_dir: Path, name: str, rows: Sequence[Mapping[str, Any]], *, source_file: str
) -> Path:
    """Write landing/events/<name>.parquet; missing keys are NULL, source_row counts from 1."""
    filled = []
    for number, row in enumerate(rows, start=1):
        record: dict[str, Any] = {field: row.get(field) for field in EVENTS_SCHEMA.names}
        stamp = record["event_timestamp"]
        if isinstance(stamp, str):
            record["event_timestamp"] = at(stamp)
        if record["event_timestamp_raw"] is None and stamp is not None:
            record["event_timestamp_raw"] = str(stamp)
        record["source_file"] = record["source_file"] or source_file
        record["source_row"] = record["source_row"] or number
        filled.append(record)
    path = data_dir / "landing" / "events" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(filled, schema=EVENTS_SCHEMA), path)
    return path


def write_items(data_dir: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write landing/items.parquet from dicts (item_id, category, price, title, attributes)."""
    filled = [
        {
            **{field: row.get(field) for field in ITEMS_SCHEMA.names},
            "source_file": "items.csv",
            "source_row": number,
        }
        for number, row in enumerate(rows, start=1)
    ]
    path = data_dir / "landing" / "items.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(filled, schema=ITEMS_SCHEMA), path)
    return path


def write_users(data_dir: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write landing/users.parquet from dicts (user_id, attributes)."""
    filled = [
        {
            "user_id": row["user_id"],
            "attributes": json.dumps(row.get("attributes", {})),
            "source_file": "users.csv",
            "source_row": number,
        }
        for number, row in enumerate(rows, start=1)
    ]
    path = data_dir / "landing" / "users.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(filled, schema=USERS_SCHEMA), path)
    return path


def write_served(data_dir: Path, name: str, lines: Sequence[str | Mapping[str, Any]]) -> Path:
    """Write landing/served/<name>: dicts become JSON lines, strings are written as they are."""
    path = data_dir / "landing" / "served" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Built:
    """A warehouse built once for a test module."""

    data_dir: Path
    summary: dbt_runner.BuildSummary

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run a query on a read-only connection and return all rows."""
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.execute(sql, list(params)).fetchall()

    def dicts(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run a query and return the rows as dicts keyed by column name."""
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            cursor = connection.execute(sql, list(params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@contextmanager
def data_dir_env(data_dir: Path) -> Iterator[Path]:
    """Point RECSYS_DATA_DIR at `data_dir` (and the default warehouse) for the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_DATA_DIR", str(data_dir))
        patch.delenv("RECSYS_WAREHOUSE", raising=False)
        yield data_dir


def replace_mart(warehouse: Path, mart: str, sql: str, *params: Any) -> None:
    """Put a table built from `sql` (read from the real mart) in place of the mart's view."""
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(f"create table {mart}_replaced as {sql}", list(params))
        connection.execute(f"drop view {mart}")
        connection.execute(f"alter table {mart}_replaced rename to {mart}")
