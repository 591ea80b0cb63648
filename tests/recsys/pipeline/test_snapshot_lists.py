"""Stored list sets of the per-snapshot list models: the grid, the fingerprint, reuse, pruning."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from recsys.pipeline.snapshot_lists import (
    DAY_US,
    ListStore,
    event_fingerprints,
    lists_cutoff,
    per_snapshot,
)

SOURCES = [Path(__file__)]
WEEK = 7 * DAY_US


def test_the_cutoff_is_the_snapshot_or_the_grid_midnight_before_it() -> None:
    at = 20_000 * DAY_US + 5 * 3_600_000_000  # day 20000 (a multiple of 8), 05:00
    assert lists_cutoff(at, 0) == at
    assert lists_cutoff(at, 1) == 20_000 * DAY_US
    assert lists_cutoff(at, 8) == 20_000 * DAY_US
    assert lists_cutoff(at - 6 * 3_600_000_000, 8) == 19_992 * DAY_US  # the day before: back 8
    with pytest.raises(ValueError, match=r"list_refresh_days.*found -1"):
        lists_cutoff(at, -1)


class World:
    """A real DuckDB events table; compute() counts the events before the cut-off."""

    def __init__(self, times_us: list[int]) -> None:
        self.con = duckdb.connect()
        self.con.execute(
            "create table e (session_id varchar, session_position int, item_id varchar,"
            " event_timestamp timestamptz)"
        )
        for i, at in enumerate(times_us):
            self.set(i, at, f"i{i}")
        self.calls: list[int] = []

    def set(self, row: int, at_us: int, item: str) -> None:
        self.con.execute("delete from e where session_position = ?", [row])
        self.con.execute(
            "insert into e values ('s', ?, ?, make_timestamp(?::bigint))", [row, item, at_us]
        )

    def compute(self, cutoff: int) -> pa.Table:
        (count,) = self.con.execute(
            "select count(*) from e where epoch_us(event_timestamp) < ?", [cutoff]
        ).fetchone() or (0,)
        self.calls.append(int(count))
        return pa.table({"item_id": ["a"], "n": [int(count)]})

    def run(
        self, store: ListStore, snapshots: list[tuple[str, int]], refresh_days: int = 7
    ) -> tuple[list[int], list[pa.Table]]:
        self.calls = []
        parts = per_snapshot(
            snapshots,
            refresh_days=refresh_days,
            store=store,
            fingerprints=lambda cutoffs: event_fingerprints(self.con, self.con.table("e"), cutoffs),
            compute=self.compute,
            label=lambda lists, name, at: lists.append_column(
                "snapshot", pa.array([f"{name}@{at}"] * len(lists))
            ),
        )
        return self.calls, parts


def test_sets_are_reused_only_when_rules_and_events_before_the_cutoff_match(
    tmp_path: Path,
) -> None:
    world = World([1, 2, WEEK + 1, WEEK + 2, 2 * WEEK + 1])
    # train and valid share the first grid line; serving is on the next one
    snapshots = [("train", WEEK + 5), ("valid", WEEK + 9), ("serving", 2 * WEEK + 3)]
    rules = {"top_k": 5}

    written = ListStore.open(tmp_path, "m", rules, SOURCES, reuse=False)
    calls, parts = world.run(written, snapshots)
    assert calls == [2, 4]  # one set per cut-off, not per snapshot
    assert [p["n"][0].as_py() for p in parts] == [2, 2, 4]
    assert parts[1]["snapshot"][0].as_py() == f"valid@{WEEK + 9}"

    reading = ListStore.open(tmp_path, "m", rules, SOURCES, reuse=True)
    calls, parts = world.run(reading, snapshots)
    assert calls == []
    assert [p["n"][0].as_py() for p in parts] == [2, 2, 4]

    # an event after every cut-off changes nothing stored; one before the second does, even
    # when only its item changes
    world.set(4, 2 * WEEK + 2, "other")
    assert world.run(reading, snapshots)[0] == []
    world.set(3, WEEK + 2, "other")
    assert world.run(reading, snapshots)[0] == [4]

    # the superseded set of that cut-off is gone; other rules' folders are dropped
    assert reading.folder is not None and len(list(reading.folder.iterdir())) == 2
    other = ListStore.open(tmp_path, "m", {"top_k": 6}, SOURCES, reuse=True)
    assert world.run(other, snapshots)[0] == [2, 4]
    assert other.folder is not None
    assert [p.name for p in (tmp_path / "list_snapshots" / "m").iterdir()] == [other.folder.name]


def test_an_unreadable_stored_set_is_computed_again(tmp_path: Path) -> None:
    world = World([1, 2])
    snapshots = [("serving", WEEK + 1)]
    store = ListStore.open(tmp_path, "m", {}, SOURCES, reuse=True)
    assert world.run(store, snapshots)[0] == [2]
    assert store.folder is not None
    for path in store.folder.iterdir():
        path.write_bytes(b"not parquet")
    assert world.run(store, snapshots)[0] == [2]
    assert world.run(store, snapshots)[0] == []


def test_without_a_grid_nothing_is_stored(tmp_path: Path) -> None:
    world = World([1, 2])
    store = ListStore.open(tmp_path, "m", {}, SOURCES, reuse=True)
    assert world.run(store, [("serving", 2)], refresh_days=0)[0] == [1]
    assert world.run(store, [("serving", 2)], refresh_days=0)[0] == [1]
    assert not (tmp_path / "list_snapshots").exists()


def test_without_a_data_dir_nothing_is_stored_or_read() -> None:
    world = World([1])
    store = ListStore.open(None, "m", {}, SOURCES, reuse=True)
    assert world.run(store, [("serving", WEEK + 2)])[0] == [1]
    assert world.run(store, [("serving", WEEK + 2)])[0] == [1]
