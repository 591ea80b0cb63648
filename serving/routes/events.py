"""POST /events: record interactions as they happen."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from serving.auth import WriteKey
from serving.deps import Events, State
from serving.openapi import error_responses
from serving.schemas import EventBatch, EventIn, EventsOut

router = APIRouter(tags=["events"])

_EVENTS = TypeAdapter(list[EventIn])
# Documents the three accepted body shapes in OpenAPI; validation dispatches on the shape.
# Their models (EventIn, EventBatch) are added to the spec's components by serving/openapi.py.
BODY_SCHEMA = TypeAdapter(EventIn | list[EventIn] | EventBatch).json_schema(
    ref_template="#/components/schemas/{model}"
)


def _openapi_body() -> dict[str, Any]:
    schema = {k: v for k, v in BODY_SCHEMA.items() if k != "$defs"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (send numbers as finite values)")


@router.post(
    "/events",
    response_model=EventsOut,
    openapi_extra=_openapi_body(),
    dependencies=[WriteKey],
    responses=error_responses(400, 401, 413, 415, 422, 503),
)
async def post_events(request: Request, state: State, processor: Events) -> EventsOut:
    """Record one event, a list of events, or {"events": [...]}; idempotent on event_id."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type is {media_type or 'missing'!r}; POST /events takes "
            "application/json (a browser form cannot post events)",
        )
    body = await request.body()  # at most RECSYS_MAX_BODY_BYTES (serving/limits.py)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; a body nested thousands deep
    # stops the C parser at Python's recursion limit within microseconds (RecursionError).
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(
            status_code=400,
            detail=f"request body is not valid JSON ({_short(str(exc))}); send an event object, "
            'a list of them, or {"events": [...]}',
        ) from exc
    if isinstance(payload, dict) and "events" in payload:
        others = sorted(str(key) for key in payload if key != "events")
        if others:  # EventBatch forbids extra fields, like EventIn
            raise HTTPException(
                status_code=422,
                detail=f"body: unknown field(s) {', '.join(map(repr, others[:5]))} next to "
                '"events"; send only {"events": [...]}',
            )
        raw_events, prefix = payload["events"], "events"
    elif isinstance(payload, list):
        raw_events, prefix = payload, ""
    else:
        raw_events, prefix = [payload], None
    if not isinstance(raw_events, list):
        raise HTTPException(status_code=422, detail='"events" must be a list of event objects')
    limit = state.settings.max_batch_events
    if len(raw_events) > limit:
        raise HTTPException(
            status_code=413,
            detail=f"batch has {len(raw_events)} events; at most {limit} per request "
            "(RECSYS_MAX_BATCH_EVENTS); split it",
        )
    if not raw_events:
        raise HTTPException(status_code=422, detail="no events in the request; send at least one")
    try:
        events = _EVENTS.validate_python(raw_events)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=_describe(exc, prefix=prefix)) from exc
    try:
        records = processor.records(events)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    try:
        return await run_in_threadpool(processor.process, records)
    except OSError as exc:
        raise HTTPException(
            status_code=503,
            detail=f"could not store the events durably ({exc}); nothing was recorded, retry",
        ) from exc


def _describe(error: ValidationError, *, prefix: str | None) -> str:
    """One line per problem: where it is, what is wrong, what was sent."""
    lines = []
    for item in error.errors()[:10]:
        loc: list[Any] = list(item["loc"])
        if prefix is None:
            loc = loc[1:]  # a single event was wrapped in a list: drop that index
        elif prefix:
            loc = [prefix, *loc]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        text = f"{where or 'body'}: {item['msg']}"
        if item.get("input") is not None and not isinstance(item["input"], dict | list):
            text += f" (got {_short(repr(item['input']))})"
        lines.append(text)
    return "; ".join(lines)


def _short(text: str, limit: int = 120) -> str:
    """Keep an echoed value short: a 1 MB string must not come back in the error."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
