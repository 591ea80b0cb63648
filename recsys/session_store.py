"""Apply events to a session's online state atomically in Redis, once per event_id.

The session row lives where Feast keeps the `session_state` view (a Redis hash: key = entity
key + project, fields = mmh3("session_state:<feature>"), values = Value protobufs, plus
`_ts:session_state`). Updating it is read-append-write, which a lock in one process cannot
protect once two workers (or two replicas) append to the same session: both read the same
state and the second write drops the first one's events. So the update runs under Redis's
optimistic locking instead: WATCH the key, read, append, write in MULTI/EXEC, and start over
when another writer changed the key meanwhile (EXEC answers nil). No lock outlives a crash.

The hash also keeps the ids of the last `APPLIED_IDS_KEPT` events applied to the session, in
an extra field Feast never reads, so applying the same event twice (a replay after an outage,
a retried request) is a no-op: the update is idempotent on event_id.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from recsys.contract import EVENT_KEY_PREFIX, SESSION_VIEW, event_claim_key
from recsys.pipeline.online_format import field_name, timestamp_field
from recsys.pipeline.online_read import EntityReader, ViewFields
from recsys.ranking.session import SessionState

SESSION_FIELDS = ("item_ids", "event_types", "event_times_ms", "event_count")
# More than a session keeps (MAX_SESSION_EVENTS): a replay may re-send older events too.
APPLIED_IDS_KEPT = 200
APPLIED_IDS_FIELD = b"recsys:applied_event_ids"
# Optimistic retries before giving up; contention on one session is short-lived.
MAX_ATTEMPTS = 200


class SessionContentionError(RuntimeError):
    """Other writers kept changing the session; the update was not applied."""


@dataclass(frozen=True)
class SessionEvent:
    """One event as the session state needs it."""

    event_id: str
    item_id: str
    event_type: str
    time_ms: int


@dataclass(frozen=True)
class Applied:
    """What one update did: the new state and how many events were new to the session."""

    state: SessionState | None
    applied: int
    already_applied: int


class SessionStore:
    """Atomic, idempotent appends to `session_state` rows in Feast's Redis layout."""

    def __init__(
        self,
        client: Any,
        *,
        project: str,
        serialization_version: int = 3,
        key_ttl_seconds: int | None = None,
    ) -> None:
        self._client = client
        self._reader = EntityReader(
            project=project,
            join_key="session_id",
            serialization_version=serialization_version,
            views=[ViewFields.of(SESSION_VIEW, SESSION_FIELDS)],
        )
        self._fields = {name: field_name(SESSION_VIEW, name) for name in SESSION_FIELDS}
        self._ts_field = timestamp_field(SESSION_VIEW)
        self._key_ttl = key_ttl_seconds

    def key(self, session_key: str) -> bytes:
        return self._reader.key(session_key)

    def read(self, session_key: str, user_id: str = "") -> tuple[SessionState | None, list[str]]:
        """The session's state and the ids of the last events applied to it."""
        raw = self._client.hmget(self.key(session_key), [*self._reader.fields, APPLIED_IDS_FIELD])
        return self._decode(raw, session_key, user_id)

    def apply(self, session_key: str, user_id: str, events: Sequence[SessionEvent]) -> Applied:
        """Append `events` (any order) to the session, skipping ids it already holds.

        Raises:
            SessionContentionError: The key changed under every one of MAX_ATTEMPTS tries.
            redis.RedisError: Redis failed (the caller decides what that means).
        """
        key = self.key(session_key)
        wanted = [*self._reader.fields, APPLIED_IDS_FIELD]
        for attempt in range(MAX_ATTEMPTS):
            with self._client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.hmget(key, wanted)
                    state, seen = self._decode(raw, session_key, user_id)
                    new = _new_events(events, seen)
                    if not new:
                        pipe.unwatch()
                        return Applied(state, 0, len(events))
                    state = state or SessionState(session_id=session_key, user_id=user_id)
                    for event in sorted(new, key=lambda e: e.time_ms):
                        state = state.append(
                            item_id=event.item_id,
                            event_type=event.event_type,
                            event_time_ms=event.time_ms,
                        )
                    seen = [*seen, *(e.event_id for e in new)][-APPLIED_IDS_KEPT:]
                    pipe.multi()
                    pipe.hset(key, mapping=self._encode(state, seen))
                    if self._key_ttl:
                        pipe.expire(key, self._key_ttl)
                    pipe.execute()
                    return Applied(state, len(new), len(events) - len(new))
                except redis.WatchError:
                    # another writer won the race: back off a little (jitter) and re-read
                    time.sleep(random.uniform(0, 0.0005 * min(attempt + 1, 20)))
        raise SessionContentionError(
            f"session {session_key!r}: changed by other writers on all {MAX_ATTEMPTS} tries"
        )

    def _decode(
        self, raw: list[bytes | None], session_key: str, user_id: str
    ) -> tuple[SessionState | None, list[str]]:
        *values, applied = raw
        row = self._reader.decode(values)[SESSION_VIEW]
        seen = json.loads(applied) if applied else []
        items = row.get("item_ids") if row else None
        if not row or not items:
            return None, seen
        state = SessionState(
            session_id=session_key,
            user_id=user_id,
            item_ids=list(items),
            event_types=list(row.get("event_types") or ["view"] * len(items)),
            event_times_ms=[int(t) for t in row.get("event_times_ms") or []],
            event_count=int(row.get("event_count") or len(items)),
        )
        return state, seen

    def _encode(self, state: SessionState, seen: list[str]) -> dict[bytes, bytes]:
        from feast.protos.feast.types.Value_pb2 import Int64List, StringList, Value
        from google.protobuf.timestamp_pb2 import Timestamp

        # Stamped with the write time (never before its last event): Feast's own writes skip
        # a row whose timestamp is not newer than the stored one.
        last_event = datetime.fromtimestamp(state.event_times_ms[-1] / 1000, tz=UTC)
        stamp = Timestamp()
        stamp.FromDatetime(max(datetime.now(UTC), last_event))
        fields = self._fields
        return {
            fields["item_ids"]: Value(
                string_list_val=StringList(val=state.item_ids)
            ).SerializeToString(),
            fields["event_types"]: Value(
                string_list_val=StringList(val=state.event_types)
            ).SerializeToString(),
            fields["event_times_ms"]: Value(
                int64_list_val=Int64List(val=state.event_times_ms)
            ).SerializeToString(),
            fields["event_count"]: Value(int64_val=state.event_count).SerializeToString(),
            self._ts_field: stamp.SerializeToString(),
            APPLIED_IDS_FIELD: json.dumps(seen, separators=(",", ":")).encode(),
        }


