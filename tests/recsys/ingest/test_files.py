"""The bring-your-own-data loader: column guessing, formats, mapping, and its error messages."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.ingest import readers
from recsys.ingest.errors import IngestError
from recsys.ingest.files import FileOptions, load_files
from recsys.ingest.item_files import ItemFileOptions

NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOON_S = int(NOON.timestamp())


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _landed(layout: Paths, source: str) -> list[dict[str, object]]:
    return pq.read_table(layout.landing_events / f"{source}.parquet").to_pylist()


def test_a_plain_session_log_needs_no_flags(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "sessions.csv",
        "session_id,item_id,timestamp\n"
        "s1,i1,2026-01-01T12:00:00Z\n"
        "s1,i2,2026-01-01T12:01:00Z\n"
        "s2,i1,2026-01-01T14:00:00+02:00\n",
    )
    layout = Paths(tmp_path / "data")
    report = load_files([log], layout=layout, options=FileOptions())
    rows = _landed(layout, "sessions")
    assert [r["user_id"] for r in rows] == ["s1", "s1", "s2"], "each session is its own user"
    assert [r["session_id"] for r in rows] == ["s1", "s1", "s2"]
    assert [r["event_type"] for r in rows] == ["view"] * 3, "no type column: all views"
    assert rows[2]["event_timestamp"] == NOON
    assert [r["event_id"] for r in rows] == [None] * 3
    assert [r["source_row"] for r in rows] == [1, 2, 3]
    assert {r["source_file"] for r in rows} == {"sessions.csv"}
    assert report.total_read == report.landing.events_written == 3
    assert "user=(none: user = session)" in "\n".join(report.lines())


@pytest.mark.parametrize(
    ("values", "time_format"),
    [
        (["2026-01-01T12:00:00Z", "2026-01-01 12:00:05"], "iso"),
        ([str(NOON_S), str(NOON_S + 5)], "s"),
        ([str(NOON_S * 1000), str(NOON_S * 1000 + 5000)], "ms"),
    ],
)
@pytest.mark.parametrize("explicit", [True, False])
def test_iso_seconds_and_milliseconds_land_as_the_same_instants(
    tmp_path: Path, values: list[str], time_format: str, explicit: bool
) -> None:
    log = _write(
        tmp_path / "log.csv",
        "visitor,product,when\n" + "".join(f"v1,p{i},{v}\n" for i, v in enumerate(values)),
    )
    layout = Paths(tmp_path / "data")
    options = FileOptions(
        user="visitor",
        item="product",
        time="when",
        time_format=time_format if explicit else "auto",
    )
    load_files([log], layout=layout, options=options)
    rows = _landed(layout, "log")
    assert [r["event_timestamp"] for r in rows] == [NOON, NOON.replace(second=5)]
    assert [r["event_timestamp_raw"] for r in rows] == values
    assert [r["session_id"] for r in rows] == [None, None], "no session: dbt splits by gap"


def test_event_types_are_mapped_and_unknown_ones_pass_through(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "log.csv",
        "user_id,item_id,ts,action\n"
        f"u1,i1,{NOON_S},clicked\n"
        f"u1,i1,{NOON_S + 1},AddToCart\n"
        f"u1,i1,{NOON_S + 2},bought\n"
        f"u1,i1,{NOON_S + 3},wishlist\n",
    )
    layout = Paths(tmp_path / "data")
    report = load_files(
        [log], layout=layout, options=FileOptions(type_map="clicked=view,bought=purchase")
    )
    types = [r["event_type"] for r in _landed(layout, "log")]
    assert types == ["view", "add_to_cart", "purchase", "wishlist"]
    assert any("'wishlist' 1" in line and "--type-map" in line for line in report.lines())


def test_no_type_ignores_an_event_column(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", f"user_id,item_id,ts,event\nu1,i1,{NOON_S},odd\n")
    layout = Paths(tmp_path / "data")
    load_files([log], layout=layout, options=FileOptions(no_type=True))
    assert [r["event_type"] for r in _landed(layout, "log")] == ["view"]


def test_bad_rows_pass_through_unchanged_for_dbt_to_quarantine(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "log.csv",
        f"user_id,item_id,timestamp\n,i1,{NOON_S}\nu1,,{NOON_S}\nu1,i1,not a time\nu1,i1,\n",
    )
    layout = Paths(tmp_path / "data")
    report = load_files([log], layout=layout, options=FileOptions())
    rows = _landed(layout, "log")
    assert len(rows) == report.total_read == 4
    assert rows[0]["user_id"] == "" and rows[1]["item_id"] == ""
    assert rows[2]["event_timestamp"] is None and rows[2]["event_timestamp_raw"] == "not a time"
    assert rows[3]["event_timestamp"] is None and rows[3]["event_timestamp_raw"] == ""
    text = "\n".join(report.lines())
    assert "2 timestamps could not be parsed" in text
    assert "1 events have no user_id" in text


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([7, 8], pa.int64()),
                "item_id": pa.array([123.0, None], pa.float64()),  # pandas' NaN-holding ids
                "event_time": pa.array([NOON, NOON], pa.timestamp("ms", tz="UTC")),
                "event_id": ["a", "b"],
            }
        ),
        path,
    )
    layout = Paths(tmp_path / "data")
    load_files([path], layout=layout, options=FileOptions())
    rows = _landed(layout, "events")
    assert [r["user_id"] for r in rows] == ["7", "8"]
    assert [r["item_id"] for r in rows] == ["123", None]
    assert [r["event_id"] for r in rows] == ["a", "b"]
    assert [r["event_timestamp"] for r in rows] == [NOON, NOON]


def test_ids_keep_their_exact_text(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", f"user_id,item_id,ts\n007,0042,{NOON_S}\n")
    layout = Paths(tmp_path / "data")
    load_files([log], layout=layout, options=FileOptions())
    row = _landed(layout, "log")[0]
    assert (row["user_id"], row["item_id"]) == ("007", "0042")


def test_delimiters_are_sniffed_and_compressed_csv_is_read(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "a.tsv", f"session_id\titem_id\tts\ns1\ti1\t{NOON_S}\n")
    semi = _write(tmp_path / "b.csv", f"session_id;item_id;ts\ns2;i2;{NOON_S}\n")
    packed = tmp_path / "c.csv.gz"
    packed.write_bytes(gzip.compress(f"session_id,item_id,ts\ns3,i3,{NOON_S}\n".encode()))
    layout = Paths(tmp_path / "data")
    report = load_files([tsv, semi, packed], layout=layout, options=FileOptions(), source="all")
    rows = _landed(layout, "all")
    assert [(r["session_id"], r["item_id"], r["source_file"]) for r in rows] == [
        ("s1", "i1", "a.tsv"),
        ("s2", "i2", "b.csv"),
        ("s3", "i3", "c.csv.gz"),
    ]
    assert report.rows_read == {"a.tsv": 1, "b.csv": 1, "c.csv.gz": 1}


def test_source_rows_count_per_file_across_many_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 256)  # many small batches
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _write(
        tmp_path / "one" / "log.csv",
        "session_id,item_id,ts\n" + "".join(f"s{i},i{i},{NOON_S + i}\n" for i in range(300)),
    )
    second = _write(tmp_path / "two" / "log.csv", f"session_id,item_id,ts\nx,y,{NOON_S}\n")
    assert len(list(readers.iter_batches(first, columns=["ts"]))) > 10
    layout = Paths(tmp_path / "data")
    report = load_files([first, second], layout=layout, options=FileOptions())
    rows = _landed(layout, "log")
    assert len(rows) == report.landing.events_written == 301
    assert [r["source_row"] for r in rows[:300]] == list(range(1, 301))
    assert rows[-1]["source_row"] == 1
    # Same file name in two folders: the paths keep dbt's fallback event ids unique.
    assert rows[0]["source_file"] != rows[-1]["source_file"]
    assert rows[299]["event_timestamp"] == NOON.replace(minute=4, second=59)


def test_item_file_maps_named_columns_and_keeps_the_rest(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", f"session_id,item_id,ts\ns1,i1,{NOON_S}\n")
    items = _write(
        tmp_path / "catalog.csv",
        "item_id,category_name,cost,name,brand\ni1,shoes,9.99,Runner,acme\ni2,hats,n/a,,\n",
    )
    layout = Paths(tmp_path / "data")
    options = ItemFileOptions(path=items, category="category_name", price="cost")
    report = load_files([log], layout=layout, options=FileOptions(), items=options)
    rows = pq.read_table(layout.landing_items).to_pylist()
    assert [(r["item_id"], r["category"], r["price"], r["title"]) for r in rows] == [
        ("i1", "shoes", 9.99, "Runner"),
        ("i2", "hats", None, ""),
    ]
    assert json.loads(str(rows[0]["attributes"])) == {"brand": "acme"}
    assert report.landing.items_written == 2


def test_a_missing_column_names_file_column_columns_found_and_flag(tmp_path: Path) -> None:
    log = _write(tmp_path / "events.csv", f"visitorid,itemid,timestamp\nv,i,{NOON_S}\n")
    with pytest.raises(IngestError) as caught:
        load_files([log], layout=Paths(tmp_path), options=FileOptions(user="userid"))
    message = str(caught.value)
    assert message.startswith("events.csv: no column 'userid'")
    assert "(columns: visitorid, itemid, timestamp)" in message
    assert message.endswith("pass --user visitorid")


def test_neither_user_nor_session_is_a_clear_error(tmp_path: Path) -> None:
    log = _write(tmp_path / "events.csv", f"item_id,timestamp\ni,{NOON_S}\n")
    with pytest.raises(
        IngestError, match=r"events.csv: neither a user nor a session column.*--session"
    ):
        load_files([log], layout=Paths(tmp_path), options=FileOptions())


def test_a_missing_time_column_says_which_flag_to_pass(tmp_path: Path) -> None:
    log = _write(tmp_path / "events.csv", "session_id,item_id,when_it_happened\ns,i,1\n")
    with pytest.raises(IngestError, match=r"events.csv: no time column found .*pass --time"):
        load_files([log], layout=Paths(tmp_path), options=FileOptions())


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, "missing.csv: no such file"),
        ("garbage.csv", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00binary", "garbage.csv: not UTF-8 text"),
        ("broken.parquet", b"PAR1 not really", "broken.parquet: cannot be read as Parquet"),
        ("ragged.csv", b"session_id,item_id,ts\ns,i,1\ns,i\n", "ragged.csv: cannot be read as CSV"),
        ("events.json", b"{}", "events.json: cannot tell the format"),
    ],
)
def test_unreadable_files_are_named_in_the_error(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    layout = Paths(tmp_path / "data")
    with pytest.raises(IngestError, match=expected.replace("(", r"\(")):
        load_files([path], layout=layout, options=FileOptions())
    assert not list(layout.landing.rglob("*.parquet")), "nothing lands from a failed ingest"


def test_every_file_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", f"session_id,item_id,ts\ns,i,{NOON_S}\n")
    bad = _write(tmp_path / "bad.csv", f"sid,product,ts\ns,i,{NOON_S}\n")
    layout = Paths(tmp_path / "data")
    with pytest.raises(IngestError, match=r"bad\.csv"):
        load_files([good, bad], layout=layout, options=FileOptions(item="item_id"))
    assert not layout.landing_events.exists()


def test_a_headerless_log_is_named_with_columns(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "clicks.dat",
        "1,2014-04-07T10:51:09.277Z,214536502,0\n2,2014-04-07T13:56:37.614Z,214662742,0\n",
    )
    with pytest.raises(
        IngestError, match=r"clicks\.dat: the first line looks like data.*--columns"
    ):
        load_files([log], layout=Paths(tmp_path / "data"), options=FileOptions())
    layout = Paths(tmp_path / "data")
    names = ("session_id", "timestamp", "item_id", "category")
    report = load_files([log], layout=layout, options=FileOptions(column_names=names))
    rows = _landed(layout, "clicks")
    assert [(r["session_id"], r["item_id"], r["source_row"]) for r in rows] == [
        ("1", "214536502", 1),
        ("2", "214662742", 2),
    ]
    assert rows[0]["event_timestamp"] == datetime(2014, 4, 7, 10, 51, 9, 277000, tzinfo=UTC)
    assert report.landing.items_written == 2, "the category column describes the items"


def test_a_folder_stands_for_the_files_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    _write(folder / "part-0.csv", f"session_id,item_id,ts\ns1,a,{NOON_S}\n")
    _write(folder / "part-1.csv", f"session_id,item_id,ts\ns2,b,{NOON_S}\n")
    _write(folder / "_SUCCESS", "")
    layout = Paths(tmp_path / "data")
    report = load_files([folder], layout=layout, options=FileOptions())
    assert report.rows_read == {"part-0.csv": 1, "part-1.csv": 1}
    assert (layout.landing_events / "export.parquet").exists()


def test_category_and_price_on_event_rows_become_items_latest_wins(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "log.csv",
        "user_id,item_id,ts,category_code,price\n"
        f"u1,a,{NOON_S + 10},shoes.new,12.5\n"
        f"u1,a,{NOON_S},shoes.old,10\n"
        f"u2,b,{NOON_S},,n/a\n"
        f"u2,a,{NOON_S + 20},,\n",
    )
    layout = Paths(tmp_path / "data")
    load_files([log], layout=layout, options=FileOptions())
    items = pq.read_table(layout.landing_items).to_pylist()
    assert [(r["item_id"], r["category"], r["price"], r["source_row"]) for r in items] == [
        ("a", "shoes.new", 12.5, 1),
    ], "b never has a category or a price"
    events = pq.read_table(layout.landing_events / "log.parquet")
    assert events.num_rows == 4 and "category_code" not in events.column_names
