"""Reading a process's scheduler settings from /proc."""

from __future__ import annotations

import re
from pathlib import Path


def slice_ns(pid: int) -> int | None:
    """The process's time slice in ns (Linux 6.12 and newer show it; None before)."""
    found = re.search(r"^se\.slice\s*:\s*(\d+)", Path(f"/proc/{pid}/sched").read_text(), re.M)
    return int(found.group(1)) if found else None
