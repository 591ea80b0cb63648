"""The materialization marker: proof that the online store holds what was materialized.

An online store that restarted empty (or was never filled) still answers PING, and every
lookup then misses: each user gets the same fallback list while `/ready` said 200. So each
materialization ends by writing a small hash, one field per view it loaded (rows, interval
end, time). Redis loses it together with the features, and the server checks for it (one
HLEN, cached for a couple of seconds) to tell "healthy" from "empty".
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from recsys.contract import MATERIALIZED_MARKER_KEY, USER_VIEW

# The view whose rows every request reads from Redis; without it answers are fallbacks.
REQUIRED_VIEWS = (USER_VIEW,)


def write_marker(client: Any, summary: Any) -> None:
    """Record a finished materialization (`MaterializeSummary`) in the marker hash.

    One field per view loaded (skipped views leave their field as it was), so a partial run
    (batch scoring loads one view) keeps the record of the others.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    fields = {
        view.view: json.dumps(
            {
                "rows": view.rows,
                "unchanged": view.unchanged,
                "end": view.end.isoformat() if view.end else None,
                "materialized_at": now,
                "engine": summary.engine,
            }
        )
        for view in summary.views
        if not view.skipped
    }
    if fields:
        client.hset(MATERIALIZED_MARKER_KEY, mapping=fields)


def read_marker(client: Any) -> dict[str, dict[str, Any]]:
    """The marker's record per view ({} when Redis holds no marker)."""
    raw = client.hgetall(MATERIALIZED_MARKER_KEY)
    return {_text(k): json.loads(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MarkerCheck:
    """Is the marker there? Asked at most every `interval_s`, so requests can ask freely.

    `missing()` returns None when the required views' marker fields exist (or when Redis could
    not be asked: an outage is reported as one by the breaker, not as an empty store), else a
    reason to give in `degraded` answers and /ready.
    """

    def __init__(self, client: Any, *, interval_s: float = 2.0) -> None:
        self._client = client
        self._interval_s = interval_s
        self._checked_at = -float("inf")
        self._missing: str | None = None

    def missing(self) -> str | None:
        now = time.monotonic()
        if now - self._checked_at >= self._interval_s:
            self._checked_at = now
            self._missing = self._ask()
        return self._missing

    def _ask(self) -> str | None:
        try:
            present = self._client.hmget(MATERIALIZED_MARKER_KEY, list(REQUIRED_VIEWS))
        except Exception:  # an outage: the breaker and the redis check report it
            return None
        absent = [v for v, p in zip(REQUIRED_VIEWS, present, strict=True) if p is None]
        if not absent:
            return None
        return (
            f"the online store holds no materialized {', '.join(absent)} (marker "
            f"{MATERIALIZED_MARKER_KEY} missing: Redis restarted empty or was never filled); "
            "run `recsys materialize`"
        )
