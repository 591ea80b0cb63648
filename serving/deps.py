"""Dependencies routes declare with Annotated; tests swap them via dependency_overrides.

They are `async def` on purpose: a plain `def` dependency runs in the thread pool, a hop
that costs little on average but milliseconds at p99 on a busy machine.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.events import EventProcessor
from serving.impressions import ImpressionLog
from serving.state import ServingState


async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


async def get_events(request: Request) -> EventProcessor:
    return request.app.state.events


async def get_impressions(request: Request) -> ImpressionLog:
    return request.app.state.impressions


State = Annotated[ServingState, Depends(get_state)]
Events = Annotated[EventProcessor, Depends(get_events)]
Impressions = Annotated[ImpressionLog, Depends(get_impressions)]
