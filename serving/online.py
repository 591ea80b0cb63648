"""Per-request online state through Feast: read the user and session rows, push session updates.

Every call goes through a circuit breaker: when Redis fails or times out, the breaker opens
and requests answer from in-memory fallbacks for `retry_seconds` without touching Redis;
then one request tries again, and success closes the breaker. So a dead Redis costs one
timeout per retry period, not one per request, and recovery needs no restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import ClusterDownError, RedisClusterException

from recsys.contract import BATCH_VIEW, SESSION_VIEW, USER_VIEW
from recsys.online_marker import MarkerCheck, read_marker
from recsys.ranking.session import SessionState
from recsys.redis_cluster import CLUSTER_OUTAGE_ERRORS, cluster_problem, is_cluster_client
from recsys.redis_runtime import client_from_url
from recsys.secrets import mask_text
from recsys.session_store import (
    SESSION_FIELDS,
    Applied,
    SessionContentionError,
    SessionEvent,
    SessionStore,
)

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

BATCH_FIELDS = ("item_ids", "scores", "model_version")


class OnlineStoreUnavailableError(RuntimeError):
    """Redis did not answer (or the breaker is open); use a fallback."""


def is_client_error(error: BaseException) -> bool:
    """True for errors caused by what a request sent (an id Redis cannot encode), not by Redis.

    Such an error says nothing about Redis's health, so it must never open the breaker: one
    client repeating a bad id would otherwise degrade every other client's answers.
    """
    return isinstance(error, UnicodeError | TypeError | redis.DataError) or (
        isinstance(error, ValueError) and not isinstance(error, redis.RedisError)
    )


# Errors that mean "Redis is not there" (down, unreachable, too slow, restarting): only these
# open the breaker. A server reply error (a full or read-only Redis) fails the one call; any
# other exception (bad input such as an id that cannot be encoded) is the caller's problem
# and propagates unchanged, so one client's bad request never degrades everyone's answers.
# A cluster that lost a node answers CLUSTERDOWN (or has no node for a slot): an outage too.
OUTAGE_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
    ClusterDownError,
    RedisClusterException,
)


def guarded(breaker: Breaker, fn: Any) -> Any:
    """Run one Redis call through the breaker (see OUTAGE_ERRORS for what trips it).

    Raises:
        OnlineStoreUnavailableError: The breaker is open, Redis failed, or it refused the call.
    """
    if not breaker.allow():
        raise OnlineStoreUnavailableError(breaker.last_error or "online store unavailable")
    try:
        result = fn()
    except OUTAGE_ERRORS as exc:
        breaker.failure(exc)
        log.warning("online store call failed: %s", mask_text(str(exc)))
        raise OnlineStoreUnavailableError(mask_text(str(exc))) from exc
    except (redis.ResponseError, SessionContentionError) as exc:
        log.warning("online store refused a call: %s", mask_text(str(exc)))
        raise OnlineStoreUnavailableError(mask_text(str(exc))) from exc
    except Exception as exc:
        if not is_client_error(exc):
            raise
        # This request alone falls back; Redis is fine and the breaker stays closed.
        raise OnlineStoreUnavailableError(
            f"the request's ids cannot be stored ({type(exc).__name__})"
        ) from exc
    breaker.success()
    return result


class Breaker:
    """A minimal circuit breaker: open for `retry_seconds` after a failure."""

    def __init__(self, retry_seconds: float) -> None:
        self._retry_seconds = retry_seconds
        self._open_until = 0.0
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def allow(self) -> bool:
        return time.monotonic() >= self._open_until

    def failure(self, error: BaseException) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self._retry_seconds
            self.last_error = mask_text(f"{type(error).__name__}: {error}")

    def success(self) -> None:
        if self._open_until:
            with self._lock:
                self._open_until = 0.0
                self.last_error = None


@dataclass(frozen=True)
class OnlineRow:
    """What Redis knows about one request's user and session."""

    user: dict[str, Any] | None  # user_features values, None for an unknown user
    session: SessionState | None  # None when the session has no events yet
    batch: tuple[list[str], list[float], str] | None  # batch recommendations, if any


