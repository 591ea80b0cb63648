"""Request and response models of the API: every route's body and answer, in one place."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys.ids import ID_PATTERN, MAX_ID_LENGTH, check_id

__all__ = ["ID_PATTERN", "MAX_ID_LENGTH", "check_id"]

# How ids appear in /openapi.json; the validators below enforce the same rule (recsys/ids.py)
# with a message naming the problem, which a bare pattern mismatch would not.
ID_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer: one readable line naming the problem and how to fix it."""

    detail: str


class EventIn(BaseModel):
    """One interaction, in the canonical event schema."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(
        None,
        description="Idempotency key; a repeat is not counted twice.",
        json_schema_extra=ID_SCHEMA,
    )
    user_id: str = Field(json_schema_extra=ID_SCHEMA)
    session_id: str | None = Field(
        None,
        description="Omit to use the user's rolling session (30-minute inactivity gap).",
        json_schema_extra=ID_SCHEMA,
    )
    item_id: str = Field(json_schema_extra=ID_SCHEMA)
    event_type: Literal["view", "add_to_cart", "purchase"] = "view"
    request_id: str | None = Field(
        None,
        description="The request_id of the recommendation this event responds to, if any "
        "(links the outcome to what was shown).",
        json_schema_extra=ID_SCHEMA,
    )
    event_timestamp: datetime | float | None = Field(
        None,
        description="ISO-8601 (UTC if no offset) or unix seconds/milliseconds; default now. "
        "At most RECSYS_MAX_EVENT_AGE_DAYS (365) before the server's time and "
        "RECSYS_MAX_FUTURE_SKEW_MINUTES (5) after it; booleans are refused.",
    )

    @field_validator("event_id", "user_id", "session_id", "item_id", "request_id")
    @classmethod
    def _ids(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else check_id(value, field=info.field_name)

    @field_validator("event_timestamp", mode="before")
    @classmethod
    def _timestamp_kind(cls, value: Any) -> Any:
        # JSON true/false would otherwise pass as the numbers 1 and 0 (1970).
        if isinstance(value, bool):
            raise ValueError(
                "event_timestamp is a boolean; send ISO-8601 text or unix seconds/milliseconds"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"event_timestamp {value} is not a finite number")
        return value

    def timestamp(self, *, now: datetime, max_skew: timedelta, max_age: timedelta) -> datetime:
        """The event time in UTC; raises ValueError for a time outside [now-max_age, now+skew]."""
        raw = self.event_timestamp
        if raw is None:
            return now
        earliest, latest = now - max_age, now + max_skew
        if isinstance(raw, datetime):
            shown = raw.isoformat()
            try:
                ts = (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).astimezone(UTC)
            except (OverflowError, ValueError):  # year 1 at +14:00 is before year 1 in UTC
                ts = earliest - max_age if raw.year < now.year else latest + max_skew
            late, early = ts > latest, ts < earliest
        else:
            shown = repr(raw)
            seconds = raw / 1000.0 if abs(raw) >= 1e11 else float(raw)  # ms vs s by magnitude
            # Compared as numbers: 1e20 seconds is no date at all.
            late, early = seconds > latest.timestamp(), seconds < earliest.timestamp()
            ts = now if late or early else datetime.fromtimestamp(seconds, tz=UTC)
        if late:
            raise ValueError(
                f"event_timestamp {shown} is in the future (server time {now.isoformat()}, "
                f"allowed skew {max_skew.total_seconds() / 60:g} minutes, "
                "RECSYS_MAX_FUTURE_SKEW_MINUTES); send the time the event happened"
            )
        if early:
            raise ValueError(
                f"event_timestamp {shown} is more than {max_age.total_seconds() / 86400:g} days "
                f"before the server time {now.isoformat()} (RECSYS_MAX_EVENT_AGE_DAYS); send "
                "recent events here and load older history with `recsys ingest file`"
            )
        return ts


class EventBatch(BaseModel):
    """Several events at once."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1)


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
    feature: str = Field(description="The model's feature name.")
    label: str = Field(description="What the feature means, in words.")
    value: float | None = Field(description="The feature's value for this item (null: missing).")
    contribution: float = Field(description="Its contribution to the score (SHAP value).")


class ItemOut(BaseModel):
    item_id: str
    score: float
    rank: int
    category: str | None = None
    price: float | None = None
    title: str | None = None
    explanation: list[Contribution] | None = None


class RecommendationsOut(BaseModel):
    request_id: str = Field(
        description="This answer's id (uuid4 hex, also the X-Request-ID header and the "
        "impression log's key); send it back as an event's request_id.",
        pattern="^[0-9a-f]{32}$",
    )
    user_id: str
    session_id: str | None
    items: list[ItemOut]
    model_version: str | None
    degraded: bool
    reason: str | None = None
    session_events: int
    candidates: int
    timings_ms: dict[str, float]
    arm: str | None = Field(
        None,
        description="champion or challenger while a champion/challenger experiment runs "
        "(`recsys models challenge`); null otherwise.",
    )


class Health(BaseModel):
    status: str


class Check(BaseModel):
    ok: bool
    detail: str


class NightlyStatus(BaseModel):
    """The batch chain (`recsys nightly`): informative, it does not change `ready`."""

    recorded: bool
    stalled: bool
    last_success_at: str | None
    age_hours: float | None
    max_age_hours: float
    last_outcome: str | None
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
    model_version: str | None
    nightly: NightlyStatus | None = None


class UserSample(BaseModel):
    user_id: str
    events_total: int


class ItemDetails(BaseModel):
    item_id: str
    title: str | None
    category: str | None
    price: float | None
    popularity: float
