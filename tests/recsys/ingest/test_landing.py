from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.ingest.landing import (
    EVENTS_SCHEMA,
    ITEMS_SCHEMA,
    LandingWriter,
    attributes_json,
    conform,
    events_batch,
)
from recsys.ingest.timestamps import parse_timestamps


def _events(count: int, *, source_file: str = "test.csv", first_row: int = 1) -> pa.Table:
    parsed = parse_timestamps(pa.array([str(1_767_268_800 + i) for i in range(count)]))
    return events_batch(
        user_id=pa.array([f"u{i % 3}" for i in range(count)]),
        item_id=pa.array([f"i{i}" for i in range(count)]),
        event_type="view",
        event_timestamp=parsed.timestamps,
        event_timestamp_raw=parsed.raw,
        source_file=source_file,
        first_row=first_row,
    )


def _items(ids: list[str], category: str) -> pa.Table:
    return conform(
        pa.table(
            {
                "item_id": ids,
                "category": [category] * len(ids),
                "price": [1.5] * len(ids),
                "title": pa.nulls(len(ids), pa.string()),
                "attributes": pa.nulls(len(ids), pa.string()),
                "source_file": ["items.csv"] * len(ids),
                "source_row": list(range(1, len(ids) + 1)),
            }
        ),
        ITEMS_SCHEMA,
    )


def test_events_file_has_the_contract_schema(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    with LandingWriter(layout, source="test") as writer:
        writer.write_events(_events(5))
        result = writer.commit()
    table = pq.read_table(result.events_path)
    assert result.events_path == layout.landing_events / "test.parquet"
    assert table.schema.equals(EVENTS_SCHEMA)
    assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.column("source_row").to_pylist() == [1, 2, 3, 4, 5]
    assert table.column("event_type").to_pylist() == ["view"] * 5
    assert table.column("session_id").null_count == 5
    assert table.column("event_timestamp")[0].as_py() == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert result.events_written == 5


def test_events_stream_in_row_groups(tmp_path: Path) -> None:
    with LandingWriter(Paths(tmp_path), source="test", row_group_size=100) as writer:
        for start in range(0, 1000, 250):
            writer.write_events(_events(250, first_row=start + 1))
        result = writer.commit()
    metadata = pq.ParquetFile(result.events_path).metadata
    assert metadata.num_rows == 1000
    assert metadata.num_row_groups >= 10
    rows = pq.read_table(result.events_path).column("source_row").to_pylist()
    assert rows == list(range(1, 1001))


def test_replace_mode_removes_the_previous_dataset_but_not_served_events(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    with LandingWriter(layout, source="old") as writer:
        writer.write_events(_events(2))
        writer.write_items(_items(["i0"], "old"))
        writer.commit()
    layout.landing_served.mkdir(parents=True)
    served = layout.landing_served / "2026-01-01.jsonl"
    served.write_text('{"event_id": "x"}\n')
    with LandingWriter(layout, source="new") as writer:
        writer.write_events(_events(3))
        result = writer.commit()
    assert sorted(p.name for p in layout.landing_events.iterdir()) == ["new.parquet"]
    assert not layout.landing_items.exists(), "items of the old dataset must go too"
    assert served.read_text() == '{"event_id": "x"}\n'
    assert {p.name for p in result.removed} == {"old.parquet", "items.parquet"}


def test_append_mode_keeps_other_files_and_merges_items(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    with LandingWriter(layout, source="first") as writer:
        writer.write_events(_events(2))
        writer.write_items(_items(["a", "b"], "old"))
        writer.commit()
    with LandingWriter(layout, source="second", append=True) as writer:
        writer.write_events(_events(3))
        writer.write_items(_items(["b", "c"], "new"))
        result = writer.commit()
    assert sorted(p.name for p in layout.landing_events.iterdir()) == [
        "first.parquet",
        "second.parquet",
    ]
    items = pq.read_table(layout.landing_items).to_pylist()
    assert sorted((r["item_id"], r["category"]) for r in items) == [
        ("a", "old"),
        ("b", "new"),
        ("c", "new"),
    ]
    assert result.items_written == 3
    assert result.removed == []


def test_a_failed_ingest_leaves_the_landing_as_it_was(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    with LandingWriter(layout, source="good") as writer:
        writer.write_events(_events(2))
        writer.commit()
    with (
        pytest.raises(RuntimeError, match="source broke"),
        LandingWriter(layout, source="bad") as writer,
    ):
        writer.write_events(_events(2))
        raise RuntimeError("source broke mid-stream")
    assert [p.name for p in layout.landing_events.iterdir()] == ["good.parquet"]
    assert pq.read_table(layout.landing_events / "good.parquet").num_rows == 2


def test_conform_names_missing_and_extra_columns() -> None:
    table = _events(1).drop_columns(["user_id"]).append_column("userid", pa.array(["u"]))
    with pytest.raises(ValueError, match=r"missing \['user_id'\], extra \['userid'\]"):
        conform(table, EVENTS_SCHEMA)


def test_source_name_must_be_a_plain_file_stem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"source name '\.\./x'"):
        LandingWriter(Paths(tmp_path), source="../x")


def test_attributes_are_json_objects_with_lists_kept() -> None:
    extra = pa.table({"brand": ["acme", None], "genres": [["a", "b"], []]})
    assert attributes_json(extra).to_pylist() == [
        '{"brand":"acme","genres":["a","b"]}',
        '{"brand":null,"genres":[]}',
    ]
    no_extra_columns = pa.table({"x": [1]}).drop_columns(["x"])
    assert attributes_json(no_extra_columns).to_pylist() == [None]
