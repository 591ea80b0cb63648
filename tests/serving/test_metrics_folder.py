"""Where a server's metric files go: memory when it has room, else the temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving import metrics_folder


def test_a_writable_folder_with_room_is_used(tmp_path: Path) -> None:
    assert metrics_folder.in_memory_parent(tmp_path) == tmp_path


def test_a_missing_folder_or_a_file_is_not(tmp_path: Path) -> None:
    assert metrics_folder.in_memory_parent(tmp_path / "absent") is None
    a_file = tmp_path / "shm"
    a_file.write_text("")
    assert metrics_folder.in_memory_parent(a_file) is None


def test_a_folder_without_room_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small /dev/shm cannot be made here; a threshold above the disk's free space stands in.
    monkeypatch.setattr(metrics_folder, "MIN_FREE_BYTES", 1 << 62)
    assert metrics_folder.in_memory_parent(tmp_path) is None


def test_each_call_gives_a_fresh_empty_folder() -> None:
    first, second = metrics_folder.new_metrics_folder(), metrics_folder.new_metrics_folder()
    try:
        assert first != second
        assert list(first.iterdir()) == list(second.iterdir()) == []
    finally:
        first.rmdir()
        second.rmdir()
