"""`recsys ingest ...` through the real top-level CLI."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ops.cli import app

runner = CliRunner()


def test_generate_writes_the_landing_and_reconciles(data_dir: Path) -> None:
    result = runner.invoke(app, ["ingest", "generate", "--events", "5000", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "rows read 5,000 = rows written 5,000" in result.output
    assert pq.read_metadata(data_dir / "landing" / "events" / "generator.parquet").num_rows == 5000
    assert (data_dir / "landing" / "items.parquet").exists()


def test_generate_reports_the_dirty_rows(data_dir: Path) -> None:
    result = runner.invoke(
        app,
        ["ingest", "generate", "--events", "4000", "--dirty-fraction", "0.01", "--no-session-ids"],
    )
    assert result.exit_code == 0, result.output
    assert "dirty rows injected: missing_user 10, unknown_event_type 10" in result.output
    assert "session ids omitted" in result.output


def test_file_loads_a_session_log_and_replaces_the_dataset(data_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["ingest", "generate", "--events", "2000"])
    log = tmp_path / "clicks.csv"
    log.write_text("session_id,item_id,timestamp\ns1,a,1767268800\ns1,b,1767268860\n")
    result = runner.invoke(app, ["ingest", "file", str(log)])
    assert result.exit_code == 0, result.output
    assert "rows read 2 = rows written 2" in result.output
    landed = sorted(p.name for p in (data_dir / "landing" / "events").iterdir())
    assert landed == ["clicks.parquet"]
    assert not (data_dir / "landing" / "items.parquet").exists()


def test_file_with_explicit_flags_and_append(data_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["ingest", "generate", "--events", "2000"])
    log = tmp_path / "log.tsv"
    log.write_text("who\twhat\twhen\tdid\nu1\ti1\t1767268800000\tclicked\n")
    result = runner.invoke(
        app,
        [
            "ingest", "file", str(log), "--user", "who", "--item", "what", "--time", "when",
            "--time-format", "ms", "--type", "did", "--type-map", "clicked=view", "--append",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    landed = sorted(p.name for p in (data_dir / "landing" / "events").iterdir())
    assert landed == ["generator.parquet", "log.parquet"]
    row = pq.read_table(data_dir / "landing" / "events" / "log.parquet").to_pylist()[0]
    assert (row["user_id"], row["item_id"], row["event_type"]) == ("u1", "i1", "view")


def test_a_missing_column_is_one_clear_line_without_traceback(
    data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.csv"
    log.write_text("visitorid,itemid,timestamp\n1,2,3\n")
    result = runner.invoke(app, ["ingest", "file", str(log), "--user", "userid"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: events.csv: no column 'userid' for the user "
        "(columns: visitorid, itemid, timestamp); pass --user visitorid"
    )
    assert "Traceback" not in result.output
    assert not (data_dir / "landing" / "events").exists()


def test_an_unreadable_file_is_named(data_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "events.parquet"
    broken.write_bytes(b"PAR1 truncated")
    result = runner.invoke(app, ["ingest", "file", str(broken)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: events.parquet: cannot be read as Parquet")
    assert "Traceback" not in result.output


def test_bad_generator_options_name_the_flag(data_dir: Path) -> None:
    result = runner.invoke(app, ["ingest", "generate", "--end-date", "soon"])
    assert result.exit_code == 2
    assert "--end-date: expected an ISO-8601 date" in result.stderr
    assert "found 'soon'" in result.stderr


@pytest.mark.movielens
def test_movielens_from_the_shared_copy(data_dir: Path, movielens_dir: Path) -> None:
    result = runner.invoke(app, ["ingest", "movielens", "--path", str(movielens_dir)])
    assert result.exit_code == 0, result.output
    assert "rows read 100,836 = rows written 100,836" in result.output
    assert "items: 9,742 rows" in result.output


def test_retailrocket_needs_its_folder(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "retailrocket", "--path", str(tmp_path)])
    assert result.exit_code == 2
    assert "events.csv: no such file" in result.stderr


def test_file_without_a_header_row_takes_columns(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "clicks.dat"
    log.write_text("1,2014-04-07T10:51:09.277Z,214536502,0\n")
    refused = runner.invoke(app, ["ingest", "file", str(log)])
    assert refused.exit_code == 2
    assert "clicks.dat: the first line looks like data" in refused.stderr
    result = runner.invoke(
        app, ["ingest", "file", str(log), "--columns", "session_id,timestamp,item_id,category"]
    )
    assert result.exit_code == 0, result.output
    assert "rows read 1 = rows written 1" in result.output
