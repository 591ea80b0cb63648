"""A background process lowers its priority: niceness, SCHED_BATCH and a 0.1 ms slice."""

from __future__ import annotations

import os
import subprocess
import sys

from serving.background_priority import NICENESS, SLICE_NS
from tests.serving.background import expected_background_slice, slice_ns

_CHILD = """
import os, sys
from serving.background_priority import lower_priority
lower_priority()
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def test_lower_priority_sets_niceness_policy_and_slice() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.nice(0) + NICENESS)
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
        # The default slice is several times longer (1.4 ms on 2 cores).
        assert slice_ns(pid) == expected_background_slice()
        assert slice_ns(os.getpid()) != SLICE_NS
    finally:
        child.communicate("")
