"""A short account of a dbt run: a progress line now and then, the warnings, the log's path.

dbt prints a START and an OK line per node (300 lines for one build); the full log is still
written to $RECSYS_DATA_DIR/dbt/logs/dbt.log, so the console gets a summary instead.
`recsys build --verbose` turns this off and shows dbt's own output.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_WARN_STATUSES = {"warn"}
_FAILED_STATUSES = {"error", "fail", "runtime error"}


@dataclass
class DbtProgress:
    """A dbtRunner callback: counts finished nodes, keeps warnings, prints a line every few s."""

    label: str = "dbt build"
    every_s: float = 5.0
    log_line: Callable[[str], Any] = print
    total: int = 0
    done: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)
    _printed: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine" and not self.total:
            self.total = int(event.data.total)
        elif name == "NodeFinished":
            self._finished(event.data)
        elif event.info.level == "warn" and name not in {"RunResultWarning", "LogTestResult"}:
            # dbt's own warnings (deprecations, config problems): kept for the end summary.
            with self._lock:
                self.warnings.append(event.info.msg.strip().splitlines()[0])

    def _finished(self, data: Any) -> None:
        result = data.run_result
        status = str(result.status)
        with self._lock:
            self.done += 1
            if status in _FAILED_STATUSES:
                self.failed += 1
            if status in _WARN_STATUSES:
                node = data.node_info.node_name or data.node_info.unique_id
                self.warnings.append(f"{node}: {(result.message or 'warning').strip()}")
            now = time.monotonic()
            if now - self._printed < self.every_s and self.done != self.total:
                return
            self._printed = now
            self.log_line(self._line(now))

    def _line(self, now: float) -> str:
        of = f"/{self.total}" if self.total else ""
        failed = f", {self.failed} failed" if self.failed else ""
        elapsed = now - self._started
        return f"    {self.label}: {self.done}{of} models and tests done{failed}, {elapsed:.0f} s"

    def summary(self, log_path: str) -> str:
        """Warnings (if any) and where the full log is."""
        lines = [f"  warning: {w}" for w in self.warnings[:20]]
        if len(self.warnings) > 20:
            lines.append(f"  ... and {len(self.warnings) - 20} more warnings")
        lines.append(f"  full dbt log: {log_path} (`--verbose` prints it here)")
        return "\n".join(lines)
