"""Assemble the FastAPI app: lifespan (heavy objects), middleware, routers. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from recsys import silence_feast_warnings
from recsys.config import Settings, feast_connection_string, feature_repo_dir, get_settings
from serving.events import EventProcessor, LandingWriter
from serving.metrics import REQUEST_SECONDS
from serving.routes import events, health, page, recommendations
from serving.state import ServingState, create_state, watch

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> Any:
    """A Feast store on feature_repo/ pointed at settings' data dir and Redis, failing fast."""
    from feast import FeatureStore

    os.environ["RECSYS_DATA_DIR"] = str(settings.data_dir)
    timeout = settings.redis_timeout_ms / 1000
    os.environ["FEAST_REDIS_CONNECTION"] = (
        feast_connection_string(settings.redis_url)
        + f",socket_timeout={timeout},socket_connect_timeout={timeout}"
    )
    silence_feast_warnings()  # importing Feast overrode the filter
    return FeatureStore(repo_path=str(feature_repo_dir()))


def build_state(settings: Settings) -> ServingState:
    """Everything the routes need, loaded once (the lifespan calls this)."""
    state = create_state(settings, open_store(settings))
    state.online.fail_fast()
    return state


def create_app(settings: Settings | None = None, state: ServingState | None = None) -> FastAPI:
    """Build the app; tests pass their own settings (or a prepared state)."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = state
        if serving is None:
            loop = asyncio.get_running_loop()
            serving = await loop.run_in_executor(None, build_state, settings)
        app.state.serving = serving
        app.state.events = EventProcessor(
            online=serving.online,
            redis_url=settings.redis_url,
            landing=LandingWriter(settings.paths.landing_served),
            timeout_s=settings.redis_timeout_ms / 1000,
            id_ttl=timedelta(days=settings.event_id_ttl_days),
            max_skew=timedelta(minutes=settings.max_future_skew_minutes),
        )
        # Long-lived objects (catalog arrays, model, Feast registry) never die: keep them out
        # of the cyclic collector's generations so its passes stay short (p99 latency).
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(watch(serving))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(
        title="recsys",
        summary="In-session recommendations from online features (Feast + Redis) and a "
        "LightGBM ranker.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(_LatencyMiddleware)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for module in (recommendations, events, health, page):
        app.include_router(module.router)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable line per problem, e.g. "query.k: Input should be <= 100 (got '0')"."""
    assert isinstance(exc, RequestValidationError)
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        text = f"{where}: {error.get('msg')}"
        if "input" in error and not isinstance(error["input"], dict | list):
            text += f" (got {error['input']!r})"
        lines.append(text)
    return JSONResponse({"detail": "; ".join(lines)}, status_code=422)


class _LatencyMiddleware:
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
