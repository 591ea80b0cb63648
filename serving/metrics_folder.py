"""Where one server keeps prometheus_client's multiprocess files.

Each server gets a fresh folder of its own: a folder shared by two servers on one data
directory would add their counters together, and the second to start would delete the first's
files. The folder lives in memory (/dev/shm) when there is room: every metric update writes a
shared memory-mapped page, which on a disk file system the kernel keeps writing back to disk
for nothing, since no file in it is of use once the server stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MEMORY_FOLDER = Path("/dev/shm")
# Each process maps about 1 MiB per metric type (sparse until written); a small /dev/shm (a
# container's default is 64 MiB) fills up, and a write to a full mapping kills the process.
MIN_FREE_BYTES = 256 * 1024 * 1024


def in_memory_parent(folder: Path = MEMORY_FOLDER) -> Path | None:
    """`folder` when it is a writable directory with room to spare, else None."""
    try:
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            return None
        return folder if shutil.disk_usage(folder).free >= MIN_FREE_BYTES else None
    except OSError:
        return None


def new_metrics_folder() -> Path:
    """A fresh, empty folder for one server's metric files (memory first, else the temp dir)."""
    parent = in_memory_parent()
    return Path(tempfile.mkdtemp(prefix="recsys-metrics-", dir=parent))
