"""Run the calling process as background work that gives way to request handling at once.

Three settings, each for a reason:
- niceness 10: on a busy host the server's workers get most of the CPU and background work
  catches up in their idle moments;
- SCHED_BATCH: a waking batch task never preempts a running one, so work that arrives
  mid-request waits for the request;
- a 0.1 ms time slice (Linux 6.12 and newer, sched_attr.sched_runtime of a fair task): the
  scheduler protects a running task from a waking one for the length of its slice (1.4 ms by
  default on 2 cores here), so a request that wakes while background work runs would wait up
  to that long; with the short slice it waits at most 0.1 ms. Older kernels ignore it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct

NICENESS = 10
SLICE_NS = 100_000  # the shortest slice Linux accepts
# struct sched_attr (include/uapi/linux/sched/types.h), first version: size, policy, flags,
# nice, priority, runtime, deadline, period, util_min, util_max.
_SCHED_ATTR = struct.Struct("=IIQiIQQQII")
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def lower_priority() -> None:
    """Niceness +10, SCHED_BATCH and the short slice, as far as this system allows."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError, AttributeError):  # Linux only
        if not set_batch_slice(SLICE_NS):  # one call sets the policy and the slice
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def set_batch_slice(slice_ns: int) -> bool:
    """SCHED_BATCH at the current niceness with a requested time slice; False where unsupported."""
    number = _SYS_SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "SCHED_BATCH"):
        return False
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    attr = _SCHED_ATTR.pack(_SCHED_ATTR.size, os.SCHED_BATCH, 0, nice, 0, slice_ns, 0, 0, 0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.syscall(number, 0, ctypes.create_string_buffer(attr, _SCHED_ATTR.size), 0)) == 0
