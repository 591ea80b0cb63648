"""The impression writer process: batches from the server in, JSON lines and live signals out.

Started by `serving.impressions.ImpressionLog` with a pipe on stdin: the first frame is the
configuration, then each frame is a list of `Shown`. For each impression it
- appends a line to landing/impressions/ (when file logging is on), flushed (and fsynced)
  about once a second and when the input ends; files rotate per UTC day and by size;
- observes recsys_score and counts missing feature values per group (its Prometheus files
  sit in the server's multiprocess folder, so /metrics adds them up; recsys_impressions_total
  is counted on the request path, exact even when the queue drops);
- stores the session's last impression in Redis (a hash item_id -> model version with the
  session gap as TTL) so POST /events, on any worker or replica, can count clicks on
  recommended items.
Nothing here can block a request: the server only ever drops what does not fit its queue.
"""

from __future__ import annotations

import logging
import math
import os
import select
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from recsys.monitoring.impressions import (
    FEATURE_GROUPS,
    build_record,
    dumps,
    file_name,
    last_impression_key,
    served_at_text,
)
from recsys.redis_cluster import is_cluster_client
from recsys.redis_runtime import client_from_url
from serving.background_priority import lower_priority
from serving.impressions import FRAME_HEADER, Shown
from serving.metrics import (
    IMPRESSION_WRITE_ERRORS,
    MISSING_FEATURES,
    SCORE,
    observe_all,
    version_label,
)

log = logging.getLogger("serving.impression_writer")
# Characters other than \n and \r that str.splitlines() breaks on and orjson writes as they
# are (it escapes the ones below U+0020).
_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_NO_FEATURES: dict[str, list[Any]] = {"names": [], "rows": []}
_NO_FEATURES_TEXT = '"features":{"names":[],"rows":[]}}'  # how a line without vectors ends


class Writer:
    """Turns batches of `Shown` into lines, metrics and last-impression keys."""

    def __init__(
        self,
        *,
        folder: str,
        write_files: bool,
        max_file_bytes: int,
        redis_url: str,
        session_ttl_s: int,
        timeout_s: float,
        feature_groups: dict[str, str],
        pid: int,
        **_: Any,
    ) -> None:
        self._folder = Path(folder)
        self._write_files = write_files
        self._max_bytes = max_file_bytes
        self._ttl = max(1, session_ttl_s)
        self._groups = feature_groups
        self._group_index: dict[tuple[str, ...], list[tuple[str, np.ndarray]]] = {}
        self._host = socket.gethostname()
        self._pid = pid
        self._day = ""
        self._part = 0
        self._unwritten: list[Shown] = []
        self._redis_warned_at = -float("inf")
        self._redis = client_from_url(redis_url, timeout_s=timeout_s, fail_fast=True)

    @property
    def pending(self) -> int:
        return len(self._unwritten)

    def handle(self, batch: list[Shown]) -> None:
        """Count, remember and queue one batch (its lines are encoded at the next flush)."""
        for shown in batch:
            self._signals(shown)
        if self._write_files:
            self._unwritten.extend(batch)
        self._remember(batch)

    def flush(self) -> None:
        """Encode the queued impressions and append them to today's file (the next part once
        it is full).

        Encoding here, once a second, rather than as each batch arrives (every 20 ms): the
        same work in one warm loop costs less and meets fewer requests (BENCHMARKS.md, the
        impression log's cost).
        """
        if not self._unwritten:
            return
        unwritten, self._unwritten = self._unwritten, []
        lines = [line(shown) for shown in unwritten]
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            path = self._path(len(payload))
            with path.open("ab") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            IMPRESSION_WRITE_ERRORS.inc(len(lines))
            log.error("could not append %d impressions under %s: %s", len(lines), self._folder, exc)

    def _path(self, size: int) -> Path:
        day = datetime.now(UTC).strftime("%Y%m%d")
        if day != self._day:
            self._day, self._part = day, 0
        self._folder.mkdir(parents=True, exist_ok=True)
        while True:
            path = self._folder / file_name(
                day=day, host=self._host, pid=self._pid, part=self._part
            )
            used = path.stat().st_size if path.exists() else 0
            if used == 0 or used + size <= self._max_bytes:
                return path
            self._part += 1

    def _signals(self, shown: Shown) -> None:
        version = version_label(shown.model_version)
        if not shown.degraded and shown.scores:
            observe_all(SCORE.labels(model_version=version), shown.scores)
        if shown.features is not None and shown.feature_names and len(shown.features):
            missing = np.isnan(shown.features)
            for group, columns in self._index(shown.feature_names):
                count = int(missing[:, columns].sum())
                if count:
                    MISSING_FEATURES.labels(group=group).inc(count)

    def _index(self, names: list[str]) -> list[tuple[str, np.ndarray]]:
        key = tuple(names)
        found = self._group_index.get(key)
        if found is None:
            groups = [self._groups.get(n, FEATURE_GROUPS[-1]) for n in names]
            found = [
                (group, np.flatnonzero([g == group for g in groups]))
                for group in FEATURE_GROUPS
                if group in groups
            ]
            self._group_index[key] = found
        return found

    def _remember(self, batch: list[Shown]) -> None:
        """Each session's last impression, for POST /events (one transaction per batch)."""
        try:
            # One transaction per batch on a single server; a cluster cannot run one across
            # slots, so there each session's key is written on its own (still one key each).
            pipe = self._redis.pipeline(transaction=not is_cluster_client(self._redis))
            for shown in batch:
                key = last_impression_key(shown.session_key)
                pipe.delete(key)
                if shown.item_ids:
                    version = version_label(shown.model_version)
                    pipe.hset(key, mapping=dict.fromkeys(shown.item_ids, version))
                    pipe.expire(key, self._ttl)
            pipe.execute()
        except (redis.RedisError, OSError, UnicodeError) as exc:
            now = time.monotonic()
            if now - self._redis_warned_at > 60:  # once a minute, not once a batch
                self._redis_warned_at = now
                log.warning("could not record last impressions in Redis: %s", type(exc).__name__)


