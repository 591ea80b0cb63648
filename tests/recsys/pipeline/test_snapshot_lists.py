"""Stored list sets of the per-snapshot list models: the grid, the fingerprint, reuse, pruning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recsys.pipeline.snapshot_lists import DAY_US, ListStore, lists_cutoff, per_snapshot

SOURCES = [Path(__file__)]


def test_the_cutoff_is_the_snapshot_or_the_grid_midnight_before_it() -> None:
    at = 20_000 * DAY_US + 5 * 3_600_000_000  # day 20000 (a multiple of 8), 05:00
    assert lists_cutoff(at, 0) == at
    assert lists_cutoff(at, 1) == 20_000 * DAY_US
    assert lists_cutoff(at, 8) == 20_000 * DAY_US
    assert lists_cutoff(at - 6 * 3_600_000_000, 8) == 19_992 * DAY_US  # the day before: back 8
    with pytest.raises(ValueError, match=r"list_refresh_days.*found -1"):
        lists_cutoff(at, -1)


class Lists:
    """compute() for per_snapshot: the number of events before the cut-off, counted calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, before: np.ndarray) -> pa.Table:
        self.calls.append(int(before.sum()))
        return pa.table({"item_id": ["a"], "n": [int(before.sum())]})


def _label(lists: pa.Table, name: str, at: int) -> pa.Table:
    return lists.append_column("snapshot", pa.array([f"{name}@{at}"] * len(lists)))


def _run(
    store: ListStore,
    at_us: np.ndarray,
    hashes: np.ndarray,
    snapshots: list[tuple[str, int]],
    refresh_days: int = 7,
) -> tuple[list[int], list[pa.Table]]:
    lists = Lists()
    parts = per_snapshot(
        snapshots,
        at_us=at_us,
        event_hash=hashes,
        refresh_days=refresh_days,
        store=store,
        compute=lists,
        label=_label,
    )
    return lists.calls, parts


def test_sets_are_reused_only_when_rules_and_events_before_the_cutoff_match(
    tmp_path: Path,
) -> None:
    week = 7 * DAY_US
    at_us = np.array([1, 2, week + 1, week + 2, 2 * week + 1], np.int64)
    hashes = np.array([11, 12, 13, 14, 15], np.uint64)
    # train and valid share the first grid line; serving is on the next one
    snapshots = [("train", week + 5), ("valid", week + 9), ("serving", 2 * week + 3)]
    rules = {"top_k": 5}

    written = ListStore.open(tmp_path, "m", rules, SOURCES, reuse=False)
    calls, parts = _run(written, at_us, hashes, snapshots)
    assert calls == [2, 4]  # one set per cut-off, not per snapshot
    assert [p["n"][0].as_py() for p in parts] == [2, 2, 4]
    assert [p["snapshot"][0].as_py() for p in parts][1] == f"valid@{week + 9}"

    reading = ListStore.open(tmp_path, "m", rules, SOURCES, reuse=True)
    calls, parts = _run(reading, at_us, hashes, snapshots)
    assert calls == []
    assert [p["n"][0].as_py() for p in parts] == [2, 2, 4]

    # an event after every cut-off changes nothing stored; one before the second does
    later = hashes.copy()
    later[4] = 99
    assert _run(reading, at_us, later, snapshots)[0] == []
    changed = hashes.copy()
    changed[3] = 99
    assert _run(reading, at_us, changed, snapshots)[0] == [4]

    # the superseded set of that cut-off is gone; other rules' folders are dropped
    assert len(list(reading.folder.iterdir())) == 2  # type: ignore[union-attr]
    other = ListStore.open(tmp_path, "m", {"top_k": 6}, SOURCES, reuse=True)
    assert _run(other, at_us, hashes, snapshots)[0] == [2, 4]
    assert [p.name for p in (tmp_path / "list_snapshots" / "m").iterdir()] == [
        other.folder.name  # type: ignore[union-attr]
    ]


def test_an_unreadable_stored_set_is_computed_again(tmp_path: Path) -> None:
    at_us = np.array([1, 2], np.int64)
    hashes = np.array([1, 2], np.uint64)
    snapshots = [("serving", 7 * DAY_US + 1)]
    store = ListStore.open(tmp_path, "m", {}, SOURCES, reuse=True)
    assert _run(store, at_us, hashes, snapshots)[0] == [2]
    for path in store.folder.iterdir():  # type: ignore[union-attr]
        path.write_bytes(b"not parquet")
    assert _run(store, at_us, hashes, snapshots)[0] == [2]
    assert _run(store, at_us, hashes, snapshots)[0] == []


def test_without_a_grid_nothing_is_stored(tmp_path: Path) -> None:
    store = ListStore.open(tmp_path, "m", {}, SOURCES, reuse=True)
    at_us = np.array([1, 2], np.int64)
    hashes = np.array([1, 2], np.uint64)
    assert _run(store, at_us, hashes, [("serving", 2)], refresh_days=0)[0] == [1]
    assert _run(store, at_us, hashes, [("serving", 2)], refresh_days=0)[0] == [1]
    assert not (tmp_path / "list_snapshots").exists()


def test_without_a_data_dir_nothing_is_stored_or_read() -> None:
    store = ListStore.open(None, "m", {}, SOURCES, reuse=True)
    at_us = np.array([1], np.int64)
    hashes = np.array([1], np.uint64)
    assert _run(store, at_us, hashes, [("serving", 2)])[0] == [0]
    assert _run(store, at_us, hashes, [("serving", 2)])[0] == [0]
