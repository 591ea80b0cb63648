"""Prometheus metrics: latency per route and stage, fallbacks, events, freshness, model version.

Metrics always run in prometheus_client's multiprocess mode. Two reasons: with several uvicorn
workers /metrics must add up every worker (`recsys serve` points them all at one folder), and
importing Feast flips prometheus_client into that mode anyway (feast.metrics sets
PROMETHEUS_MULTIPROC_DIR to a temp folder on import), which would hide metrics created before
it. So the folder is chosen here, before prometheus_client is imported.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import time
from datetime import UTC, datetime
from typing import Any

from serving.metrics_folder import new_metrics_folder

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _folder = new_metrics_folder()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_folder)
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
# prometheus_client's value store reads the older spelling; Feast checks both.
os.environ.setdefault("PROMETHEUS_MULTIPROCESS_DIR", os.environ["PROMETHEUS_MULTIPROC_DIR"])

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.routing import Match

from recsys.contract import BATCH_VIEW, ITEM_NEIGHBORS_VIEW, ITEM_VIEW, USER_VIEW
from recsys.monitoring.impressions import FEATURE_GROUPS

# Views a materialization loads (recsys/online_marker.py); session_state is pushed per event.
MATERIALIZED_VIEWS = (USER_VIEW, ITEM_VIEW, ITEM_NEIGHBORS_VIEW, BATCH_VIEW)

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

REQUEST_SECONDS = Histogram(
    "recsys_request_seconds",
    "HTTP request latency by route",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
STAGE_SECONDS = Histogram(
    "recsys_stage_seconds",
    "Latency of one stage of a recommendation (features, rank)",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
FALLBACKS = Counter(
    "recsys_fallbacks_total", "Recommendations answered by a fallback, by reason", ["reason"]
)
EVENTS = Counter("recsys_events_total", "Events received, by outcome", ["status"])
# Every series exists from the start at 0, so a dashboard's rate() and an alert on "fallbacks
# went up" work before the first fallback instead of seeing the series appear from nothing.
FALLBACK_REASONS = ("no_features", "redis", "no_model", "error")
EVENT_STATUSES = ("accepted", "duplicate")
for _reason in FALLBACK_REASONS:
    FALLBACKS.labels(reason=_reason)
for _status in EVENT_STATUSES:
    EVENTS.labels(status=_status)
# -- live signals of what is served (issue 14; alert rules in monitoring/prometheus-alerts.yml)
NO_VERSION = "none"  # the model_version label of answers no model version stands behind
IMPRESSIONS = Counter(
    "recsys_impressions_total",
    "Answered GET /recommendations (one impression each), by the version that made the list",
    ["model_version"],
)
RECOMMENDED_CLICKS = Counter(
    "recsys_recommended_clicks_total",
    "Accepted events on an item of their session's last impression, by that list's version",
    ["model_version"],
)
IMPRESSIONS_DROPPED = Counter(
    "recsys_impressions_dropped_total",
    "Impressions not logged because the in-process queue was full (requests never wait)",
)
IMPRESSION_WRITE_ERRORS = Counter(
    "recsys_impression_write_errors_total",
    "Impression lines the writer could not append to landing/impressions/",
)
SCORE = Histogram(
    "recsys_score",
    "Ranker scores of the items shown (model-ranked answers only; fallbacks are not scores)",
    ["model_version"],
    buckets=(-8.0, -4.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0),
)
MISSING_FEATURES = Counter(
    "recsys_missing_features_total",
    "Missing (NaN) feature values in the vectors of the items shown, by feature group",
    ["group"],
)
FEATURE_AGE = Gauge(
    "recsys_feature_age_seconds",
    "Seconds since the last materialization of each feature view (+Inf: none recorded)",
    ["view"],
    multiprocess_mode="mostrecent",  # the last scrape's reading, whichever worker took it
)
MODEL_INFO = Gauge(
    "recsys_model_info",
    "1 for the model version being served",
    ["version"],
    multiprocess_mode="max",
)
IMPRESSIONS.labels(model_version=NO_VERSION)
RECOMMENDED_CLICKS.labels(model_version=NO_VERSION)
for _group in FEATURE_GROUPS:
    MISSING_FEATURES.labels(group=_group)


def version_label(version: str | None) -> str:
    """The model_version label of an answer."""
    return version or NO_VERSION


def observe_all(histogram: Any, values: Any) -> None:
    """`histogram.observe(v)` for every v, in a few writes instead of two per value.

    In multiprocess mode each write is a locked mmap update (~2 us); the impression writer
    observes 20 scores per answer. Same result as observing one by one (a test compares).
    The bucket and sum values are prometheus_client's own (pinned in uv.lock); without them
    this falls back to one observe per value.
    """
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or np.isnan(array).any():
        for value in array.tolist():
            histogram.observe(value)
        return
    # observe() counts a value in the first bucket whose upper bound is >= it.
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts).tolist():
        buckets[index].inc(int(counts[index]))
    total.inc(float(array.sum()))


def version_seen(version: str | None) -> None:
    """Create a version's series at 0, so rate() and ratios work before its first event."""
    label = version_label(version)
    IMPRESSIONS.labels(model_version=label)
    RECOMMENDED_CLICKS.labels(model_version=label)
    SCORE.labels(model_version=label)


def feature_ages(marker: dict[str, dict[str, Any]], *, now: datetime | None = None) -> None:
    """Set the age of each materialized view from the materialization marker's records."""
    now = now or datetime.now(UTC)
    for view in sorted({*MATERIALIZED_VIEWS, *marker}):
        age = math.inf
        stamp = marker.get(view, {}).get("materialized_at")
        with contextlib.suppress(TypeError, ValueError):
            when = datetime.fromisoformat(str(stamp))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            age = max(0.0, (now - when).total_seconds())
        FEATURE_AGE.labels(view=view).set(age)


class _OwnMetrics:
    """The multiprocess folder also holds Feast's feature-server gauges (it imports
    prometheus_client and writes there); they are never updated here and would only mislead."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._collector = multiprocess.MultiProcessCollector(None)
        registry.register(self)

    def collect(self) -> Any:
        return (m for m in self._collector.collect() if m.name.startswith("recsys_"))


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics (all workers) and its content type."""
    registry = CollectorRegistry()
    _OwnMetrics(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def route_path(scope: dict[str, Any]) -> str:
    """The route template of a request, so labels stay few: `/items/{item_id}`, not each id.

    FastAPI records the matched route in the scope for its own routes only; the docs routes
    (`/docs`, `/openapi.json`) are plain Starlette routes, looked up here instead.
    """
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    app = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


def model_changed(old: str | None, new: str | None) -> None:
    """Move the model-info gauge from the old version to the new one; create its series."""
    if old:
        MODEL_INFO.labels(version=old).set(0)
    if new:
        MODEL_INFO.labels(version=new).set(1)
        version_seen(new)


class LatencyMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware costs ~0.1 ms): latency per route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            REQUEST_SECONDS.labels(
                route=route_path(scope),
                method=scope.get("method", ""),
                status=str(status["code"]),
            ).observe(time.perf_counter() - started)
