"""Impression-log lines in the server's format (recsys/monitoring/impressions.py), by hand.

Until the serving side writes them, the offline tests write the same JSON lines themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def impression(
    request_id: str,
    served_at: str,
    user_id: str,
    items: Sequence[str],
    *,
    session_id: str | None = None,
    model_version: str | None = "m1",
    degraded: bool = False,
    reason: str | None = None,
    timings_ms: Mapping[str, float] | None = None,
    feature_names: Sequence[str] = (),
    vectors: Mapping[str, Sequence[float | None]] | None = None,
    scores: Sequence[float] | None = None,
) -> dict[str, Any]:
    """One impression record; items are shown in the given order (rank 1 first)."""
    scores = scores or [float(len(items) - rank) for rank in range(len(items))]
    return {
        "request_id": request_id,
        "served_at": served_at,
        "user_id": user_id,
        "session_id": session_id,
        "model_version": model_version,
        "degraded": degraded,
        "reason": reason,
        "k": len(items),
        "candidate_count": 300,
        "timings_ms": dict(timings_ms or {"features": 0.5, "rank": 1.5}),
        "items": [
            {"item_id": item, "rank": rank, "score": score}
            for rank, (item, score) in enumerate(zip(items, scores, strict=True), start=1)
        ],
        "features": {
            "names": list(feature_names),
            "rows": [
                {"item_id": item, "values": list(values)}
                for item, values in (vectors or {}).items()
            ],
        },
    }


def write_impressions(
    data_dir: Path,
    name: str,
    lines: Sequence[str | Mapping[str, Any]],
    *,
    final_newline: bool = True,
) -> Path:
    """Write landing/impressions/<name>: dicts become JSON lines, strings are written as is."""
    path = data_dir / "landing" / "impressions" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + ("\n" if final_newline and lines else ""), encoding="utf-8")
    return path
