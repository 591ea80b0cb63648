"""A generated world split into a history and one events file per later day, and tables
read for row-by-row comparison (tests of incremental builds)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd

# Columns that name where a file came from this time (its modification time), not its rows.
SKIPPED_COLUMNS = {"load_id"}


def split_nights(source: Path, target: Path, nights: int) -> list[Path]:
    """landing/ of `source` as history.parquet plus one file per later day, under `target`."""
    shutil.copytree(source / "landing", target / "landing", ignore=shutil.ignore_patterns("events"))
    events = target / "landing" / "events"
    folder = target / "nights"
    events.mkdir(parents=True)
    folder.mkdir()
    with duckdb.connect() as connection:
        connection.execute(
            f"create table e as select * from read_parquet('{source}/landing/events/*.parquet')"
        )
        last = connection.execute(
            "select max(cast(event_timestamp at time zone 'UTC' as date)) from e"
        ).fetchone()
        assert last is not None
        first_night = last[0] - timedelta(days=nights - 1)
        day = "cast(event_timestamp at time zone 'UTC' as date)"
        connection.execute(
            f"copy (select * from e where {day} < '{first_night}') to '{events}/history.parquet'"
        )
        files = []
        for night in range(nights):
            date = first_night + timedelta(days=night)
            path = folder / f"day-{date}.parquet"
            connection.execute(f"copy (select * from e where {day} = '{date}') to '{path}'")
            files.append(path)
    return files


def table_frame(warehouse: Path, name: str) -> pd.DataFrame:
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
