"""Events landed while Redis was away: journaled, recognised on retry, replayed on return.

When Redis does not answer, an accepted event is still landed durably (landing/served/, read
by the next dbt build) but cannot reach the online session state. Each such event is also
appended here, to landing/served/pending/ (dbt reads only landing/served/*.jsonl, so these
copies are never counted twice). Three things follow from that journal:

- a retry of a journaled event, to any worker, is answered "duplicate" and not landed again
  (`known` reads every worker's journal incrementally; Redis's event-id claims cover the
  rest of the time);
- once Redis answers again, `replay` claims the journaled ids in Redis and applies the events
  to their sessions in the order they were received, then deletes the journal. The session
  update is idempotent on event_id (recsys/session_store.py), so a replay cut short and
  repeated applies nothing twice;
- a request that arrives while a journal exists waits for the replay before claiming its own
  ids, so a retry can never win the claim ahead of the journaled original.

Processes coordinate through two lock files: appends hold `append.lock` shared, the replayer
holds it exclusively only to rename the journals it takes (`*.jsonl` -> `*.replaying`), and
`replay.lock` lets one worker replay at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Records = list[dict[str, Any]]


class PendingJournal:
    """Append, recognise and replay the events whose session update is still owed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path = folder / f"pending-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._lock = threading.Lock()
        self._offsets: dict[str, int] = {}  # journal file -> bytes already read by `known`
        self._known: set[str] = set()

    def add(self, records: Records) -> None:
        """Journal landed events whose session update did not happen (fsynced)."""
        payload = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self._lock, self._file_lock("append.lock", fcntl.LOCK_SH):
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            self._known.update(r["event_id"] for r in records)

    def exists(self) -> bool:
        """True when any worker has journaled events not yet replayed (one directory read)."""
        try:
            with os.scandir(self.folder) as entries:
                return any(e.name.endswith((".jsonl", ".replaying")) for e in entries)
        except FileNotFoundError:
            return False

    def known(self, event_ids: list[str]) -> set[str]:
        """Which of `event_ids` some worker has journaled (and not yet replayed)."""
        with self._lock:
            live = set()
            for path in self._journals():
                live.add(path.name)
                self._read_new(path)
            if set(self._offsets) - live:
                # a journal was taken for replay: start over (Redis claims its ids now)
                self._offsets, self._known = {}, set()
                for path in self._journals():
                    self._read_new(path)
            return self._known.intersection(event_ids)

    def replay(self, apply: Callable[[Records], None], *, wait: bool = False) -> int:
        """Apply every journaled event (oldest received first); return how many were replayed.

        `apply` must claim the ids and update the sessions idempotently; if it raises, the
        journal stays for the next attempt. Returns 0 without waiting when another worker is
        replaying, unless `wait`.
        """
        flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
        try:
            with self._file_lock("replay.lock", flags):
                with self._file_lock("append.lock", fcntl.LOCK_EX):
                    for path in sorted(self.folder.glob("*.jsonl")):
                        # a unique name: a journal left by a failed replay must not be replaced
                        path.rename(path.with_name(f"{path.stem}-{time.time_ns()}.replaying"))
                taken = sorted(self.folder.glob("*.replaying"))
                records: Records = []
                for path in taken:
                    records += _read(path)
                if records:
                    records.sort(key=lambda r: (r.get("received_at") or "", r["event_timestamp"]))
                    apply(records)
                for path in taken:
                    path.unlink(missing_ok=True)
                return len(records)
        except BlockingIOError:
            return 0

    def _journals(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith((".jsonl", ".replaying")))

    def _read_new(self, path: Path) -> None:
        offset = self._offsets.get(path.name, 0)
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
        for line in complete.splitlines():
            with contextlib.suppress(ValueError, KeyError):
                self._known.add(json.loads(line)["event_id"])
        self._offsets[path.name] = offset + len(complete)

    @contextlib.contextmanager
    def _file_lock(self, name: str, flags: int) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / name).open("a") as handle:
            fcntl.flock(handle, flags)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> Records:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out
