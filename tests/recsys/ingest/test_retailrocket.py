"""RetailRocket on small handmade files in the public release's layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.ingest.errors import IngestError
from recsys.ingest.retailrocket import load_retailrocket

EVENTS = """timestamp,visitorid,event,itemid,transactionid
1433221332117,257597,view,355908,
1433224214164,257597,addtocart,355908,
1433224300000,257597,transaction,355908,4000
1433221999827,992329,view,248676,
"""
# Item 460429 changes category three times, out of order and across both parts: the latest
# (part2, 1442113200000) wins. Item 206783 has no categoryid at all.
PART1 = """timestamp,itemid,property,value
1435460400000,460429,categoryid,1338
1441508400000,206783,888,1116713 960601 n277.200
1431226800000,460429,categoryid,1000
1433041200000,355908,categoryid,7
1433041200001,355908,available,1
1440000000000,355908,available,0
"""
PART2 = """timestamp,itemid,property,value
1442113200000,460429,categoryid,1339
1430000000000,460429,categoryid,999
"""
TREE = """categoryid,parentid
1338,250
1339,251
7,
"""


@pytest.fixture
def release(tmp_path: Path) -> Path:
    folder = tmp_path / "retailrocket"
    folder.mkdir()
    for name, text in (
        ("events.csv", EVENTS),
        ("item_properties_part1.csv", PART1),
        ("item_properties_part2.csv", PART2),
        ("category_tree.csv", TREE),
    ):
        (folder / name).write_text(text)
    return folder


def test_events_are_mapped_to_the_canonical_types(release: Path, tmp_path: Path) -> None:
    layout = Paths(tmp_path / "data")
    report = load_retailrocket(release, layout=layout)
    rows = pq.read_table(layout.landing_events / "retailrocket.parquet").to_pylist()
    assert [r["event_type"] for r in rows] == ["view", "add_to_cart", "purchase", "view"]
    assert [r["user_id"] for r in rows] == ["257597", "257597", "257597", "992329"]
    assert rows[0]["event_timestamp"] == datetime(2015, 6, 2, 5, 2, 12, 117000, tzinfo=UTC)
    assert rows[0]["event_timestamp_raw"] == "1433221332117"
    assert {r["session_id"] for r in rows} == {None}
    assert {r["event_id"] for r in rows} == {None}, "transactionid is not an event id"
    assert report.total_read == report.landing.events_written == 4


def test_latest_category_wins_and_parent_goes_into_attributes(
    release: Path, tmp_path: Path
) -> None:
    layout = Paths(tmp_path / "data")
    load_retailrocket(release, layout=layout)
    items = {r["item_id"]: r for r in pq.read_table(layout.landing_items).to_pylist()}
    assert set(items) == {"460429", "206783", "355908"}
    assert items["460429"]["category"] == "1339"
    assert items["460429"]["source_file"] == "item_properties_part2.csv"
    assert items["460429"]["source_row"] == 1
    assert json.loads(items["460429"]["attributes"])["parent_category"] == "251"
    assert items["206783"]["category"] is None
    # No category row: the item points at the first row it appears in.
    assert (items["206783"]["source_file"], items["206783"]["source_row"]) == (
        "item_properties_part1.csv",
        2,
    )
    assert json.loads(items["355908"]["attributes"]) == {
        "parent_category": None,
        "available": "0",
    }


def test_a_missing_column_names_the_file_and_the_layout(release: Path, tmp_path: Path) -> None:
    (release / "events.csv").write_text("ts,visitorid,event,itemid\n1,2,view,3\n")
    with pytest.raises(IngestError) as caught:
        load_retailrocket(release, layout=Paths(tmp_path / "data"))
    message = str(caught.value)
    assert message.startswith("events.csv: no column 'timestamp' (columns: ts, visitorid")
    assert "RetailRocket layout" in message


def test_events_only_folder_still_loads(tmp_path: Path) -> None:
    folder = tmp_path / "rr"
    folder.mkdir()
    (folder / "events.csv").write_text(EVENTS)
    layout = Paths(tmp_path / "data")
    report = load_retailrocket(folder, layout=layout)
    assert report.landing.items_written is None
    assert any("no item_properties" in note for note in report.notes)
