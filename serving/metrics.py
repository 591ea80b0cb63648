"""Prometheus metrics: latency per route and stage, fallbacks, events, freshness, model version.

Metrics always run in prometheus_client's multiprocess mode. Two reasons: with several uvicorn
workers /metrics must add up every worker (`recsys serve` points them all at one folder), and
importing Feast flips prometheus_client into that mode anyway (feast.metrics sets
PROMETHEUS_MULTIPROC_DIR to a temp folder on import), which would hide metrics created before
it. So the folder is chosen here, before prometheus_client is imported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from typing import Any

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _folder = tempfile.mkdtemp(prefix="recsys_metrics_")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _folder
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
FEATURE_AGE = Gauge(
    "recsys_feature_age_seconds",
    "Seconds since the served features were last materialized",
    multiprocess_mode="max",
)
MODEL_INFO = Gauge(
    "recsys_model_info",
    "1 for the model version being served",
    ["version"],
    multiprocess_mode="max",
)


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
    """Move the model-info gauge from the old version to the new one."""
    if old:
        MODEL_INFO.labels(version=old).set(0)
    if new:
        MODEL_INFO.labels(version=new).set(1)


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
