"""Accept events: validate, deduplicate on event_id, land durably, update the session online.

Order of operations, chosen so nothing is lost and nothing counts twice:
1. validate the whole batch (any invalid event rejects the batch; nothing is written);
2. claim each event_id in Redis with SET NX (a repeat is acknowledged as a duplicate);
3. append the new events to the landing area (JSON lines, fsync) that the next dbt build
   reads; if that fails, release the claims so a retry is not mistaken for a duplicate;
4. apply the events to the session state in Redis, atomically and idempotently on event_id
   (recsys/session_store.py), so the very next recommendation sees them, whichever worker
   or replica took each event.
If Redis is unreachable, steps 2 and 4 cannot run: the events still land, the answer says
`degraded`, and they are journaled (serving/pending.py) so that a retry is recognised as a
duplicate and the session update is replayed when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from recsys.config import Settings
from recsys.contract import event_claim_key, session_key
from recsys.monitoring.impressions import last_impression_key
from recsys.redis_runtime import client_from_url
from recsys.session_store import SessionEvent
from serving.metrics import EVENTS, RECOMMENDED_CLICKS
from serving.online import Breaker, OnlineFeatures, OnlineStoreUnavailableError, guarded
from serving.pending import PendingJournal
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


class DiscardingWriter(LandingWriter):
    """RECSYS_LAND_EVENTS=false: accept events for the online session only, land nothing."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def append(self, records: list[dict[str, Any]]) -> Path:
        return Path(os.devnull)


class EventProcessor:
    """Runs the four steps of the module docstring for one validated batch."""

    def __init__(
        self,
        *,
        online: OnlineFeatures,
        redis_url: str,
        landing: LandingWriter,
        pending: PendingJournal,
        timeout_s: float,
        id_ttl: timedelta,
        max_skew: timedelta,
        max_age: timedelta = timedelta(days=365),
    ) -> None:
        self._online = online
        self._landing = landing
        self._pending = pending
        self._id_ttl = id_ttl
        self._max_skew = max_skew
        self._max_age = max_age
        # the breaker decides when to try again, not redis-py
        self._redis = client_from_url(redis_url, timeout_s=timeout_s, fail_fast=True)

    @classmethod
    def from_settings(cls, settings: Settings, online: OnlineFeatures) -> EventProcessor:
        """The processor the server runs, configured from its settings."""
        return cls(
            online=online,
            redis_url=settings.redis_url,
            landing=(
                LandingWriter(settings.paths.landing_served)
                if settings.land_events
                else DiscardingWriter()
            ),
            pending=PendingJournal(settings.paths.landing_served / "pending"),
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
                    "request_id": event.request_id,
                }
            )
        return out

    def process(self, records: list[dict[str, Any]]) -> EventsOut:
        """Deduplicate, land and apply a normalized batch."""
        unique: OrderedDict[str, dict[str, Any]] = OrderedDict()
        for record in records:
            unique.setdefault(record["event_id"], record)
        if self._pending.exists() and self._online.breaker.allow():
            # journaled ids must be claimed before this batch's, or a retry of one would win
            with contextlib.suppress(OnlineStoreUnavailableError):
                self.replay_pending(wait=True)
        degraded_reason = None
        shown_by: dict[str, str | None] = {}
        try:
            claimed, shown_by = self._claim_and_match(unique)
        except OnlineStoreUnavailableError as exc:
            # no claims without Redis: ids journaled during this outage are the duplicates
            journaled = self._pending.known(list(unique))
            claimed = {event_id: event_id not in journaled for event_id in unique}
            degraded_reason = (
                f"online store unavailable ({exc}); events stored, session features are "
                "updated when it returns"
            )
        fresh = [r for eid, r in unique.items() if claimed[eid]]
        if fresh:
            try:
                self._landing.append(fresh)
            except OSError:
                if degraded_reason is None:
                    self._release(fresh)
                raise
        if fresh and degraded_reason is None:
            try:
                self._apply(fresh)
            except OnlineStoreUnavailableError as exc:
                degraded_reason = (
                    f"online store unavailable ({exc}); events stored, session features are "
                    "updated when it returns"
                )
        if fresh and degraded_reason is not None:
            self._journal(fresh)
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
        if degraded_reason is None:
            for record in fresh:
                version = shown_by.get(record["event_id"])
                if version is not None:
                    RECOMMENDED_CLICKS.labels(model_version=version).inc()
        EVENTS.labels(status="accepted").inc(accepted)
        EVENTS.labels(status="duplicate").inc(len(statuses) - accepted)
        return EventsOut(
            accepted=accepted,
            duplicates=len(statuses) - accepted,
            degraded=degraded_reason is not None,
            reason=degraded_reason,
            events=statuses,
        )

    def has_pending(self) -> bool:
        """True when events journaled during an outage still await replay."""
        return self._pending.exists()

    def replay_pending(self, *, wait: bool = False) -> int:
        """Apply events journaled during an outage (claims first, then sessions); how many.

        Raises:
            OnlineStoreUnavailableError: Redis failed again; the journal stays for next time.
        """

        def apply(records: list[dict[str, Any]]) -> None:
            keys = list(dict.fromkeys(_claim_key(r) for r in records))
            for start in range(0, len(keys), 1000):
                self._claim(keys[start : start + 1000])  # a retry is a duplicate from now on
            self._apply(records)

        replayed = self._pending.replay(apply, wait=wait)
        if replayed:
            log.info("replayed %d events journaled while the online store was away", replayed)
        return replayed

    def _journal(self, records: list[dict[str, Any]]) -> None:
        try:
            self._pending.add(records)
        except OSError:  # landed already (dbt counts them); only the session update is lost
            log.exception("could not journal %d events for replay", len(records))

    def _claim(self, keys: list[str]) -> dict[str, bool]:
        ttl = int(self._id_ttl.total_seconds())

        def claim() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, b"1", nx=True, ex=ttl)
            return pipe.execute()

        results = guarded(self._online.breaker, claim)
        return {key: bool(ok) for key, ok in zip(keys, results, strict=True)}

    def _claim_and_match(
        self, records: OrderedDict[str, dict[str, Any]]
    ) -> tuple[dict[str, bool], dict[str, str | None]]:
        """Claim the ids and look each item up in its session's last impression, in one trip.

        Returns the claims and, per event id, the model version of the last impression of the
        event's session that showed the event's item (None: not shown there).
        """
        ttl = int(self._id_ttl.total_seconds())
        ids = list(records)

        def claim() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for record in records.values():
                pipe.set(_claim_key(record), b"1", nx=True, ex=ttl)
            for record in records.values():
                key = session_key(record["user_id"], record["session_id"])
                pipe.hget(last_impression_key(key), record["item_id"])
            return pipe.execute()

        results = guarded(self._online.breaker, claim)
        claims, shown = results[: len(ids)], results[len(ids) :]
        return (
            {event_id: bool(ok) for event_id, ok in zip(ids, claims, strict=True)},
            {
                event_id: version.decode() if isinstance(version, bytes) else version
                for event_id, version in zip(ids, shown, strict=True)
            },
        )

    def _release(self, records: list[dict[str, Any]]) -> None:
        try:
            self._redis.delete(*(_claim_key(r) for r in records))
        except (redis.RedisError, OSError):
            log.exception("could not release event ids after a failed landing write")

    def _apply(self, records: list[dict[str, Any]]) -> None:
        for key, (user_id, events) in session_events(records).items():
            self._online.apply_session_events(session_key=key, user_id=user_id, events=events)


