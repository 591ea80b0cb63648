"""bench/memory.py reads RSS and PSS from /proc/<pid>/smaps_rollup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.memory import notes, parse_smaps_rollup

SAMPLE = """\
55d4c8a3b000-7ffd1b5f3000 ---p 00000000 00:00 0                          [rollup]
Rss:              283412 kB
Pss:              201337 kB
Pss_Dirty:        150000 kB
Pss_Anon:         149000 kB
Pss_File:          52337 kB
Pss_Shmem:             0 kB
Shared_Clean:     120000 kB
Swap:                  0 kB
"""


def test_rss_and_pss_are_read_in_bytes() -> None:
    memory = parse_smaps_rollup(SAMPLE)
    assert memory.rss == 283412 * 1024
    assert memory.pss == 201337 * 1024
    assert (memory.pss_anon, memory.pss_file) == (149000 * 1024, 52337 * 1024)


def test_missing_pss_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="Pss"):
        parse_smaps_rollup("Rss: 10 kB\n")


def test_this_process_reads() -> None:
    memory = parse_smaps_rollup(Path(f"/proc/{os.getpid()}/smaps_rollup").read_text())
    assert 0 < memory.pss <= memory.rss


def test_notes_compare_off_and_on_per_size_and_workers() -> None:
    row = {"items": "15k", "workers": 2, "start-up to ready s": 9.0}
    off = row | {"shared catalog": "off", "PSS / worker MiB": 300.0, "PSS all workers MiB": 600.0}
    on = row | {"shared catalog": "on", "PSS / worker MiB": 280.0, "PSS all workers MiB": 560.0}
    text = notes([off, on])
    assert (
        "15k items, 2 worker(s): PSS/worker 300.0 -> 280.0 MiB, all workers 600.0 -> 560.0" in text
    )
