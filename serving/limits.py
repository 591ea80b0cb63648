"""Limits on what a request may send, enforced before the body reaches memory.

A pure ASGI middleware: it answers 413 at once when Content-Length is over the limit, and
otherwise counts the bytes as the route reads them, stopping at the limit, so a 300 MB body
(declared or chunked) costs at most RECSYS_MAX_BODY_BYTES of memory, never the whole body.
"""

from __future__ import annotations

import json
from typing import Any


class BodyTooLargeError(Exception):
    """The streamed body went past the limit (raised inside the route's receive)."""


def _error(status: int, detail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"detail": detail}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The unread rest of the body would be taken for the next request: close instead.
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes` (declared or streamed); 400 for a bad Content-Length."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: str) -> str:
        return (
            f"request body is {size} bytes; at most {self.max_bytes:,} are accepted "
            "(RECSYS_MAX_BODY_BYTES); send the events in several smaller requests"
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await self._reply(send, 400, f"Content-Length {declared[:40]!r} is not a number")
                return
            if length > self.max_bytes:
                await self._reply(send, 413, self._too_large(f"{length:,}"))
                return

        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._reply(send, 413, self._too_large(f"more than {self.max_bytes:,}"))

    @staticmethod
    async def _reply(send: Any, status: int, detail: str) -> None:
        start, body = _error(status, detail)
        await send(start)
        await send(body)
