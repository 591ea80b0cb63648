"""Jobs run alongside in a real forked child: results, failures and a child that dies."""

from __future__ import annotations

import os
import signal

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
