"""/docs and /redoc served from the installed package, not a CDN.

FastAPI's default pages load Swagger UI and ReDoc from jsdelivr, so behind a firewall (or
offline) they are blank. The `fastapi-offline` wheel ships the same assets; they are served
here from /docs-static, following FastAPI's "self-hosting JavaScript and CSS for docs" recipe.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
PREFIX = "/docs-static"


def add_offline_docs(app: FastAPI) -> None:
    """Mount the assets and the two pages (create the app with docs_url=redoc_url=None)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-static")
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's sidebar shows its logo from cdn.redoc.ly: keep the browser from even trying.
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page
