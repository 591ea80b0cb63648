"""The try-it page at / (with its script and style sheet) and two small lookups it offers."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

import duckdb
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse

from serving.auth import BrowseKey
from serving.deps import State
from serving.openapi import error_responses
from serving.schemas import ID_SCHEMA, MAX_ID_LENGTH, ItemDetails, UserSample

router = APIRouter(tags=["page"])
STATIC = FilePath(__file__).resolve().parents[1] / "static"


# The page's own files, by name: a fixed list rather than a mounted folder, so nothing else
# under serving/ can be reached by a crafted path.
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
# Revalidate on every load (ETag/Last-Modified make that a cheap 304): an edited page shows
# at once, and a server upgrade never leaves an old app.js talking to a new API.
NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """Serve the try-it page."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=NO_CACHE)


@router.get("/static/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    """Serve one of the page's scripts or style sheets."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(
            status_code=404,
            detail=f"no static file {name!r}; the page has {', '.join(sorted(ASSETS))}",
        )
    return FileResponse(STATIC / name, media_type=media_type, headers=NO_CACHE)


@router.get(
    "/users/sample",
    response_model=list[UserSample],
    dependencies=[BrowseKey],
    responses=error_responses(401, 422),
)
async def sample_users(state: State, n: int = Query(12, ge=1, le=100)) -> list[UserSample]:
    """List some of the most active known users (for the page's user picker)."""
    path = state.settings.paths.exports / "user_features.parquet"
    if not path.exists():
        return []
    with duckdb.connect() as con:
        rows = con.execute(
            "select user_id, max(events_total) as events from read_parquet(?) "
            "group by user_id order by events desc, user_id limit ?",
            [str(path), n],
        ).fetchall()
    return [UserSample(user_id=str(u), events_total=int(e)) for u, e in rows]


@router.get(
    "/items/{item_id}",
    response_model=ItemDetails,
    dependencies=[BrowseKey],
    responses=error_responses(401, 404, 422),
)
async def item_details(
    state: State,
    item_id: Annotated[str, Path(max_length=MAX_ID_LENGTH, json_schema_extra=ID_SCHEMA)],
) -> ItemDetails:
    """Describe one item from the in-memory catalog."""
    catalog = state.catalog
    index = catalog.index_of(item_id) if catalog else -1
    if catalog is None or index < 0:
        raise HTTPException(status_code=404, detail=f"item {item_id!r} is not in the catalog")
    price = float(catalog.price[index])
    title = catalog.titles[index]
    return ItemDetails(
        item_id=item_id,
        title=str(title) if title is not None else None,
        category=catalog.category_of(index),
        price=None if price != price else round(price, 2),
        popularity=float(catalog.popularity[index]),
    )
