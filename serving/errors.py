"""Error responses: one readable line per problem, naming the field and what was sent."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
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