def _claim_key(record: dict[str, Any]) -> str:
    """The claim key of a record's event (tagged with its session, see recsys/contract.py)."""
    return event_claim_key(session_key(record["user_id"], record["session_id"]), record["event_id"])


def session_events(
    records: list[dict[str, Any]],
) -> OrderedDict[str, tuple[str, list[SessionEvent]]]:
    """Group landed records by online session: session key -> (user id, events)."""
    out: OrderedDict[str, tuple[str, list[SessionEvent]]] = OrderedDict()
    for record in records:
        key = session_key(record["user_id"], record["session_id"])
        when = datetime.fromisoformat(record["event_timestamp"])
        event = SessionEvent(
            event_id=record["event_id"],
            item_id=record["item_id"],
            event_type=record["event_type"],
            time_ms=int(when.timestamp() * 1000),
        )
        _, events = out.setdefault(key, (record["user_id"], []))
        events.append(event)
        out[key] = (record["user_id"], events)  # the latest record's user, as before
    return out


async def replay_pending(
    processor: EventProcessor, breaker: Breaker, *, every_s: float = 1.0
) -> None:
    """Replay events journaled during an outage once Redis answers again (until cancelled)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every_s)
        if not (processor.has_pending() and breaker.allow()):
            continue
        try:
            await loop.run_in_executor(None, processor.replay_pending)
        except OnlineStoreUnavailableError:
            continue  # still away; the breaker paces the next try
        except Exception:  # the replayer must outlive any one failure
            log.exception("replaying journaled events failed; retrying")
