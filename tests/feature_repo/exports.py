"""Hand-made mart exports, written per docs/contracts.md, small enough to check by eye.

The dbt project that builds the real exports is developed in parallel; these files pin the
shapes Feast reads (column names, Arrow types, timestamp[us, UTC]) and cover the awkward
values: nulls, NaN, empty and null lists, unicode, negative numbers, boundary timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

T0 = datetime(2024, 3, 1, tzinfo=UTC)
WINDOW_START = T0
WINDOW_END = T0 + timedelta(days=10)
TS = pa.timestamp("us", tz="UTC")
COUNTS = [f"{k}_{w}" for w in ("1d", "7d", "30d") for k in ("views", "carts", "purchases")]
_STRINGS = pa.list_(pa.string())
_DOUBLES = pa.list_(pa.float64())


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


_DAILY = [(c, pa.int64()) for c in COUNTS]
USER_SCHEMA = _schema(
    ("user_id", pa.string()),
    ("event_timestamp", TS),
    ("feature_date", pa.date32()),
    *_DAILY,
    ("events_total", pa.int64()),
    ("sessions_total", pa.int64()),
    ("distinct_items_total", pa.int64()),
    ("active_days_30d", pa.int64()),
    ("first_event_epoch_s", pa.float64()),
    ("last_event_epoch_s", pa.float64()),
    ("conversion_rate_30d", pa.float64()),
    ("cart_rate_30d", pa.float64()),
    ("avg_price_30d", pa.float64()),
    ("top_categories", _STRINGS),
    ("top_category_shares", _DOUBLES),
    ("recent_item_ids", _STRINGS),
)
ITEM_SCHEMA = _schema(
    ("item_id", pa.string()),
    ("event_timestamp", TS),
    ("feature_date", pa.date32()),
    *_DAILY,
    ("events_total", pa.int64()),
    ("users_total", pa.int64()),
    ("cart_rate_30d", pa.float64()),
    ("purchase_rate_30d", pa.float64()),
    ("trend_7d", pa.float64()),
    ("category", pa.string()),
    ("price", pa.float64()),
    ("first_seen_epoch_s", pa.float64()),
    ("last_event_epoch_s", pa.float64()),
)
NEIGHBORS_SCHEMA = _schema(
    ("item_id", pa.string()),
    ("snapshot_name", pa.string()),
    ("event_timestamp", TS),
    ("covis_item_ids", _STRINGS),
    ("covis_scores", _DOUBLES),
    ("seq_item_ids", _STRINGS),
    ("seq_scores", _DOUBLES),
)
SESSION_SCHEMA = _schema(
    ("session_id", pa.string()),
    ("user_id", pa.string()),
    ("event_timestamp", TS),
    ("item_ids", _STRINGS),
    ("event_types", _STRINGS),
    ("event_times_ms", pa.list_(pa.int64())),
    ("event_count", pa.int64()),
)
BATCH_SCHEMA = _schema(
    ("user_id", pa.string()),
    ("event_timestamp", TS),
    ("item_ids", _STRINGS),
    ("scores", _DOUBLES),
    ("model_version", pa.string()),
)

# (user, days after T0): u1 twice inside the window, u2 inside and after it, u3 only before
# it, u4 exactly at its end (inclusive), u5 with every optional value missing.
USER_ROWS = [("u1", 1), ("u1", 2), ("u2", 1), ("u2", 12), ("u3", -1), ("u4", 10), ("u5", 3)]


def user_row(user: str, day: float) -> dict[str, Any]:
    """One user_features row; values derive from (user, day) so tests can recompute them."""
    n = int(user[1:])
    at = T0 + timedelta(days=day)
    row: dict[str, Any] = {"user_id": user, "event_timestamp": at, "feature_date": at.date()}
    row.update({c: n * 100 + int(day) * 10 + i for i, c in enumerate(COUNTS)})
    row.update(events_total=n * 1000 + int(day), sessions_total=n, distinct_items_total=-n)
    row.update(active_days_30d=int(day), first_event_epoch_s=at.timestamp() - 86400.5)
    row.update(last_event_epoch_s=at.timestamp(), conversion_rate_30d=0.0)
    row.update(cart_rate_30d=n / 7, avg_price_30d=19.99 if n != 2 else float("nan"))
    row.update(top_categories=["Bücher", "dvd"][: n % 3], top_category_shares=[0.75, 0.25][: n % 3])
    row.update(recent_item_ids=[f"i{j}" for j in range(n)])
    if user == "u5":
        row.update(cart_rate_30d=None, avg_price_30d=None, top_categories=None)
        row.update(top_category_shares=None, recent_item_ids=[])
    return row


def session_row(session: str, at: datetime, items: list[str]) -> dict[str, Any]:
    """One session_state row: the session's events so far, oldest first."""
    times = [
        int((at - timedelta(minutes=len(items) - 1 - k)).timestamp() * 1000)
        for k in range(len(items))
    ]
    return {
        "session_id": session,
        "user_id": f"user-of-{session}",
        "event_timestamp": at,
        "item_ids": items,
        "event_types": ["view"] * len(items),
        "event_times_ms": times,
        "event_count": len(items),
    }