class OnlineFeatures:
    """Reads (direct, pipelined) and writes (Feast push) of per-request state."""

    def __init__(
        self,
        store: FeatureStore,
        *,
        redis_url: str,
        timeout_s: float,
        user_features: list[str],
        retry_seconds: float,
    ) -> None:
        from recsys.pipeline.online_read import EntityReader, ViewFields

        self._store = store
        project = store.project
        version = store.config.entity_key_serialization_version
        self._users = EntityReader(
            project=project,
            join_key="user_id",
            serialization_version=version,
            views=[
                ViewFields.of(USER_VIEW, user_features),
                ViewFields.of(BATCH_VIEW, BATCH_FIELDS),
            ],
        )
        self._sessions = EntityReader(
            project=project,
            join_key="session_id",
            serialization_version=version,
            views=[ViewFields.of(SESSION_VIEW, SESSION_FIELDS)],
        )
        # The breaker, not redis-py, decides when to try again: no retries, short timeouts.
        # typed Any: redis-py's hints say str keys, but Feast's keys are bytes (which it accepts)
        self._redis: Any = client_from_url(redis_url, timeout_s=timeout_s, fail_fast=True)
        self.breaker = Breaker(retry_seconds)
        self._marker = MarkerCheck(self._redis, interval_s=2.0)
        self._session_store = SessionStore(
            self._redis,
            project=project,
            serialization_version=version,
            key_ttl_seconds=getattr(store.config.online_store, "key_ttl_seconds", None),
        )

    def read(self, *, user_id: str, session_key: str) -> OnlineRow:
        """Fetch the user's batch features, the session state and batch recommendations.

        Raises:
            OnlineStoreUnavailableError: Redis failed now or recently.
        """

        def fetch() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(self._users.key(user_id), self._users.fields)
            pipe.hmget(self._sessions.key(session_key), self._sessions.fields)
            return pipe.execute()

        user_raw, session_raw = self._call(fetch)
        user = self._users.decode(user_raw)
        session = self._sessions.decode(session_raw)[SESSION_VIEW]
        return OnlineRow(
            user=user[USER_VIEW],
            session=_session(session, session_key, user_id),
            batch=_batch(user[BATCH_VIEW]),
        )

    def read_session(self, *, user_id: str, session_key: str) -> SessionState | None:
        """Fetch one session's state (None when it has no events yet).

        Raises:
            OnlineStoreUnavailableError: Redis failed now or recently.
        """
        raw = self._call(
            lambda: self._redis.hmget(self._sessions.key(session_key), self._sessions.fields)
        )
        return _session(self._sessions.decode(raw)[SESSION_VIEW], session_key, user_id)

    def apply_session_events(
        self, *, session_key: str, user_id: str, events: list[SessionEvent]
    ) -> Applied:
        """Append events to a session's `session_state` row, atomically and once per event_id.

        The write Feast's push would make (the same hash fields and `_ts`), done under Redis's
        optimistic locking by `SessionStore` so concurrent workers never drop each other's
        events (see recsys/session_store.py).

        Raises:
            OnlineStoreUnavailableError: Redis failed now or recently.
        """
        return self._call(lambda: self._session_store.apply(session_key, user_id, events))

    def missing_features(self) -> str | None:
        """Why the online store lacks the materialized features, or None when it has them.

        Reads the materialization marker at most every 2 s (recsys/online_marker.py); an
        outage is the breaker's to report, so an open breaker answers None without asking.
        """
        if not self.breaker.allow():
            return None
        return self._marker.missing()

    def marker(self) -> dict[str, dict[str, Any]] | None:
        """The materialization marker's record per view; None when Redis did not answer."""
        try:
            return read_marker(self._redis)
        except (redis.RedisError, OSError, ValueError):
            return None

    def ping(self) -> bool:
        """True when Redis answers now (used by /ready; bypasses the breaker).

        On a cluster every primary must answer and report cluster_state:ok: one node down
        leaves its slots' users without features, which is not ready.
        """
        try:
            if is_cluster_client(self._redis):
                return cluster_problem(self._redis) is None
            return bool(self._redis.ping())
        except (redis.RedisError, OSError, RedisClusterException):
            return False

    def _call(self, fn: Any) -> Any:
        return guarded(self.breaker, fn)

    def _redis_client(self) -> Any:
        provider = self._store._get_provider()
        online = provider.online_store
        return online._get_client(self._store.config.online_store)  # type: ignore[attr-defined]

    def fail_fast(self) -> None:
        """Stop redis-py from retrying with exponential backoff (its default waits seconds).

        A request must turn a dead Redis into a fallback within one timeout; the breaker,
        not the client, decides when to try again.
        """
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            client = self._redis_client()
        except CLUSTER_OUTAGE_ERRORS as exc:  # Feast's cluster client connects on creation
            log.warning("online store not reachable at start: %s", mask_text(str(exc)))
            return
        client.set_retry(Retry(NoBackoff(), 0))


def _session(values: dict[str, Any] | None, session_key: str, user_id: str) -> SessionState | None:
    items = values.get("item_ids") if values else None
    if not items or values is None:
        return None
    return SessionState(
        session_id=session_key,
        user_id=user_id,
        item_ids=list(items),
        event_types=list(values.get("event_types") or ["view"] * len(items)),
        event_times_ms=[int(t) for t in values.get("event_times_ms") or []],
        event_count=int(values.get("event_count") or len(items)),
    )


def _batch(values: dict[str, Any] | None) -> tuple[list[str], list[float], str] | None:
    items = values.get("item_ids") if values else None
    if not items or values is None:
        return None
    scores = values.get("scores") or [0.0] * len(items)
    return list(items), [float(s) for s in scores], str(values.get("model_version") or "unknown")