def line(shown: Shown) -> str:
    """One impression line: the record of recsys.monitoring.impressions.build_record as JSON.

    Runs for every answer: orjson writes the line without vectors (~11 us here) and, for
    the sampled answers that carry them, the rows of the float32 matrix in one more call
    (~40 us for 20 x 73; json.dumps takes ~1 ms). Values have the shortest digits that
    read back as exactly the float32 the ranker read; NaN and inf come out as null,
    integral values as "3.0". Text other than ASCII is written as UTF-8, except
    the characters Python's str.splitlines() breaks on (escaped, so a line stays a line). A
    score or timing json would refuse (not finite) takes json.dumps's path, which raises.
    """
    scores = [float(score) for score in shown.scores]
    timings = {str(stage): float(ms) for stage, ms in shown.timings_ms.items()}
    if not all(map(math.isfinite, scores)) or not all(map(math.isfinite, timings.values())):
        return dumps(_record(shown))
    record: dict[str, Any] = {
        "request_id": shown.request_id,
        "served_at": served_at_text(datetime.fromtimestamp(shown.served_at, UTC)),
        "user_id": shown.user_id,
        "session_id": shown.session_id,
        "model_version": shown.model_version,
    }
    if shown.arm is not None:  # the key only while an experiment runs (build_record)
        record["arm"] = shown.arm
    record["degraded"] = bool(shown.degraded)
    record["reason"] = shown.reason
    record["k"] = int(shown.k)
    record["candidate_count"] = int(shown.candidate_count)
    record["timings_ms"] = timings
    record["items"] = [
        {"item_id": str(item_id), "rank": rank, "score": score}
        for rank, (item_id, score) in enumerate(zip(shown.item_ids, scores, strict=True), 1)
    ]
    record["features"] = _NO_FEATURES
    text = orjson.dumps(record).decode()
    rows = shown.features
    if rows is not None and len(rows) and shown.feature_names:
        # One orjson call for the rows, each a float32 row of the matrix (a view, no copy):
        # half the cost of a call per row, or of one call for the matrix split into rows.
        matrix = np.ascontiguousarray(rows, dtype=np.float32)
        encoded = orjson.dumps(
            [
                {"item_id": str(item_id), "values": values}
                for item_id, values in zip(shown.item_ids, matrix, strict=False)
            ],
            option=orjson.OPT_SERIALIZE_NUMPY,
        ).decode()
        names = orjson.dumps([str(name) for name in shown.feature_names]).decode()
        text = f'{text[: -len(_NO_FEATURES_TEXT)]}"features":{{"names":{names},"rows":{encoded}}}}}'
    if not text.isascii():
        for character, escaped in _LINE_BREAKS:
            text = text.replace(character, escaped)
    return text


def _record(shown: Shown) -> dict[str, Any]:
    """The line without vectors (added by `line`)."""
    return build_record(
        request_id=shown.request_id,
        served_at=datetime.fromtimestamp(shown.served_at, UTC),
        user_id=shown.user_id,
        session_id=shown.session_id,
        model_version=shown.model_version,
        degraded=shown.degraded,
        reason=shown.reason,
        k=shown.k,
        candidate_count=shown.candidate_count,
        timings_ms=shown.timings_ms,
        items=list(zip(shown.item_ids, shown.scores, strict=True)),
        arm=shown.arm,
    )


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> Any:
    """The next frame's object, or None at the end of input."""
    import pickle

    header = _read_exact(fd, FRAME_HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, FRAME_HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def main() -> int:
    """Run until stdin closes (the server stopping), then flush and exit."""
    logging.basicConfig(level=logging.INFO, format="impression writer: %(message)s")
    # Ctrl-C and a process-group SIGTERM reach this process too; it must outlive them to
    # flush what the server still sends. The end of stdin (the server stopping, or dying)
    # is what ends it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # It needs a few percent of a core and yields to requests (serving/background_priority.py);
    # when it falls far behind, the server's bounded queue drops and counts, never waits.
    lower_priority()
    fd = sys.stdin.fileno()
    config = _read_frame(fd)
    if config is None:
        return 0
    writer = Writer(**config)
    every = float(config.get("flush_every_s", 1.0))
    flushed_at = time.monotonic()
    while True:
        ready, _, _ = select.select([fd], [], [], every)
        if ready:
            batch = _read_frame(fd)
            if batch is None:
                break
            writer.handle(batch)
        if writer.pending and time.monotonic() - flushed_at >= every:
            writer.flush()
            flushed_at = time.monotonic()
    writer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
