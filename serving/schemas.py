"""Request and response models of the API: every route's body and answer, in one place."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ID_LENGTH = 128


def check_id(value: str, *, field: str) -> str:
    """Reject ids that are empty, too long or contain control characters."""
    if not value or not value.strip():
        raise ValueError(f"{field} is empty; send a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(
            f"{field} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
        )
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ValueError(f"{field} contains the control character {bad!r}; remove it")
    return value


class EventIn(BaseModel):
    """One interaction, in the canonical event schema."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(
        None, description="Idempotency key; a repeat is not counted twice."
    )
    user_id: str
    session_id: str | None = Field(
        None, description="Omit to use the user's rolling session (30-minute inactivity gap)."
    )
    item_id: str
    event_type: Literal["view", "add_to_cart", "purchase"] = "view"
    event_timestamp: datetime | float | None = Field(
        None, description="ISO-8601 (UTC if no offset) or unix seconds/milliseconds; default now."
    )

    @field_validator("event_id", "user_id", "session_id", "item_id")
    @classmethod
    def _ids(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else check_id(value, field=info.field_name)

    def timestamp(self, *, now: datetime, max_skew: timedelta) -> datetime:
        """The event time in UTC; raises ValueError for a time too far in the future."""
        raw = self.event_timestamp
        if raw is None:
            return now
        if isinstance(raw, datetime):
            ts = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        else:
            seconds = raw / 1000.0 if abs(raw) >= 1e11 else float(raw)  # ms vs s by magnitude
            ts = datetime.fromtimestamp(seconds, tz=UTC)
        ts = ts.astimezone(UTC)
        if ts > now + max_skew:
            raise ValueError(
                f"event_timestamp {ts.isoformat()} is in the future (server time "
                f"{now.isoformat()}); send the time the event happened"
            )
        return ts


class EventBatch(BaseModel):
    """Several events at once."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn]


class EventStatus(BaseModel):
    event_id: str
    status: Literal["accepted", "duplicate"]


class EventsOut(BaseModel):
    accepted: int
    duplicates: int
    degraded: bool
    reason: str | None = None
    events: list[EventStatus]


class Contribution(BaseModel):
    feature: str
    contribution: float


class ItemOut(BaseModel):
    item_id: str
    score: float
    rank: int
    category: str | None = None
    price: float | None = None
    title: str | None = None
    explanation: list[Contribution] | None = None


class RecommendationsOut(BaseModel):
    user_id: str
    session_id: str | None
    items: list[ItemOut]
    model_version: str | None
    degraded: bool
    reason: str | None = None
    session_events: int
    candidates: int
    timings_ms: dict[str, float]


class Health(BaseModel):
    status: str


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
    model_version: str | None


class UserSample(BaseModel):
    user_id: str
    events_total: int


class ItemDetails(BaseModel):
    item_id: str
    title: str | None
    category: str | None
    price: float | None
    popularity: float
