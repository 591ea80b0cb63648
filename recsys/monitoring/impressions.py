"""The impression log's format: one JSON line per answered GET /recommendations.

The server writes it (serving/impressions.py); dbt, drift and skew checks read it. Both sides
use the names and the record builder here, so the format is written down once. Documented
field by field in docs/contracts.md ("Impression log").

Files: `<data_dir>/landing/impressions/impressions-<YYYYMMDD>-<hostname>-<pid>.jsonl`, JSON
lines, append-only, one file per server process and UTC day; when a file passes the size limit
the next ones are `...-<pid>.1.jsonl`, `.2.jsonl`, ... Read them all with the glob
`impressions-*.jsonl` (`FILE_GLOB`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_PREFIX = "impressions"
FILE_GLOB = f"{FILE_PREFIX}-*.jsonl"

# Every line has exactly these keys, in this order.
FIELDS = (
    "request_id",
    "served_at",
    "user_id",
    "session_id",
    "model_version",
    "degraded",
    "reason",
    "k",
    "candidate_count",
    "timings_ms",
    "items",
    "features",
)
# Only while a champion/challenger experiment runs: the user's arm, right after model_version.
ARM_FIELD = "arm"
ITEM_FIELDS = ("item_id", "rank", "score")
FEATURE_ROW_FIELDS = ("item_id", "values")

# The last impression of each online session (user's rolling session or the given session id):
# a Redis hash item_id -> model version, so POST /events on any worker or replica can tell
# whether an event's item was just recommended. Expires after one session gap.
LAST_IMPRESSION_KEY_PREFIX = "recsys:impression:"


def last_impression_key(session_key: str) -> str:
    """The Redis key of a session's last impression (session_key: recsys.contract.session_key)."""
    return f"{LAST_IMPRESSION_KEY_PREFIX}{{{session_key}}}"  # hash tag: the claims' slot


def carries_features(request_id: str, share: float) -> bool:
    """Whether the line of this request carries feature vectors (RECSYS_IMPRESSION_FEATURES_SHARE).

    Decided by the request id (uuid4 hex, so uniform): the same request always decides the
    same way, and a reader can tell which lines were meant to carry vectors.
    """
    return int(request_id[:8], 16) < share * 0x1_0000_0000


def file_name(*, day: str, host: str, pid: int, part: int = 0) -> str:
    """A log file's name: day as YYYYMMDD; part > 0 for the files after a size rotation."""
    suffix = f".{part}" if part else ""
    return f"{FILE_PREFIX}-{day}-{host}-{pid}{suffix}.jsonl"


