"""Reading a process's scheduler settings from /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path

from serving.background_priority import SLICE_NS


def slice_ns(pid: int) -> int | None:
    """The process's time slice in ns (Linux 6.12 and newer show it; None before)."""
    found = re.search(r"^se\.slice\s*:\s*(\d+)", Path(f"/proc/{pid}/sched").read_text(), re.M)
    return int(found.group(1)) if found else None


def expected_background_slice() -> int | None:
    """The slice a lowered process shows here: SLICE_NS, or None before Linux 6.12."""
    release = tuple(int(part) for part in os.uname().release.split(".")[:2])
    return SLICE_NS if release >= (6, 12) else None
