"""Error responses: one readable line per problem, naming the field and what was sent."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


def printable(text: str) -> str:
    """Make text safe to send as UTF-8: a lone surrogate from the request becomes '\\ud800'."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable line per problem, e.g. "query.k: Input should be <= 100 (got '0')"."""
    assert isinstance(exc, RequestValidationError)
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        text = f"{where}: {error.get('msg')}"
        if "input" in error and not isinstance(error["input"], dict | list):
            shown = repr(error["input"])
            text += f" (got {shown if len(shown) <= 120 else shown[:120] + '...'})"
        lines.append(text)
    return JSONResponse({"detail": printable("; ".join(lines))}, status_code=422)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Any HTTPException as {"detail": ...}, keeping its headers (WWW-Authenticate, Allow)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse(
        {"detail": printable(detail)}, status_code=exc.status_code, headers=exc.headers
    )
