"""GET /recommendations/{user_id}: ranked items for a user in their current session."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from recsys.contract import session_key
from recsys.monitoring.impressions import carries_features
from serving.auth import ReadKey
from serving.deps import Impressions, State
from serving.impressions import Shown
from serving.metrics import IMPRESSIONS, version_label
from serving.openapi import error_responses
from serving.recommender import Query as RecQuery
from serving.recommender import UnknownCategoryError, answer
from serving.schemas import ID_SCHEMA, MAX_ID_LENGTH, RecommendationsOut, check_id

router = APIRouter(tags=["recommendations"])


def _split(values: list[str] | None, *, field: str) -> tuple[str, ...]:
    """Accept repeated parameters and comma-separated lists alike."""
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    for value in out:
        try:
            check_id(value, field=field)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
    return tuple(out)


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationsOut,
    dependencies=[ReadKey],
    responses={
        200: {
            "description": "The ranked items.",
            "headers": {
                "X-Request-ID": {
                    "description": "The answer's request_id (uuid4 hex); send it back as an "
                    "event's request_id to attribute the click.",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                }
            },
        },
        **error_responses(401, 404, 422),
    },
)
async def recommendations(
    state: State,
    impressions: Impressions,
    response: Response,
    user_id: Annotated[
        str,
        Path(
            max_length=MAX_ID_LENGTH,
            description="Any user id; unknown users get a cold-start answer.",
            json_schema_extra=ID_SCHEMA,
        ),
    ],
    k: Annotated[int | None, Query(ge=1, le=100, description="How many items (1..100).")] = None,
    session_id: Annotated[
        str | None,
        Query(
            max_length=MAX_ID_LENGTH,
            description="Current session; default: the user's rolling session.",
            json_schema_extra=ID_SCHEMA,
        ),
    ] = None,
    exclude_seen: Annotated[
        bool, Query(description="Leave out items already seen in this session.")
    ] = False,
    exclude: Annotated[
        list[str] | None, Query(description="Item ids to leave out (repeat or comma-separate).")
    ] = None,
    categories: Annotated[
        list[str] | None, Query(description="Only items of these categories.")
    ] = None,
    explain: Annotated[
        bool, Query(description="Add each item's top feature contributions.")
    ] = False,
) -> RecommendationsOut:
    """Rank items for the user given what they did earlier in the session."""
    try:
        check_id(user_id, field="user_id")
        if session_id is not None:
            check_id(session_id, field="session_id")
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    k = min(k or state.settings.default_k, state.settings.max_k)
    query = RecQuery(
        user_id=user_id,
        session_id=session_id,
        k=k,
        exclude_seen=exclude_seen,
        exclude=_split(exclude, field="exclude"),
        categories=_split(categories, field="categories"),
        explain=explain,
    )
    try:
        result = answer(state, query)
    except UnknownCategoryError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    request_id = uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    # Counted here, not by the writer, so the count is exact even when the log drops lines.
    IMPRESSIONS.labels(model_version=version_label(result.model_version)).inc()
    top_n = state.settings.impression_features_top_n or None
    # Only the sampled answers hand their vectors over: the others cost no pickling either.
    vectors = result.features
    if vectors is not None and not carries_features(
        request_id, state.settings.impression_features_share
    ):
        vectors = None
    impressions.submit(  # a queue put: the writer process does the work (serving/impressions.py)
        Shown(
            request_id=request_id,
            served_at=time.time(),
            user_id=user_id,
            session_id=session_id,
            session_key=session_key(user_id, session_id),
            model_version=result.model_version,
            degraded=result.degraded,
            reason=result.reason,
            k=k,
            candidate_count=result.candidates,
            timings_ms=result.timings_ms,
            item_ids=[item.item_id for item in result.items],
            scores=[item.score for item in result.items],
            feature_names=result.feature_names,
            features=None if vectors is None else vectors[:top_n],
            arm=result.arm,
        )
    )
    return RecommendationsOut(
        request_id=request_id,
        user_id=user_id,
        session_id=session_id,
        items=result.items,
        model_version=result.model_version,
        degraded=result.degraded,
        reason=result.reason,
        session_events=result.session_events,
        candidates=result.candidates,
        timings_ms=result.timings_ms,
        arm=result.arm,
    )
