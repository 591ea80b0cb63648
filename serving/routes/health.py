"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from recsys.config import Settings
from recsys.pipeline import nightly
from recsys.secrets import mask_url
from serving.auth import WriteKey
from serving.deps import State
from serving.metrics import feature_ages, render
from serving.openapi import error_responses
from serving.schemas import Check, Health, NightlyStatus, Readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Report that the process is alive (no dependencies checked)."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(state: State) -> Response:
    """Report whether Redis answers, a model is loaded and the features are fresh."""
    settings = state.settings
    checks: dict[str, Check] = {}
    redis_ok = state.online.ping()
    checks["redis"] = Check(
        ok=redis_ok,
        detail="reachable"
        if redis_ok
        else f"not reachable at {mask_url(settings.redis_url)}; start it (`make redis`) or fix "
        "REDIS_URL",
    )
    if redis_ok:
        missing = state.online.missing_features()
        checks["online_features"] = Check(
            ok=missing is None, detail=missing or "materialized features present"
        )
    # A refused new version leaves the old one serving: still ready, but the detail says so.
    checks["model"] = Check(
        ok=state.scorer is not None,
        detail=(f"serving {state.model_version}" if not state.model_error else state.model_error)
        if state.scorer
        else f"{state.model_error or 'no model loaded'}; run `make train` to train and promote one",
    )
    age = state.feature_age_seconds()
    limit = settings.max_feature_age_hours * 3600
    if state.catalog is None:
        checks["features"] = Check(ok=False, detail=f"{state.catalog_error}")
    elif age is None:
        checks["features"] = Check(
            ok=False, detail="features were never materialized; run `make features`"
        )
    else:
        fresh = age <= limit
        checks["features"] = Check(
            ok=fresh,
            detail=f"materialized {age / 3600:.1f} h ago"
            + (
                "" if fresh else f" (limit {settings.max_feature_age_hours} h); run `make features`"
            ),
        )
    body = Readiness(
        ready=all(c.ok for c in checks.values()),
        checks=checks,
        model_version=state.model_version,
        nightly=nightly_status(settings),
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


def nightly_status(settings: Settings) -> NightlyStatus:
    """When the last successful night ended and whether nights stalled (never fails /ready:
    a stalled batch side still serves; the monitoring report breaches on it)."""
    doc = nightly.status(settings.data_dir, max_age_hours=settings.max_night_age_hours)
    last = doc["last_run"] or {}
    return NightlyStatus(
        recorded=doc["recorded"],
        stalled=doc["stalled"],
        last_success_at=doc["last_success_at"],
        age_hours=doc["age_hours"],
        max_age_hours=doc["max_age_hours"],
        last_outcome=last.get("outcome"),
        detail=doc["detail"],
    )


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[WriteKey],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(401),
    },
)
async def metrics(state: State) -> Response:
    """Prometheus metrics: latency, fallbacks, impressions, clicks, freshness, model version."""
    marker = await run_in_threadpool(state.online.marker)  # one HGETALL per scrape
    if marker is not None:
        feature_ages(marker)
    payload, content_type = render()
    return Response(payload, media_type=content_type)