SESSION_ROWS = [
    session_row("s1", T0 + timedelta(hours=1), ["i1", "i2", "i1"]),
    session_row("s2", T0 + timedelta(days=2), []),
    session_row("s3", T0 - timedelta(days=3), ["i9"]),
]


def write_exports(exports: Path) -> None:
    """Write user_features, item_features, item_neighbors and session_state exports."""
    exports.mkdir(parents=True, exist_ok=True)
    _write(exports / "user_features.parquet", [user_row(u, d) for u, d in USER_ROWS], USER_SCHEMA)
    items = []
    for n, day in ((1, 1), (1, 4), (2, 2), (3, 5)):
        at = T0 + timedelta(days=day)
        row: dict[str, Any] = {"item_id": f"i{n}", "event_timestamp": at, "feature_date": at.date()}
        row.update({c: n + day + i for i, c in enumerate((*COUNTS, "events_total", "users_total"))})
        row.update(cart_rate_30d=0.5, purchase_rate_30d=0.125 * n, trend_7d=1.0 / 3)
        row.update(category=None if n == 3 else f"cat-{n}", price=None if n == 2 else 9.5 * n)
        row.update(first_seen_epoch_s=T0.timestamp(), last_event_epoch_s=at.timestamp())
        items.append(row)
    _write(exports / "item_features.parquet", items, ITEM_SCHEMA)
    neighbors = []
    for name, day in (("train", 0), ("test", 6)):
        for n in (1, 2):
            others = [f"i{k}" for k in range(1, 5) if k != n][: day // 2 + n]
            neighbors.append(
                {
                    "item_id": f"i{n}",
                    "snapshot_name": name,
                    "event_timestamp": T0 + timedelta(days=day),
                    "covis_item_ids": others,
                    "covis_scores": [1.0 / (k + 1) for k in range(len(others))],
                    "seq_item_ids": others[:1],
                    "seq_scores": [-0.0] if n == 2 else [2.5],
                }
            )
    _write(exports / "item_neighbors.parquet", neighbors, NEIGHBORS_SCHEMA)
    _write(exports / "session_state.parquet", SESSION_ROWS, SESSION_SCHEMA)


def write_batch_recommendations(exports: Path) -> None:
    """Write what batch scoring writes (absent until its first run)."""
    rows = [
        {
            "user_id": f"u{n}",
            "event_timestamp": T0 + timedelta(days=n),
            "item_ids": [f"i{k}" for k in range(n)],
            "scores": [1.0 - k / 10 for k in range(n)],
            "model_version": "v-test",
        }
        for n in (1, 2)
    ]
    _write(exports / "batch_recommendations.parquet", rows, BATCH_SCHEMA)


def _write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
