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


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics (all workers) and its content type."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


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
            route = scope.get("route")
            REQUEST_SECONDS.labels(
                route=getattr(route, "path", "unmatched"),
                method=scope.get("method", ""),
                status=str(status["code"]),
            ).observe(time.perf_counter() - started)
