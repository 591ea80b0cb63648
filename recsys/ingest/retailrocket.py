"""`recsys ingest retailrocket`: the RetailRocket e-commerce dataset's public release.

events.csv (timestamp in ms, visitorid, event, itemid, transactionid) becomes canonical events:
addtocart -> add_to_cart, transaction -> purchase, no session ids (dbt splits by inactivity).
Items come from item_properties_part*.csv (timestamp, itemid, property, value): the category is
the latest `categoryid` value per item, the parent category (category_tree.csv) and the latest
`available` flag go into the attributes. The property files (20M rows) stream in Arrow
batches; only their categoryid/available rows and a per-item first row are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.config import Paths
from recsys.ingest.landing import ITEMS_SCHEMA, LandingWriter, conform, events_batch
from recsys.ingest.mapping import map_event_types
from recsys.ingest.readers import (
    check_exists,
    iter_batches,
    read_table,
    require_layout,
    to_float_or_null,
)
from recsys.ingest.report import EventStats, IngestReport
from recsys.ingest.timestamps import parse_timestamps

_EVENT_COLUMNS: Final = ("timestamp", "visitorid", "event", "itemid")
_PROPERTY_COLUMNS: Final = ("timestamp", "itemid", "property", "value")
_TREE_COLUMNS: Final = ("categoryid", "parentid")
_KEPT_PROPERTIES: Final = ("categoryid", "available")
_TYPE_MAP: Final = {"view": "view", "addtocart": "add_to_cart", "transaction": "purchase"}
_PROPS_SCHEMA: Final = pa.schema(
    [
        ("itemid", pa.string()),
        ("property", pa.string()),
        ("value", pa.string()),
        ("ts", pa.float64()),
        ("file_index", pa.int64()),
        ("row", pa.int64()),
    ]
)
_SEEN_SCHEMA: Final = pa.schema([("itemid", pa.string()), ("position", pa.int64())])
# An item's first row is kept as one sortable int64: file index above bit 40, row below.
_ROW_BITS: Final = 40
# Per-batch first rows are folded together whenever they exceed this many rows, which keeps
# memory near the number of distinct items however long the files are.
_COMPACT_ROWS: Final = 2_000_000
_TREE_SCHEMA: Final = pa.schema([("categoryid", pa.string()), ("parentid", pa.string())])


def load_retailrocket(
    path: Path, *, layout: Paths, append: bool = False, source: str = "retailrocket"
) -> IngestReport:
    """Load a RetailRocket folder: events.csv, item_properties_part*.csv, category_tree.csv.

    Args:
        path: The folder as unpacked from the public release.
        layout: Where the landing area is.
        append: Keep the other landing event files instead of replacing the dataset.
        source: Landing file name.

    Returns:
        What was read and written.

    Raises:
        IngestError: events.csv is missing, or a file is unreadable or lacks a column.
    """
    events = path / "events.csv"
    check_exists(events, flag="--path (the RetailRocket folder holding events.csv)")
    _require(events, _EVENT_COLUMNS)
    property_files = sorted(path.glob("item_properties_part*.csv"))
    for file in property_files:
        _require(file, _PROPERTY_COLUMNS)
    tree = path / "category_tree.csv"
    if tree.exists():
        _require(tree, _TREE_COLUMNS)
    notes = [
        f"RetailRocket at {path}: addtocart -> add_to_cart, transaction -> purchase; "
        "no session ids (dbt splits sessions by inactivity)"
    ]
    if not property_files:
        notes.append("note: no item_properties_part*.csv: items get no categories")
    elif not tree.exists():
        notes.append("note: no category_tree.csv: items get no parent category")
    stats = EventStats()
    rows = 0
    with LandingWriter(layout, source=source, append=append) as writer:
        for batch in iter_batches(events, columns=_EVENT_COLUMNS):
            parsed = parse_timestamps(batch.column("timestamp"), time_format="ms")
            canonical = events_batch(
                user_id=batch.column("visitorid"),
                item_id=batch.column("itemid"),
                event_type=map_event_types(batch.column("event"), _TYPE_MAP),
                event_timestamp=parsed.timestamps,
                event_timestamp_raw=parsed.raw,
                source_file=events.name,
                first_row=rows + 1,
            )
            writer.write_events(canonical)
            stats.add(canonical)
            rows += batch.num_rows
        if property_files:
            writer.write_items(_items(property_files, tree if tree.exists() else None))
        result = writer.commit()
    report = IngestReport(
        source=source,
        rows_read={events.name: rows},
        landing=result,
        stats=stats,
        notes=notes,
        flag_hints=False,
    )
    report.check_reconciled()
    return report


def _items(property_files: list[Path], tree: Path | None) -> pa.Table:
    """One row per item seen in the property files, with its latest category."""
    kept: list[pa.Table] = [_PROPS_SCHEMA.empty_table()]
    first_rows: list[pa.Table] = [_SEEN_SCHEMA.empty_table()]
    for file_index, file in enumerate(property_files):
        offset = 0
        for batch in iter_batches(file, columns=_PROPERTY_COLUMNS):
            rows = pa.array(np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64))
            offset += batch.num_rows
            table = pa.table({"itemid": batch.column("itemid"), "row": rows})
            first = table.group_by("itemid").aggregate([("row", "min")])
            first_rows.append(
                pa.table(
                    {
                        "itemid": first.column("itemid"),
                        "position": pc.add(first.column("row_min"), file_index << _ROW_BITS),
                    }
                )
            )
            if sum(t.num_rows for t in first_rows) > _COMPACT_ROWS:
                first_rows = [_first_positions(pa.concat_tables(first_rows))]
            wanted = pc.is_in(batch.column("property"), pa.array(_KEPT_PROPERTIES))
            props = pa.Table.from_batches([batch]).filter(wanted)
            kept.append(
                pa.table(
                    {
                        "itemid": props.column("itemid"),
                        "property": props.column("property"),
                        "value": props.column("value"),
                        "ts": to_float_or_null(props.column("timestamp")),
                        "file_index": pa.repeat(file_index, props.num_rows),
                        "row": pc.filter(rows, wanted),
                    }
                )
            )
    props = pa.concat_tables(kept)
    seen = _first_positions(pa.concat_tables(first_rows))
    tree_rows = read_table(tree, columns=_TREE_COLUMNS) if tree else _TREE_SCHEMA.empty_table()
    names = pa.array([file.name for file in property_files])
    import duckdb

    with duckdb.connect() as con:
        for name, table in (("props", props), ("seen", seen), ("tree", tree_rows)):
            con.register(name, table)
        items = con.execute(
            """
            with latest as (
                select itemid, property, value, file_index, row
                from props
                qualify row_number() over (
                    partition by itemid, property
                    order by ts desc nulls last, file_index desc, row desc
                ) = 1
            ),
            first_seen as (
                select itemid, position >> $row_bits as file_index,
                       position & ((1::bigint << $row_bits) - 1) as row
                from seen
            ),
            parents as (
                -- one parent per category even if the file repeats one (smallest id wins);
                -- a root category has an empty parentid
                select categoryid, min(nullif(trim(parentid), '')) as parentid
                from tree group by categoryid
            ),
            final as (
                select
                    s.itemid as item_id,
                    c.value as category,
                    cast(null as double) as price,
                    cast(null as varchar) as title,
                    to_json({'parent_category': p.parentid, 'available': a.value}) as attributes,
                    coalesce(c.file_index, s.file_index) as file_index,
                    coalesce(c.row, s.row) as source_row
                from first_seen s
                left join latest c on c.itemid = s.itemid and c.property = 'categoryid'
                left join latest a on a.itemid = s.itemid and a.property = 'available'
                left join parents p on p.categoryid = c.value
            )
            select * from final order by file_index, source_row, item_id
            """,
            {"row_bits": _ROW_BITS},
        ).to_arrow_table()
    source_file = pc.take(names, items.column("file_index"))
    items = items.drop_columns(["file_index"]).append_column("source_file", source_file)
    return conform(items, ITEMS_SCHEMA)


def _first_positions(table: pa.Table) -> pa.Table:
    """Keep one row per item: its smallest (earliest) position."""
    first = table.group_by("itemid").aggregate([("position", "min")])
    return pa.table({"itemid": first.column("itemid"), "position": first.column("position_min")})


def _require(file: Path, columns: tuple[str, ...]) -> None:
    require_layout(file, columns, layout="RetailRocket", hint="pass --path to the unpacked release")
