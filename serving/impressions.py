"""Log every answered recommendation without slowing the answer down.

The request path hands a `Shown` (references to what it already computed: ids, scores, the
shown items' feature matrix) to a bounded in-process queue and returns; when the queue is full
the impression is dropped and counted (`recsys_impressions_dropped_total`), never waited for.
A forwarder thread sends the queue's contents in batches to a writer process
(`serving/impression_writer.py`) that turns them into JSON lines (landing/impressions/, the
format in recsys/monitoring/impressions.py), updates the live Prometheus signals and records
each session's last impression in Redis for the recommended-clicks counter.

Why a process and not a thread: encoding a 20-item line with its feature vectors costs about
0.5 ms of CPU, as much as half a request; in a thread it would hold the GIL the event loop
needs (and a CPU-bound thread makes a waiting one wait up to the 5 ms switch interval), which
shows at p99. The thread here only pickles (numpy arrays as raw bytes, ~10 us per request).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from recsys.config import Settings
from serving.metrics import IMPRESSIONS_DROPPED

log = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct(">Q")  # length of the pickled batch that follows
_BATCH = 256  # impressions per frame at most
_LINGER_S = 0.02  # how long impressions pile up before they are sent (last-impression delay)


class Shown(NamedTuple):
    """One answered request, as the request path hands it over (nothing computed anew)."""

    request_id: str
    served_at: float  # unix seconds
    user_id: str
    session_id: str | None
    session_key: str  # recsys.contract.session_key(user_id, session_id)
    model_version: str | None
    degraded: bool
    reason: str | None
    k: int
    candidate_count: int
    timings_ms: dict[str, float]
    item_ids: list[str]
    scores: list[float]
    feature_names: list[str] | None  # the model's columns (shared object: pickled once a batch)
    features: np.ndarray | None  # float32 [shown, len(feature_names)], model-ranked only
    arm: str | None = None  # champion / challenger while an experiment runs


def frame(payload: Any) -> bytes:
    """One message to the writer process: length, then the pickle."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(body)) + body


class ImpressionLog:
    """The bounded queue, its forwarder thread and the writer process of one server process."""

    def __init__(
        self,
        *,
        folder: Path,
        write_files: bool,
        queue_size: int,
        max_file_bytes: int,
        redis_url: str,
        session_ttl_s: int,
        timeout_s: float,
        feature_groups: dict[str, str],
        flush_every_s: float = 1.0,
    ) -> None:
        # A deque, not a queue.Queue: append and popleft take no lock and wake nobody. With a
        # Queue each put woke the forwarder blocked in get(), and each wake-up took the GIL
        # from the event loop in the middle of a request (a switch every few hundred us at
        # saturation); the forwarder now sleeps _LINGER_S and takes what piled up at once.
        self._pending: collections.deque[Shown] = collections.deque()
        self._size = queue_size
        self._stopping = threading.Event()
        self._running = threading.Event()  # cleared by paused(): the forwarder takes nothing
        self._running.set()
        self._taking = threading.Lock()  # held by the forwarder while it takes from the queue
        self._config = {
            "folder": str(folder),
            "write_files": write_files,
            "max_file_bytes": max_file_bytes,
            "redis_url": redis_url,  # sent through the pipe: never in a command line
            "session_ttl_s": session_ttl_s,
            "timeout_s": timeout_s,
            "feature_groups": feature_groups,
            "flush_every_s": flush_every_s,
            "pid": os.getpid(),
        }
        self._child: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._broken = False

    @classmethod
    def from_settings(cls, settings: Settings, *, feature_groups: dict[str, str]) -> ImpressionLog:
        """The log the server runs, configured from its settings."""
        return cls(
            folder=settings.paths.landing_impressions,
            write_files=settings.log_impressions,
            queue_size=settings.impression_queue_size,
            max_file_bytes=int(settings.impression_file_max_mb * 1024 * 1024),
            redis_url=settings.redis_url,
            session_ttl_s=int(settings.session_gap_minutes * 60),
            timeout_s=settings.redis_timeout_ms / 1000,
            feature_groups=feature_groups,
            flush_every_s=settings.impression_flush_seconds,
        )

    def start(self) -> None:
        """Start the writer process and the forwarder thread."""
        self._child = subprocess.Popen(
            [sys.executable, "-m", "serving.impression_writer"],
            stdin=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[1],
        )
        self._send(frame(self._config))
        self._thread = threading.Thread(target=self._forward, name="impressions", daemon=True)
        self._thread.start()

    def submit(self, shown: Shown) -> bool:
        """Queue one impression; False (and counted) when the queue is full. Never blocks.

        len() and append() are each atomic; request threads racing past the check at once can
        overshoot the bound by their number, no more.
        """
        if len(self._pending) >= self._size:
            IMPRESSIONS_DROPPED.inc()
            return False
        self._pending.append(shown)
        return True

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the forwarder (it takes nothing from the queue) for the block's duration.

        What an operator does to see the queue fill (and what the queue-full test does).
        """
        self._running.clear()
        with self._taking:  # a take already under way finishes first
            pass
        try:
            yield
        finally:
            self._running.set()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Send everything queued, let the writer flush its files, and wait for it."""
        self._running.set()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                log.error("impression forwarder did not finish in %.0f s", timeout_s)
        if self._child is not None:
            with contextlib.suppress(OSError):
                if self._child.stdin:
                    self._child.stdin.close()  # end of input: the writer flushes and exits
            try:
                self._child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.error("impression writer did not finish in %.0f s; stopping it", timeout_s)
                self._child.kill()
                self._child.wait()

    def _forward(self) -> None:
        while True:
            # Sleep, then take everything that piled up: the writer's cost per batch (a Redis
            # round trip, a frame) is paid once for several requests instead of for each.
            stopping = self._stopping.wait(_LINGER_S)
            self._running.wait()
            with self._taking:
                if not self._running.is_set():
                    continue
                batch = []
                while self._pending:
                    batch.append(self._pending.popleft())
            for start in range(0, len(batch), _BATCH):
                shown = batch[start : start + _BATCH]
                self._send(frame(shown), count=len(shown))
            if stopping and not self._pending:
                return

    def _send(self, data: bytes, *, count: int = 0) -> None:
        child = self._child
        if self._broken or child is None or child.stdin is None:
            IMPRESSIONS_DROPPED.inc(count)
            return
        try:
            child.stdin.write(data)
            child.stdin.flush()
        except (OSError, ValueError):  # the writer died: keep serving, count what is lost
            self._broken = True
            IMPRESSIONS_DROPPED.inc(count)
            log.exception("impression writer process is gone; impressions are dropped")
