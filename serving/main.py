"""Assemble the FastAPI app: lifespan (heavy objects), middleware, routers. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from recsys.config import Settings, get_settings
from recsys.monitoring.impressions import feature_groups
from recsys.secrets import install_log_filter
from serving import openapi
from serving.auth import ApiKeys
from serving.docs import add_offline_docs
from serving.errors import http_error, validation_error
from serving.events import EventProcessor, replay_pending
from serving.impressions import ImpressionLog
from serving.limits import BodyLimitMiddleware
from serving.metrics import LatencyMiddleware, feature_ages, version_seen
from serving.routes import events, health, page, recommendations
from serving.state import ServingState, build_state, watch

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, state: ServingState | None = None) -> FastAPI:
    """Build the app; tests pass their own settings (or a prepared state)."""
    install_log_filter()  # no secret (a Redis password) in any log line, whoever logs it
    settings = settings or get_settings()
    keys = ApiKeys.from_settings(settings)  # refuses RECSYS_PRODUCTION=1 without a key

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = state
        if serving is None:
            loop = asyncio.get_running_loop()
            serving = await loop.run_in_executor(None, build_state, settings)
        app.state.serving = serving
        app.state.events = EventProcessor.from_settings(settings, serving.online)
        impressions = ImpressionLog.from_settings(
            settings, feature_groups=feature_groups(serving.inputs.layout)
        )
        impressions.start()
        app.state.impressions = impressions
        version_seen(serving.model_version)
        marker = serving.online.marker()
        if marker is not None:
            feature_ages(marker)
        # Long-lived objects (catalog arrays, model, Feast registry) never die: keep them out
        # of the cyclic collector's generations so its passes stay short (p99 latency).
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(watch(serving))
        replayer = asyncio.create_task(replay_pending(app.state.events, serving.online.breaker))
        try:
            yield
        finally:
            for task in (watcher, replayer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # every impression answered so far reaches its file before the process ends
            await asyncio.get_running_loop().run_in_executor(None, impressions.stop)

    app = FastAPI(
        title="recsys",
        summary="In-session recommendations from online features (Feast + Redis) and a "
        "LightGBM ranker.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app)
    app.state.api_keys = keys
    # Outermost last: latency is recorded for the 413s the body limit answers too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(LatencyMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    routers = [module.router for module in (recommendations, events, health, page)]
    for router in routers:
        app.include_router(router)
    openapi.install(
        app, routers=routers, extra_models=events.BODY_SCHEMA.get("$defs", {}), keys=keys
    )
    return app