def served_at_text(when: datetime) -> str:
    """UTC ISO-8601 with microseconds: 2026-12-06T01:30:00.123456+00:00."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def build_record(
    *,
    request_id: str,
    served_at: datetime,
    user_id: str,
    session_id: str | None,
    model_version: str | None,
    degraded: bool,
    reason: str | None,
    k: int,
    candidate_count: int,
    timings_ms: dict[str, float],
    items: Sequence[tuple[str, float]],
    feature_names: Sequence[str] = (),
    feature_rows: Sequence[Sequence[float | None]] = (),
    arm: str | None = None,
) -> dict[str, Any]:
    """One impression line as a dict (keys in `FIELDS` order).

    Args:
        request_id: uuid4 hex, also returned to the client.
        served_at: When the answer was made (any timezone; written as UTC).
        user_id: The user of the request.
        session_id: The session id the request named (None: the user's rolling session).
        model_version: Version that produced the list (a fallback's batch version, or None).
        degraded: True when a fallback answered.
        reason: Why it degraded (None when not degraded).
        k: The list length asked for (after defaults and the cap).
        candidate_count: Candidates ranked (0 for fallbacks).
        timings_ms: Latency of each stage in milliseconds.
        items: (item_id, score) in the order shown; rank is the position, from 1.
        feature_names: The model's feature columns, in the order of each row's values.
        feature_rows: Feature vectors of the first len(feature_rows) shown items; NaN -> null.
        arm: The user's arm (champion / challenger) while an experiment runs; the key is
            written only then, so lines without an experiment are unchanged.
    """
    record = {
        "request_id": request_id,
        "served_at": served_at_text(served_at),
        "user_id": user_id,
        "session_id": session_id,
        "model_version": model_version,
        "degraded": bool(degraded),
        "reason": reason,
        "k": int(k),
        "candidate_count": int(candidate_count),
        "timings_ms": {str(stage): float(ms) for stage, ms in timings_ms.items()},
        "items": [
            {"item_id": str(item_id), "rank": rank, "score": float(score)}
            for rank, (item_id, score) in enumerate(items, start=1)
        ],
        "features": {
            "names": [str(n) for n in feature_names] if len(feature_rows) else [],
            "rows": [
                {"item_id": str(item_id), "values": [_value(v) for v in row]}
                for (item_id, _), row in zip(items, feature_rows, strict=False)
            ],
        },
    }
    if arm is None:
        return record
    at = FIELDS.index("model_version") + 1
    keys = [*FIELDS[:at], ARM_FIELD, *FIELDS[at:]]
    return {key: arm if key == ARM_FIELD else record[key] for key in keys}


def _value(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def dumps(record: dict[str, Any]) -> str:
    """One line of the log (no trailing newline), compact, strict JSON (no NaN)."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


def problems(record: dict[str, Any]) -> list[str]:
    """What is wrong with one parsed line ([] when it follows the format)."""
    out = []
    if tuple(k for k in record if k != ARM_FIELD) != FIELDS or (
        ARM_FIELD in record and list(record).index(ARM_FIELD) != FIELDS.index("model_version") + 1
    ):
        out.append(f"keys {list(record)}; expected {list(FIELDS)}")
        return out
    if not isinstance(record["request_id"], str) or len(record["request_id"]) != 32:
        out.append(f"request_id {record['request_id']!r} is not a uuid4 hex")
    try:
        offset = datetime.fromisoformat(record["served_at"]).utcoffset()
        if offset is None or offset.total_seconds() != 0:
            out.append(f"served_at {record['served_at']!r} is not UTC")
    except (TypeError, ValueError):
        out.append(f"served_at {record['served_at']!r} is not ISO-8601")
    if not isinstance(record["degraded"], bool):
        out.append("degraded is not a boolean")
    for name in ("k", "candidate_count"):
        if not isinstance(record[name], int) or isinstance(record[name], bool):
            out.append(f"{name} is not an integer")
    items = record["items"]
    if [tuple(i) for i in items] != [ITEM_FIELDS] * len(items):
        out.append("items do not all have item_id, rank, score")
    elif [i["rank"] for i in items] != list(range(1, len(items) + 1)):
        out.append("item ranks are not 1..n in order")
    features = record["features"]
    if tuple(features) != ("names", "rows"):
        out.append("features does not have exactly names and rows")
    else:
        width = len(features["names"])
        shown = [i["item_id"] for i in items]
        for row in features["rows"]:
            if tuple(row) != FEATURE_ROW_FIELDS or len(row["values"]) != width:
                out.append(f"feature row {row.get('item_id')!r} does not match the names")
        if [r["item_id"] for r in features["rows"]] != shown[: len(features["rows"])]:
            out.append("feature rows are not the first shown items, in order")
    return out


def read_impressions(folder: Path) -> Iterator[dict[str, Any]]:
    """Every line of every impression file under `folder` (files in name order)."""
    for path in sorted(folder.glob(FILE_GLOB)):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


# Feature groups as the ranker's columns define them (recsys/ranking/vectors.py): the item's and
# the user's batch features, the session's features, and cross features.
FEATURE_GROUPS = ("item", "user", "session", "cross")


def feature_groups(layout: Any) -> dict[str, str]:
    """Group of every column of a `FeatureLayout` (its names come in the groups' order)."""
    from recsys.ranking.session import SESSION_FEATURES

    sizes = (
        len(layout.item_features),
        len(layout.user_features),
        len(SESSION_FEATURES),
    )
    out: dict[str, str] = {}
    for position, name in enumerate(layout.names):
        group, edge = FEATURE_GROUPS[-1], 0
        for candidate, size in zip(FEATURE_GROUPS, sizes, strict=False):
            edge += size
            if position < edge:
                group = candidate
                break
        out[name] = group
    return out
