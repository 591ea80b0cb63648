"""The published contract (/openapi.json): complete, and true to what the server answers.

FastAPI leaves two gaps this module closes: the models behind POST /events' hand-written body
schema (EventIn, EventBatch) never reach `components`, and every route is said to answer 422
with FastAPI's list-of-errors body, while this server answers `{"detail": "<one line>"}` for
every 4xx (ErrorOut). An operation declares the key schemes (and 401) only when this server's
settings make it check a key, so the spec never asks for a key the server will not check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from serving.auth import ApiKeys
from serving.schemas import ErrorOut

_WHEN = {
    400: "The body is not JSON, or a header is malformed.",
    401: "An API key is required (RECSYS_API_KEY / RECSYS_READ_API_KEY) and none or a wrong "
    "one was sent.",
    404: "No such item, or no such route (a path id that holds '/' splits the path).",
    413: "The body is over RECSYS_MAX_BODY_BYTES, or the batch over RECSYS_MAX_BATCH_EVENTS.",
    415: "The Content-Type is not application/json.",
    422: "A value is invalid (the message names the field, the problem and the value).",
    503: "The events could not be stored durably; nothing was recorded, retry.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, each with the ErrorOut body."""
    return {code: {"model": ErrorOut, "description": _WHEN[code]} for code in codes}


def _checks_a_key(route: APIRoute, keys: ApiKeys) -> bool:
    return any(keys.enforces(depends.dependency) for depends in route.dependencies)


def install(
    app: FastAPI, *, routers: list[APIRouter], extra_models: dict[str, Any], keys: ApiKeys
) -> None:
    """Replace app.openapi with a generator that adds `extra_models` and trims security.

    `routers` are the routers the app includes (their routes carry the key dependencies).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in extra_models.items():
            schemas.setdefault(name, schema)
        # Security only where this server's settings make a route check a key.
        routes = [route for router in routers for route in router.routes]
        for route in routes:
            if not isinstance(route, APIRoute) or _checks_a_key(route, keys):
                continue
            for method in route.methods or ():
                operation = spec.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    operation.pop("security", None)
                    operation.get("responses", {}).pop("401", None)
        if not keys.enabled:
            spec["components"].pop("securitySchemes", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
