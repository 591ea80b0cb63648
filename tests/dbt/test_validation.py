"""Validation, deduplication, served events and reconciliation on a hand-made landing area."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import Built, at, data_dir_env, write_events, write_served

BUILD_TIME = "2024-06-01T00:00:00Z"

# (event_id, user_id, session_id, item_id, event_type, event_timestamp, raw) per clicks.csv row.
CLICKS = [
    ("e1", "u1", "s1", "i1", "view", "2024-03-01T10:00:00", None),  # 1 dup of more.csv e1
    ("e2", None, "s1", "i1", "view", "2024-03-01T10:01:00", None),  # 2 missing user
    ("e3", "   ", "s1", "i1", "view", "2024-03-01T10:02:00", None),  # 3 blank user
    ("e4", "u1", "s1", None, "view", "2024-03-01T10:03:00", None),  # 4 missing item
    ("e5", None, "s1", None, "view", "2024-03-01T10:03:00", None),  # 5 user checked first
    ("e6", "u1", "s1", "i2", None, "2024-03-01T10:04:00", None),  # 6 missing type
    ("e7", "u1", "s1", "i2", "clik", "2024-03-01T10:04:00", None),  # 7 unknown type
    ("e8", "u1", "s1", "i2", "view", None, "yesterday"),  # 8 unparseable
    ("e9", "u1", "s1", "i2", "view", "2030-01-01T00:00:00", None),  # 9 future
    ("e1", "u1", "s1", "i1", "view", "2024-03-01T10:05:00", None),  # 10 dup of e1
    ("e11", "u2", "s2", "i3", "purchase", "2024-03-01T10:10:00", None),  # 11 clean
    ("e11", "u2", "s2", "i3", "purchase", "2024-03-01T10:10:00", None),  # 12 dup, same time
    (None, "u2", "s2", "i3", "add_to_cart", "2024-03-01T10:11:00", None),  # 13 derived id
    (" e14 ", " u2 ", " s2 ", " i4 ", "view", "2024-03-01T10:12:00", None),  # 14 trimmed
    ("e15", "u3", "s3", "i5", "", "2024-03-01T10:13:00", None),  # 15 empty type
    ("e16", "u3", "s3", "i5", "VIEW", "2024-03-01T10:14:00", None),  # 16 case matters
    ("e11", None, "s3", "i5", "view", "2024-03-01T09:00:00", None),  # 17 invalid, not a dup
    ("e18", "u3", "s3", "i5", "view", "2024-06-01T00:05:00", None),  # 18 within the skew
    ("e19", "u3", "s3", "i5", "view", "2024-06-01T00:05:00.000001", None),  # 19 future
]
MORE = [
    ("e1", "u1", "s1", "i1", "view", "2024-03-01T09:59:00", None),  # earliest e1: kept
    ("e20", "u4", "s4", "i1", "view", "2024-03-02T08:00:00", None),
]
SERVED: list[str | Mapping[str, str]] = [
    {
        "event_id": "e30",
        "user_id": "u5",
        "session_id": "s5",
        "item_id": "i1",
        "event_type": "view",
        "event_timestamp": "2024-03-02T09:00:00Z",
        "received_at": "2024-03-02T09:00:01Z",
    },
    "",
    '{"event_id": "e31", "user_id": ',
    {
        "event_id": "e20",
        "user_id": "u4",
        "session_id": "s4",
        "item_id": "i1",
        "event_type": "view",
        "event_timestamp": "2024-03-02T09:30:00Z",
        "received_at": "2024-03-02T09:30:00Z",
    },
    {
        "event_id": "e32",
        "user_id": "u5",
        "session_id": "s5",
        "item_id": "i2",
        "event_type": "add_to_cart",
        "event_timestamp": "2024-03-02T09:01:00+00:00",
        "received_at": "2024-03-02T09:01:00Z",
    },
]
FIELDS = (
    "event_id",
    "user_id",
    "session_id",
    "item_id",
    "event_type",
    "event_timestamp",
    "event_timestamp_raw",
)


def _rows(table: Sequence[tuple[str | None, ...]]) -> list[dict[str, str | None]]:
    return [dict(zip(FIELDS, row, strict=True)) for row in table]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    data_dir = tmp_path_factory.mktemp("validation") / "data"
    write_events(data_dir, "clicks", _rows(CLICKS), source_file="clicks.csv")
    write_events(data_dir, "more", _rows(MORE), source_file="more.csv")
    write_served(data_dir, "served-2024-03-02.jsonl", SERVED)
    write_served(data_dir, "served-empty.jsonl", [])
    # A bare file with only three of the contract's columns: the rest must default, not fail.
    bare = pa.table(
        {
            "session_id": ["anon-1", "anon-1"],
            "item_id": ["i1", "i9"],
            "event_timestamp": pa.array(
                [at("2024-03-03T10:00:00"), at("2024-03-03T10:01:00")], pa.timestamp("us", "UTC")
            ),
        }
    )
    pq.write_table(bare, data_dir / "landing" / "events" / "bare.parquet")
    with data_dir_env(data_dir):
        summary = dbt_runner.build(vars={"build_time": BUILD_TIME}, quiet=True)
        yield Built(data_dir, summary)


def _reasons(built: Built, source_file: str) -> dict[int, tuple[str, bool]]:
    """Reason and its detail as one text ("kind 'value'"), the way a person reads them."""
    rows = built.rows(
        "select source_row, quarantine_reason, quarantine_detail, is_duplicate "
        "from events_quarantine where source_file = ?",
        source_file,
    )
    return {
        row: (reason if detail is None else f"{reason} {detail!r}", duplicate)
        for row, reason, detail, duplicate in rows
    }


def test_each_quarantine_reason_has_the_contract_text(built: Built) -> None:
    assert _reasons(built, "clicks.csv") == {
        1: ("duplicate event_id 'e1'", True),
        2: ("missing user_id", False),
        3: ("missing user_id", False),
        4: ("missing item_id", False),
        5: ("missing user_id", False),
        6: ("missing event_type", False),
        7: ("unknown event_type 'clik'", False),
        8: ("unparseable event_timestamp 'yesterday'", False),
        9: ("future event_timestamp '2030-01-01T00:00:00.000000Z'", False),
        10: ("duplicate event_id 'e1'", True),
        12: ("duplicate event_id 'e11'", True),
        15: ("missing event_type", False),
        16: ("unknown event_type 'VIEW'", False),
        17: ("missing user_id", False),
        19: ("future event_timestamp '2024-06-01T00:05:00.000001Z'", False),
    }


def test_quarantine_keeps_the_landing_values_as_found(built: Built) -> None:
    rows = built.dicts(
        "select user_id, event_timestamp_raw, landing_file from events_quarantine "
        "where source_file = 'clicks.csv' and source_row in (3, 8)"
        " order by source_row"
    )
    assert rows[0]["user_id"] == "   "
    assert rows[1]["event_timestamp_raw"] == "yesterday"
    assert rows[1]["landing_file"] == "events/clicks.parquet"


def test_duplicates_keep_the_earliest_copy_across_files(built: Built) -> None:
    kept = built.rows("select event_id, event_timestamp from fct_events where event_id = 'e1'")
    assert [(event_id, stamp.isoformat()) for event_id, stamp in kept] == [
        ("e1", "2024-03-01T09:59:00+00:00")
    ]
    # e11 twice at the same time: the lower source_row (11) wins; row 17 is invalid, not a dup.
    assert built.rows("select count(*) from fct_events where event_id = 'e11'") == [(1,)]


def test_clean_events_are_trimmed_and_get_a_derived_id(built: Built) -> None:
    derived = hashlib.md5(b"clicks.csv:13").hexdigest()
    ids = {
        row[0] for row in built.rows("select event_id from fct_events where user_id <> 'anon-1'")
    }
    assert ids == {"e1", "e11", derived, "e14", "e18", "e20", "e30", "e32"}
    trimmed = built.dicts("select * from fct_events where event_id = 'e14'")[0]
    assert (trimmed["user_id"], trimmed["session_id"], trimmed["item_id"]) == ("u2", "s2", "i4")


def test_served_lines_go_through_the_same_validation(built: Built) -> None:
    reasons = _reasons(built, "served-2024-03-02.jsonl")
    # Line 2 is blank (not a row); line 3 is malformed JSON: kept as a row, quarantined.
    assert reasons == {3: ("missing user_id", False), 4: ("duplicate event_id 'e20'", True)}


def test_reasons_are_categories_and_the_bad_value_has_its_own_column(built: Built) -> None:
    # The analyst query of dbt/README.md: one row per (file, reason), not per bad value.
    grouped = built.rows(
        "select quarantine_reason, count(*), count(distinct quarantine_detail) "
        "from events_quarantine where source_file = 'clicks.csv' group by 1 order by 1"
    )
    assert grouped == [
        ("duplicate event_id", 3, 2),
        ("future event_timestamp", 2, 2),
        ("missing event_type", 2, 0),
        ("missing item_id", 1, 0),
        ("missing user_id", 4, 0),
        ("unknown event_type", 2, 2),
        ("unparseable event_timestamp", 1, 1),
    ]
    raw = built.rows(
        "select event_timestamp_raw from events_quarantine where source_row = 3 "
        "and source_file = 'served-2024-03-02.jsonl'"
    )
    assert raw == [('{"event_id": "e31", "user_id": ',)]


def test_reconciliation_per_file_and_in_total(built: Built) -> None:
    rows = built.rows("select * from ingest_reconciliation order by source_file")
    assert rows == [
        ("bare.parquet", 2, 2, 0, 0),
        ("clicks.csv", 19, 4, 12, 3),
        ("more.csv", 2, 2, 0, 0),
        ("served-2024-03-02.jsonl", 4, 2, 1, 1),
    ]
    assert built.rows("select count(*) from fct_events") == [(10,)]
    assert built.summary.raw_rows == 27
    assert [f.source_file for f in built.summary.files] == [r[0] for r in rows]


def test_summary_lists_reasons_and_marts(built: Built) -> None:
    text = dbt_runner.format_summary(built.summary)
    assert "clicks.csv" in text and "served-2024-03-02.jsonl" in text
    kinds = {kind: count for kind, count, _ in built.summary.quarantine_reasons}
    assert kinds["missing user_id"] == 5
    assert kinds["duplicate event_id"] == 4
    examples = {kind: example for kind, _, example in built.summary.quarantine_reasons}
    assert examples["unknown event_type"] == "VIEW"
    assert examples["duplicate event_id"] == "e1"
    assert built.summary.mart_rows["fct_events"] == 10
    assert built.summary.events_per_s > 0


def test_a_build_without_events_names_the_missing_files(tmp_path: Path) -> None:
    with data_dir_env(tmp_path / "empty"), pytest.raises(dbt_runner.DbtBuildError) as failure:
        dbt_runner.build(quiet=True)
    message = str(failure.value)
    assert "stg_landing__events" in message
    assert "no landing files match" in message
    assert "recsys ingest generate" in message


def test_a_file_without_optional_columns_gets_the_contract_defaults(built: Built) -> None:
    rows = built.rows(
        "select event_id, user_id, session_id, event_type, session_position from fct_events "
        "where session_id = 'anon-1' order by session_position"
    )
    assert rows == [
        (hashlib.md5(b"bare.parquet:1").hexdigest(), "anon-1", "anon-1", "view", 1),
        (hashlib.md5(b"bare.parquet:2").hexdigest(), "anon-1", "anon-1", "view", 2),
    ]


def test_a_build_prints_progress_and_the_log_path_not_every_node(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    write_events(data_dir, "more", _rows(MORE), source_file="more.csv")
    with data_dir_env(data_dir):
        dbt_runner.build(vars={"build_time": BUILD_TIME})
        short = capfd.readouterr().out
        dbt_runner.build(vars={"build_time": BUILD_TIME}, verbose=True)
        verbose = capfd.readouterr().out
    progress = [line for line in short.splitlines() if "models and tests done" in line]
    assert progress, short
    done, total = progress[-1].split(": ")[1].split(" ")[0].split("/")
    assert done == total and int(total) > 100
    assert "START" not in short
    log_line = next(line for line in short.splitlines() if "full dbt log:" in line)
    log = Path(log_line.split("full dbt log: ")[1].split(" ")[0])
    assert log == data_dir / "dbt" / "logs" / "dbt.log" and "START" in log.read_text()
    # --verbose gives dbt's own per-node lines back.
    assert verbose.count(" START ") >= int(total)
