"""Jobs run alongside in a real forked child: results, failures and a child that dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.alongside import Alongside


def test_the_result_comes_back_from_another_process() -> None:
    parent = os.getpid()
    side = Alongside(lambda: (os.getpid(), np.arange(1_000_000, dtype=np.float32)), fork=True)
    assert side.forked
    pid, array = side.result()
    assert pid != parent  # it really ran in a child
    assert array.shape == (1_000_000,) and array[-1] == 999_999


def test_a_failing_job_raises_in_the_parent_with_its_traceback() -> None:
    def job() -> None:
        raise ValueError("window 'valid' has no sessions")

    with pytest.raises(RuntimeError, match="window 'valid' has no sessions"):
        Alongside(job, fork=True).result()


def test_a_child_that_dies_is_an_error_not_a_hang() -> None:
    def job() -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 1

    with pytest.raises(RuntimeError, match="died"):
        Alongside(job, fork=True).result()


def test_without_fork_the_job_runs_here_when_asked() -> None:
    ran: list[int] = []

    def job() -> int:
        ran.append(os.getpid())
        return 7

    side = Alongside(job, fork=False)
    assert not side.forked and ran == []
    assert side.result() == 7 and ran == [os.getpid()]


def test_large_buffers_come_back_mapped_writable_and_intact() -> None:
    """Arrays and DataFrame blocks travel through the shared-memory file, not the pipe."""
    import pandas as pd

    def job() -> dict[str, Any]:
        rng = np.random.default_rng(3)
        return {
            "X": rng.random((50_000, 7), dtype=np.float32),
            "fortran": np.asfortranarray(rng.random((1_000, 3))),
            "frame": pd.DataFrame({"session": np.arange(10_001), "label": np.ones(10_001)}),
            "odd": np.arange(3, dtype=np.int8),  # 3 bytes: the next buffer must be re-aligned
            "after": np.arange(5, dtype=np.float64),
        }

    got = Alongside(job, fork=True).result()
    expected = job()
    np.testing.assert_array_equal(got["X"], expected["X"])
    np.testing.assert_array_equal(got["fortran"], expected["fortran"])
    pd.testing.assert_frame_equal(got["frame"], expected["frame"])
    np.testing.assert_array_equal(got["after"], expected["after"])
    # came back through the mapped file, not a pickled copy of the bytes
    assert not got["X"].flags.owndata and got["after"].ctypes.data % 64 == 0
    got["X"][0, 0] = -1.0  # copy-on-write: the parent may change what it received
    assert got["X"][0, 0] == -1.0


def test_the_spill_file_has_no_name_left_behind() -> None:
    shm = Path("/dev/shm")
    before = set(shm.iterdir()) if shm.is_dir() else set()
    Alongside(lambda: np.zeros(100_000), fork=True).result()
    after = set(shm.iterdir()) if shm.is_dir() else set()
    assert after <= before
