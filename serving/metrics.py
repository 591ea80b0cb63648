"""Prometheus metrics: latency per route and stage, fallbacks, events, freshness, model version.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (the `recsys serve` command does)
so /metrics aggregates every worker instead of reporting whichever one answered.
"""

from __future__ import annotations

import os

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
    """The exposition text for /metrics and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
