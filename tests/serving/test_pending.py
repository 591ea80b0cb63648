"""The outage journal across processes: recognised ids, one replayer, nothing lost or doubled."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from serving.pending import PendingJournal


def _record(n: int) -> dict:
    return {
        "event_id": f"e{n}",
        "received_at": f"2026-01-01T00:00:{n:02d}",
        "event_timestamp": f"2026-01-01T00:00:{n:02d}",
    }


def _add_from_another_process(folder: Path, first: int, count: int) -> None:
    journal = PendingJournal(folder)
    for n in range(first, first + count):
        journal.add([_record(n)])


def test_ids_journaled_by_any_process_are_known_and_replayed_once(tmp_path: Path) -> None:
    folder = tmp_path / "pending"
    mine = PendingJournal(folder)
    mine.add([_record(0)])
    other = multiprocessing.get_context("spawn").Process(
        target=_add_from_another_process, args=(folder, 1, 20)
    )
    other.start()
    other.join(60)
    assert mine.exists()
    assert mine.known(["e0", "e5", "e20", "e99"]) == {"e0", "e5", "e20"}

    def fail(records: list) -> None:
        raise RuntimeError("Redis went away mid-replay")

    with pytest.raises(RuntimeError):  # the journal stays for the next attempt
        mine.replay(fail)
    mine.add([_record(21)])  # journaled after a failed replay, before the next one
    with pytest.raises(RuntimeError):
        mine.replay(fail)
    assert mine.known(["e0", "e21"]) == {"e0", "e21"}

    replayed: list[str] = []
    assert mine.replay(lambda records: replayed.extend(r["event_id"] for r in records)) == 22
    assert replayed == [f"e{n}" for n in range(22)]  # in the order received
    assert not mine.exists() and mine.known(["e0", "e5"]) == set()
    assert mine.replay(lambda records: replayed.extend(["again"])) == 0