def _new_events(events: Sequence[SessionEvent], seen: list[str]) -> list[SessionEvent]:
    """Events whose id the session has not applied yet (first of any repeats in the batch)."""
    known = set(seen)
    out = []
    for event in events:
        if event.event_id not in known:
            known.add(event.event_id)
            out.append(event)
    return out


def reset_sessions(
    client: Any, store: SessionStore, session_keys: Sequence[str] | None
) -> tuple[int, int]:
    """Delete online session rows and the event ids applied to them; return (rows, ids).

    With `session_keys` None every `session_state` row goes (found by its timestamp field)
    with every remembered event id, so a replayed evaluation starts from nothing and its
    events are not answered as duplicates of the previous replay.
    """
    prefix = EVENT_KEY_PREFIX.encode()
    if session_keys is not None:
        rows = [store.key(k) for k in session_keys]
        event_keys = _applied_event_keys(client, list(session_keys), rows)
        return _delete(client, rows), _delete(client, event_keys)
    ts_field = timestamp_field(SESSION_VIEW)
    rows, event_keys = [], []
    batch: list[bytes] = []
    for key in client.scan_iter(count=1000):
        if key.startswith(prefix):
            event_keys.append(key)
        else:
            batch.append(key)
        if len(batch) >= 1000:
            rows += _session_rows(client, batch, ts_field)
            batch = []
    rows += _session_rows(client, batch, ts_field)
    return _delete(client, rows), _delete(client, event_keys)


def _applied_event_keys(client: Any, sessions: list[str], rows: list[bytes]) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.hget(row, APPLIED_IDS_FIELD)
    return [
        event_claim_key(session, str(event_id)).encode()
        for session, stored in zip(sessions, pipe.execute(), strict=True)
        for event_id in (json.loads(stored) if stored else [])
    ]


def _session_rows(client: Any, keys: list[bytes], ts_field: bytes) -> list[bytes]:
    """The keys among `keys` that are session_state rows (other types answer an error)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hexists(key, ts_field)
    found = pipe.execute(raise_on_error=False)
    return [key for key, hit in zip(keys, found, strict=True) if hit is True or hit == 1]


def _delete(client: Any, keys: list[bytes]) -> int:
    deleted = 0
    for start in range(0, len(keys), 1000):
        if chunk := keys[start : start + 1000]:
            deleted += int(client.unlink(*chunk))
    return deleted
