"""Accept events: validate, deduplicate on event_id, land durably, update the session online.

Order of operations, chosen so nothing is lost and nothing counts twice:
1. validate the whole batch (any invalid event rejects the batch; nothing is written);
2. claim each event_id in Redis with SET NX (a repeat is acknowledged as a duplicate);
3. append the new events to the landing area (JSON lines, fsync) that the next dbt build
   reads; if that fails, release the claims so a retry is not mistaken for a duplicate;
4. apply the events to the session state and push it through Feast, so the very next
   recommendation sees them.
If Redis is unreachable, steps 2 and 4 are skipped: the events still land (dbt deduplicates
on event_id) and the answer says `degraded`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from recsys.config import Settings
from recsys.contract import EVENT_KEY_PREFIX, session_key
from recsys.ranking.session import SessionState
from serving.metrics import EVENTS
from serving.online import OnlineFeatures, OnlineStoreUnavailableError, is_client_error
from serving.schemas import EventIn, EventsOut, EventStatus

log = logging.getLogger(__name__)


class LandingWriter:
    """Appends events as JSON lines under landing/served/, fsynced before acknowledging."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()

    def append(self, records: list[dict[str, Any]]) -> Path:
        day = datetime.now(UTC).strftime("%Y%m%d")
        path = self._folder / f"events-{day}-{socket.gethostname()}-{os.getpid()}.jsonl"
        payload = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            self._folder.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        return path


class EventProcessor:
    """Runs the four steps of the module docstring for one validated batch."""

    def __init__(
        self,
        *,
        online: OnlineFeatures,
        redis_url: str,
        landing: LandingWriter,
        timeout_s: float,
        id_ttl: timedelta,
        max_skew: timedelta,
        max_age: timedelta = timedelta(days=365),
    ) -> None:
        self._online = online
        self._landing = landing
        self._id_ttl = id_ttl
        self._max_skew = max_skew
        self._max_age = max_age
        self._redis = redis.Redis.from_url(
            redis_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # the breaker decides when to try again, not redis-py
        )
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, online: OnlineFeatures) -> EventProcessor:
        """The processor the server runs, configured from its settings."""
        return cls(
            online=online,
            redis_url=settings.redis_url,
            landing=LandingWriter(settings.paths.landing_served),
            timeout_s=settings.redis_timeout_ms / 1000,
            id_ttl=timedelta(days=settings.event_id_ttl_days),
            max_skew=timedelta(minutes=settings.max_future_skew_minutes),
            max_age=timedelta(days=settings.max_event_age_days),
        )

    def records(self, events: list[EventIn]) -> list[dict[str, Any]]:
        """Normalize a batch (ids, UTC times); raises ValueError naming the bad event."""
        now = datetime.now(UTC)
        out = []
        for position, event in enumerate(events):
            try:
                ts = event.timestamp(now=now, max_skew=self._max_skew, max_age=self._max_age)
            except ValueError as exc:
                raise ValueError(f"events[{position}]: {exc}") from exc
            out.append(
                {
                    "event_id": event.event_id or f"api:{uuid.uuid4()}",
                    "user_id": event.user_id,
                    "session_id": event.session_id,
                    "item_id": event.item_id,
                    "event_type": event.event_type,
                    "event_timestamp": ts.isoformat(timespec="microseconds"),
                    "received_at": now.isoformat(timespec="microseconds"),
                }
            )
        return out

    def process(self, records: list[dict[str, Any]]) -> EventsOut:
        """Deduplicate, land and apply a normalized batch."""
        unique: OrderedDict[str, dict[str, Any]] = OrderedDict()
        for record in records:
            unique.setdefault(record["event_id"], record)
        degraded_reason = None
        try:
            claimed = self._claim(list(unique))
        except OnlineStoreUnavailableError as exc:
            claimed = {event_id: True for event_id in unique}  # dbt deduplicates later
            degraded_reason = f"online store unavailable ({exc}); events stored for the next build"
        fresh = [r for eid, r in unique.items() if claimed[eid]]
        if fresh:
            try:
                self._landing.append(fresh)
            except OSError:
                self._release([r["event_id"] for r in fresh])
                raise
        if fresh and degraded_reason is None:
            try:
                self._apply(fresh)
            except OnlineStoreUnavailableError as exc:
                degraded_reason = (
                    f"online store unavailable ({exc}); events stored, session features not updated"
                )
        statuses = [
            EventStatus(
                event_id=r["event_id"],
                status="accepted"
                if claimed[r["event_id"]] and r is unique[r["event_id"]]
                else "duplicate",
            )
            for r in records
        ]
        accepted = sum(s.status == "accepted" for s in statuses)
        EVENTS.labels(status="accepted").inc(accepted)
        EVENTS.labels(status="duplicate").inc(len(statuses) - accepted)
        return EventsOut(
            accepted=accepted,
            duplicates=len(statuses) - accepted,
            degraded=degraded_reason is not None,
            reason=degraded_reason,
            events=statuses,
        )

    def _claim(self, event_ids: list[str]) -> dict[str, bool]:
        breaker = self._online.breaker
        if not breaker.allow():
            raise OnlineStoreUnavailableError(breaker.last_error or "online store unavailable")
        ttl = int(self._id_ttl.total_seconds())
        try:
            pipe = self._redis.pipeline(transaction=False)
            for event_id in event_ids:
                pipe.set(EVENT_KEY_PREFIX + event_id, b"1", nx=True, ex=ttl)
            results = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            if not is_client_error(exc):
                breaker.failure(exc)
            raise OnlineStoreUnavailableError(str(exc)) from exc
        breaker.success()
        return {event_id: bool(ok) for event_id, ok in zip(event_ids, results, strict=True)}

    def _release(self, event_ids: list[str]) -> None:
        try:
            self._redis.delete(*(EVENT_KEY_PREFIX + e for e in event_ids))
        except (redis.RedisError, OSError):
            log.exception("could not release event ids after a failed landing write")

    def _apply(self, records: list[dict[str, Any]]) -> None:
        by_session: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        for record in records:
            key = session_key(record["user_id"], record["session_id"])
            by_session.setdefault(key, []).append(record)
        for key, events in by_session.items():
            # one writer per session at a time in this process: read-append-push is not atomic
            with self._lock(key):
                user_id = events[-1]["user_id"]
                state = self._online.read_session(user_id=user_id, session_key=key)
                state = state or SessionState(session_id=key, user_id=user_id)
                for event in sorted(events, key=lambda e: e["event_timestamp"]):
                    when = datetime.fromisoformat(event["event_timestamp"])
                    state = state.append(
                        item_id=event["item_id"],
                        event_type=event["event_type"],
                        event_time_ms=int(when.timestamp() * 1000),
                    )
                state.user_id = user_id
                self._online.push_session(state)

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 10_000:
                self._locks.clear()  # bounded; a lock only matters while two writers overlap
            return self._locks.setdefault(key, threading.Lock())
