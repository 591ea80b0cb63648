"""Item metadata from a user's CSV or Parquet file (`recsys ingest file --items PATH`).

Columns for id, category, price and title come from flags or common names; every other column
is kept in the `attributes` JSON, so nothing the file holds is lost. Rows pass through as they
are (no de-duplication): dim_items in dbt decides what one row per item means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.ingest.errors import IngestError
from recsys.ingest.landing import ITEMS_SCHEMA, attributes_json, conform
from recsys.ingest.mapping import ITEM_SPELLINGS, ROLE_SPELLINGS, guess_column, normalize_name
from recsys.ingest.readers import (
    check_exists,
    columns_of,
    missing_column_error,
    read_table,
    to_float_or_null,
    to_text_ids,
)


@dataclass(frozen=True)
class ItemFileOptions:
    """Where the item file is and which columns mean what (None: guess from the names)."""

    path: Path
    item_id: str | None = None
    category: str | None = None
    price: str | None = None
    title: str | None = None
    delimiter: str | None = None


def load_item_file(options: ItemFileOptions, *, events_item_column: str) -> pa.Table:
    """Read an item file into ITEMS_SCHEMA.

    Args:
        options: The file and its column flags.
        events_item_column: The events' item column, tried first as the item file's id column.

    Returns:
        One row per row of the file.

    Raises:
        IngestError: The file cannot be read or a named column is missing.
    """
    path = options.path
    check_exists(path, flag="--items")
    found, delimiter = columns_of(path, delimiter=options.delimiter)
    item_id = _pick(
        path,
        found,
        explicit=options.item_id,
        flag="--item-id",
        spellings=(normalize_name(events_item_column), *ROLE_SPELLINGS["item"]),
        required=True,
    )
    assert item_id is not None
    taken = {item_id}
    chosen: dict[str, str | None] = {}
    for role, explicit, flag in (
        ("category", options.category, "--category"),
        ("price", options.price, "--price"),
        ("title", options.title, "--title"),
    ):
        column = _pick(
            path,
            found,
            explicit=explicit,
            flag=flag,
            spellings=ITEM_SPELLINGS[role],
            required=False,
            taken=taken,
        )
        chosen[role] = column
        if column:
            taken.add(column)
    table = read_table(path, columns=found, delimiter=delimiter)
    extra = table.select([c for c in found if c not in taken])
    rows = table.num_rows

    def text(column: str | None) -> pa.Array:
        return to_text_ids(table.column(column)) if column else pa.nulls(rows, pa.string())

    items = pa.table(
        {
            "item_id": to_text_ids(table.column(item_id)),
            "category": text(chosen["category"]),
            "price": (
                to_float_or_null(table.column(chosen["price"]))
                if chosen["price"]
                else pa.nulls(rows, pa.float64())
            ),
            "title": pc.cast(text(chosen["title"]), pa.string()),
            "attributes": attributes_json(extra),
            "source_file": pa.repeat(pa.scalar(path.name), rows),
            "source_row": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        }
    )
    return conform(items, ITEMS_SCHEMA)


def _pick(
    path: Path,
    found: list[str],
    *,
    explicit: str | None,
    flag: str,
    spellings: tuple[str, ...],
    required: bool,
    taken: set[str] | None = None,
) -> str | None:
    if explicit:
        if explicit not in found:
            raise missing_column_error(path, column=explicit, found=found, flag=flag)
        return explicit
    guessed = guess_column(found, spellings, taken=taken)
    if required and not guessed:
        raise IngestError(
            f"{path.name}: no item id column found (columns: {', '.join(found[:20])}); "
            f"pass {flag} COLUMN"
        )
    return guessed
