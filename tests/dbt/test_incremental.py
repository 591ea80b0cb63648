"""Incremental builds (dbt/README.md): nights built incrementally equal one full build.

One generated world is split into a history file and one file per later day. Warehouse A is
built in full on the history, then night by night in `auto` mode (incremental); warehouse B
is built in full once on the same files. Every table and view both hold must agree row by row
(floats to 1e-9 relative: parallel sums add in any order). Then a late event makes `auto`
rebuild in full, `--incremental` quarantines one, and a changed var asks for a full refresh.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys.config import Paths
from recsys.ingest.generator import GeneratorConfig, generate
from recsys.pipeline import build_state, dbt_runner
from tests.dbt.landing_files import data_dir_env, write_events

NIGHTS = 2
# Columns that name where a file came from this time (its modification time), not its rows.
SKIPPED_COLUMNS = {"load_id"}


def _split(source: Path, target: Path) -> list[Path]:
    """landing/ of `source` as history.parquet plus one file per later day, under `target`."""
    shutil.copytree(source / "landing", target / "landing", ignore=shutil.ignore_patterns("events"))
    events = target / "landing" / "events"
    nights = target / "nights"
    events.mkdir(parents=True)
    nights.mkdir()
    with duckdb.connect() as connection:
        connection.execute(
            f"create table e as select * from read_parquet('{source}/landing/events/*.parquet')"
        )
        last = connection.execute(
            "select max(cast(event_timestamp at time zone 'UTC' as date)) from e"
        ).fetchone()
        assert last is not None
        first_night = last[0] - timedelta(days=NIGHTS - 1)
        day = "cast(event_timestamp at time zone 'UTC' as date)"
        connection.execute(
            f"copy (select * from e where {day} < '{first_night}') to '{events}/history.parquet'"
        )
        files = []
        for night in range(NIGHTS):
            date = first_night + timedelta(days=night)
            path = nights / f"day-{date}.parquet"
            connection.execute(f"copy (select * from e where {day} = '{date}') to '{path}'")
            files.append(path)
    return files


def _table(warehouse: Path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        frame = connection.execute(f"select * from {name}").df()
    frame = frame.drop(columns=[c for c in frame.columns if c in SKIPPED_COLUMNS])
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v
            )
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    keys = [c for c in frame.columns if c not in floats]
    order = frame[keys].astype(str) if keys else frame.round(6).astype(str)
    return frame.iloc[order.apply(tuple, axis=1).argsort()].reset_index(drop=True)


def _tables(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_name not like 'stg_%' order by 1"
        ).fetchall()
    # Views over a relation of the build's own catalog name cannot be read from here.
    return [r[0] for r in rows if r[0] not in {"int_events_sessionized", "item_covisitation"}]


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("incremental")
    generated = root / "generated"
    # 40 days: longer than the 30-day windows, so incremental rows start from earlier totals.
    generate(GeneratorConfig(events=16_000, seed=5, days=40), layout=Paths(generated))
    incremental = root / "incremental"
    return incremental, _split(generated, incremental)


def test_incremental_nights_equal_a_full_build(
    nights: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    incremental, files = nights
    with data_dir_env(incremental):
        first = dbt_runner.build(quiet=True, mode="auto")
        assert first.mode == "full"
        for path in files:
            shutil.copy(path, incremental / "landing" / "events" / path.name)
            night = dbt_runner.build(quiet=True, mode="auto")
            assert night.mode == "incremental", night.mode_reason
    full = tmp_path / "full"
    shutil.copytree(incremental / "landing", full / "landing")
    with data_dir_env(full):
        dbt_runner.build(quiet=True, mode="full")
    names = _tables(full / "warehouse.duckdb")
    assert "user_features" in names and "fct_events" in names
    for name in names:
        expected = _table(full / "warehouse.duckdb", name)
        found = _table(incremental / "warehouse.duckdb", name)
        assert len(found) == len(expected), f"{name}: {len(found)} rows, full build {len(expected)}"
        pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-9, obj=name)


def test_late_events_rebuild_in_full_or_are_quarantined(nights: tuple[Path, list[Path]]) -> None:
    incremental, _ = nights
    with data_dir_env(incremental):
        state = build_state.read(Paths(incremental))
        assert state is not None and state["watermark_day"] is not None
        # dated 5 days before the last day: older than the 2-day lookback
        late_day = pd.Timestamp(0, tz="UTC") + pd.Timedelta(days=state["watermark_day"] - 5)
        event = {"user_id": "u1", "session_id": "late-s", "item_id": "i1", "event_type": "view"}
        write_events(
            incremental,
            "late-1",
            [{**event, "event_id": "late-1", "event_timestamp": late_day.isoformat()}],
            source_file="late-1.csv",
        )
        rebuilt = dbt_runner.build(quiet=True, mode="auto")
        assert rebuilt.mode == "full" and "late" in rebuilt.mode_reason
        write_events(
            incremental,
            "late-2",
            [{**event, "event_id": "late-2", "event_timestamp": late_day.isoformat()}],
            source_file="late-2.csv",
        )
        forced = dbt_runner.build(quiet=True, mode="incremental")
        assert forced.mode == "incremental"
        with duckdb.connect(str(Paths(incremental).warehouse), read_only=True) as connection:
            placed = connection.execute(
                "select event_id from fct_events where event_id like 'late-%'"
            ).fetchall()
            quarantined = connection.execute(
                "select event_id, quarantine_reason from events_quarantine "
                "where event_id like 'late-%'"
            ).fetchall()
        assert placed == [("late-1",)]
        assert quarantined == [("late-2", "late event_timestamp")]
        # quarantined late events leave no record: the next auto build is a full refresh
        assert dbt_runner.build(quiet=True, mode="auto").mode == "full"


def test_a_changed_definition_asks_for_a_full_refresh(nights: tuple[Path, list[Path]]) -> None:
    incremental, _ = nights
    layout = Paths(incremental)
    with data_dir_env(incremental):
        same = dbt_runner.contract_vars()
        assert build_state.plan(layout, "auto", same).mode == "incremental"
        changed = build_state.plan(layout, "auto", {**same, "covis_top_k": 7})
        assert changed.mode == "full" and "definitions" in changed.reason
        with pytest.raises(ValueError, match="full-refresh"):
            build_state.plan(layout, "incremental", {**same, "covis_top_k": 7})
