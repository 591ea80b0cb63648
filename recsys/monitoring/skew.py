"""Training/serving skew: rebuild logged online vectors offline and compare them value by value.

For a sample of logged answers (non-degraded, with a named session and logged vectors), the
vector of each logged item is rebuilt the way a training set builds it (training/dataset.py):
user and item batch features from Feast `get_historical_features` at the answer's time (the
`fetch` the caller passes: training's point-in-time fetcher), the session prefix from the
logged events of that session before the answer, and the candidates and feature matrix from
`recsys.ranking`, the code both sides share. Any difference beyond float32 rounding is a
mismatch of that feature, reported with an example.

What the server reads where matters for what can skew: it reads the user row and the session
from Redis per request, but holds item features in process, loaded from the exports as of
the last materialization. A user feature changed in Redis behind Feast's back therefore shows
up here; an item feature changed in Redis does not reach the server at all (nothing to see).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from recsys.contract import MAX_SESSION_EVENTS
from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import Moment, candidates, features
from recsys.ranking.session import TYPE_CODE, SessionArrays
from recsys.ranking.users import average_price, user_context
from recsys.ranking.vectors import FeatureLayout

Fetch = Callable[[str, np.ndarray, np.ndarray], pa.Table]
# float32 vectors logged as JSON doubles: equal within float32 precision
RELATIVE_TOLERANCE = 1e-5
ABSOLUTE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Logged:
    request_id: str
    served_at: datetime
    user_id: str
    session_id: str
    feature_names: list[str]
    items: list[tuple[str, list[float | None]]]


@dataclass
class SkewResult:
    requests: int = 0
    vectors: int = 0
    not_rebuilt: dict[str, int] = field(default_factory=dict)
    compared: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        rows = [
            {
                "feature": name,
                "compared": self.compared.get(name, 0),
                "mismatches": self.mismatches.get(name, 0),
                "example": _example_text(self.examples.get(name)),
            }
            for name in sorted(self.compared, key=lambda n: (-self.mismatches.get(n, 0), n))
        ]
        return {
            "requests": self.requests,
            "vectors": self.vectors,
            "not_rebuilt": self.not_rebuilt,
            "mismatches_total": sum(self.mismatches.values()),
            "mismatched_features": sorted(n for n, c in self.mismatches.items() if c),
            "features": rows,
            "examples": self.examples,
            "note": None,
        }


def _example_text(example: dict[str, Any] | None) -> str | None:
    if not example:
        return None
    return (
        f"request {example['request_id']} item {example['item_id']}: "
        f"online {example['online']}, offline {example['offline']}"
    )


def sample(connection: duckdb.DuckDBPyConnection, *, since: datetime, size: int) -> list[Logged]:
    """Up to `size` logged answers with a session and vectors (a stable pseudo-random pick)."""
    rows = connection.execute(
        """
        select request_id, served_at, user_id, session_id, feature_names
        from fct_recommendation_requests
        where served_at >= ? and not is_degraded and session_id is not null
            and len(feature_names) > 0
        """,
        [since],
    ).fetchall()
    rows.sort(key=lambda row: hashlib.sha256(row[0].encode()).hexdigest())
    chosen = rows[:size]
    vectors = connection.execute(
        """
        select request_id, item_id, feature_values from fct_impressions
        where request_id in (select unnest(?)) and feature_values is not null
        order by request_id, rank
        """,
        [[row[0] for row in chosen]],
    ).fetchall()
    by_request: dict[str, list[tuple[str, list[float | None]]]] = {}
    for request_id, item_id, values in vectors:
        by_request.setdefault(request_id, []).append((item_id, values))
    return [
        Logged(row[0], row[1], row[2], row[3], list(row[4]), by_request.get(row[0], []))
        for row in chosen
    ]


def session_events(
    connection: duckdb.DuckDBPyConnection, logged: list[Logged]
) -> dict[str, list[tuple[str, str, float, float]]]:
    """Events of each sampled session from the served log: (item, type, event time in s to
    the ms, as the session store keeps it; received time in s, which decides the prefix)."""
    rows = connection.execute(
        """
        select session_id, item_id, coalesce(event_type, 'view'),
            floor(epoch_ms(event_timestamp)) / 1000.0,
            epoch_us(coalesce(received_at, event_timestamp)) / 1e6
        from stg_landing__served_events
        where session_id in (select unnest(?)) and event_timestamp is not null
        qualify row_number() over (partition by event_id order by landing_file, landing_row) = 1
        order by session_id, event_timestamp, landing_file, landing_row
        """,
        [sorted({request.session_id for request in logged})],
    ).fetchall()
    events: dict[str, list[tuple[str, str, float, float]]] = {}
    for session_id, item_id, kind, at, received in rows:
        events.setdefault(session_id, []).append((item_id, kind, float(at), float(received)))
    return events


def _rows_by_key(table: pa.Table, key: str) -> dict[tuple[str, int], dict[str, Any]]:
    """Feature rows by (key, request time in s): fetch returns one row per entity row asked."""
    return {(row[key], int(row["event_timestamp"].timestamp())): row for row in table.to_pylist()}


def compare(
    logged: list[Logged],
    *,
    events: Mapping[str, list[tuple[str, str, float, float]]],
    catalog: Catalog,
    layout: FeatureLayout,
    fetch: Fetch,
    batch: Mapping[str, list[str]],
    config: CandidateConfig,
) -> SkewResult:
    """Rebuild each logged vector offline and count the features that differ.

    Two point-in-time lookups in all: the users at their answers' times, then every
    candidate item at its answer's time (Feast's join is per entity row, so one call each).
    """
    result = SkewResult(requests=len(logged))
    times = np.array([int(r.served_at.timestamp()) for r in logged], np.int64)
    users = _rows_by_key(
        fetch("user", np.array([r.user_id for r in logged], object), times), "user_id"
    )
    built = []
    for request, at_s in zip(logged, times, strict=True):
        user_row = users.get((request.user_id, int(at_s)))
        served_s = request.served_at.timestamp()
        # what the session held when the answer was made: the events received before it
        prefix = [e for e in events.get(request.session_id, []) if e[3] <= served_s]
        prefix = prefix[-MAX_SESSION_EVENTS:]
        session = SessionArrays(
            catalog.indices_of([e[0] for e in prefix]),
            np.array([TYPE_CODE.get(e[1], 0) for e in prefix], np.int8),
            np.array([e[2] for e in prefix], np.float64),
        )
        # the server's reference time: the session's last event, else the request's time
        moment = Moment(
            session=session,
            user=user_context(user_row, catalog, layout.user_features),
            user_avg_price=average_price(user_row),
            now_s=float(session.times_s[-1]) if len(session) else served_s,
        )
        include = catalog.indices_of(batch.get(request.user_id, []))
        built.append(
            (moment, candidates(catalog, moment, config=config, include=include[include >= 0]))
        )
    item_keys = [catalog.item_ids[cands.items] for _, cands in built]
    sizes = [len(keys) for keys in item_keys]
    items = _rows_by_key(
        fetch(
            "item",
            np.concatenate(item_keys) if item_keys else np.zeros(0, object),
            np.repeat(times, sizes),
        ),
        "item_id",
    )
    names = list(layout.item_features)
    for request, at_s, (moment, cands), keys in zip(logged, times, built, item_keys, strict=True):
        matrix = np.array(
            [[_number((items.get((i, int(at_s))) or {}).get(n)) for n in names] for i in keys],
            np.float32,
        ).reshape(len(keys), len(names))
        X = features(layout, catalog, cands, moment, item_rows=matrix)
        position = {item: row for row, item in enumerate(keys)}
        columns = [layout.names.index(name) for name in request.feature_names]
        for item_id, online in request.items:
            row = position.get(item_id)
            if row is None:
                reason = "not among the offline candidates"
                result.not_rebuilt[reason] = result.not_rebuilt.get(reason, 0) + 1
                continue
            result.vectors += 1
            offline = X[row, columns]
            for name, a, b in zip(request.feature_names, online, offline, strict=True):
                result.compared[name] = result.compared.get(name, 0) + 1
                if not _equal(a, float(b)):
                    result.mismatches[name] = result.mismatches.get(name, 0) + 1
                    result.examples.setdefault(
                        name,
                        {
                            "request_id": request.request_id,
                            "item_id": item_id,
                            "online": a,
                            "offline": None if math.isnan(b) else round(float(b), 6),
                        },
                    )
    return result


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _equal(online: float | None, offline: float) -> bool:
    if online is None or math.isnan(online):
        return math.isnan(offline)
    if math.isnan(offline):
        return False
    return math.isclose(online, offline, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)
