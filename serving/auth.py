"""API keys: off unless RECSYS_API_KEY is set; then writes and operator routes need a key.

Keys come as `Authorization: Bearer <key>` or `X-API-Key: <key>` and are compared in constant
time against every configured key (no early exit, so timing tells nothing about which one is
close). RECSYS_READ_API_KEY, when set, guards the read routes (a write key works there too).
With RECSYS_PRODUCTION=1 the server refuses to start without a key, and user and item browsing
(/users/sample, /items/{id}) need the write key. No key ever appears in a response or log.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from recsys.config import Settings

_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <RECSYS_API_KEY>`")
_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="`X-API-Key: <RECSYS_API_KEY>`"
)
# OpenAPI names of the two schemes (openapi.py drops them from the spec when no key is set).
SCHEME_NAMES = ("HTTPBearer", "APIKeyHeader")


class ProductionSettingsError(RuntimeError):
    """RECSYS_PRODUCTION=1 without a key: the server must not start open."""


def _split(secret: SecretStr | None) -> tuple[bytes, ...]:
    if secret is None:
        return ()
    return tuple(k.strip().encode() for k in secret.get_secret_value().split(",") if k.strip())


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys: `write` for writes and operator routes, `read` for read routes."""

    write: tuple[bytes, ...]
    read: tuple[bytes, ...]
    production: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Read the keys; raise ProductionSettingsError when production has none."""
        keys = cls(
            write=_split(settings.api_key),
            read=_split(settings.read_api_key),
            production=settings.production,
        )
        if keys.production and not keys.write:
            raise ProductionSettingsError(
                "RECSYS_PRODUCTION=1 but RECSYS_API_KEY is not set: the API would accept "
                "anyone's events; set RECSYS_API_KEY to one or more keys (comma-separated), "
                "e.g. RECSYS_API_KEY=$(openssl rand -hex 32)"
            )
        return keys

    @property
    def enabled(self) -> bool:
        return bool(self.write or self.read)

    def enforces(self, guard: object) -> bool:
        """Whether a route guarded by `guard` (one of the require_* below) checks a key."""
        if guard is require_write_key:
            return bool(self.write)
        if guard is require_read_key:
            return bool(self.read)
        if guard is require_browse_key:
            return self.production or bool(self.read)
        return False


def _matches(sent: str | None, keys: tuple[bytes, ...]) -> bool:
    if sent is None:
        return False
    candidate = sent.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:  # every key is compared, whatever matched before
        found |= hmac.compare_digest(candidate, key)
    return found


def _check(
    request: Request,
    keys: tuple[bytes, ...],
    bearer: HTTPAuthorizationCredentials | None,
    header: str | None,
    *,
    what: str,
) -> None:
    if not keys:
        return
    sent = bearer.credentials if bearer is not None else header
    if sent is None:
        raise HTTPException(
            status_code=401,
            detail=f"{request.method} {request.url.path} needs an API key ({what}); send "
            "`Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not _matches(sent, keys):
        raise HTTPException(
            status_code=401,
            detail=f"the API key sent to {request.method} {request.url.path} is not one of "
            f"{what}; check the key (it is not shown here)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.api_keys
    return keys


async def require_write_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    header: Annotated[str | None, Depends(_HEADER)],
) -> None:
    """Writes and operator routes: a key of RECSYS_API_KEY when it is set."""
    _check(request, _keys(request).write, bearer, header, what="RECSYS_API_KEY")


async def require_read_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    header: Annotated[str | None, Depends(_HEADER)],
) -> None:
    """Read routes: a key of RECSYS_READ_API_KEY (or RECSYS_API_KEY) when the former is set."""
    keys = _keys(request)
    allowed = keys.read + keys.write if keys.read else ()
    _check(request, allowed, bearer, header, what="RECSYS_READ_API_KEY or RECSYS_API_KEY")


async def require_browse_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    header: Annotated[str | None, Depends(_HEADER)],
) -> None:
    """Listing users and items: the write key in production, else the read rule."""
    keys = _keys(request)
    if keys.production:
        _check(request, keys.write, bearer, header, what="RECSYS_API_KEY (RECSYS_PRODUCTION=1)")
    else:
        await require_read_key(request, bearer, header)


WriteKey = Depends(require_write_key)
ReadKey = Depends(require_read_key)
BrowseKey = Depends(require_browse_key)
