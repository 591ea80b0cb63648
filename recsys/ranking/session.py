"""Session state: what a visitor did so far in the current session, and its features.

The same `SessionState` is built offline from a session's event prefix (training) and online
from the `session_state` row the server keeps in Redis through Feast pushes, and the same
`session_features` turns it into numbers, so the model never sees two definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.contract import MAX_SESSION_EVENTS, SESSION_GAP_MINUTES
from recsys.ranking.columns import columns

EVENT_TYPES = ("view", "add_to_cart", "purchase")
TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}

# Session features: name -> meaning. session_features() fills each by name.
SESSION_FEATURES = {
    "session_events": "events so far in the session",
    "session_distinct_items": "distinct items so far in the session",
    "session_duration_s": "seconds from the first event to the last",
    "session_last_gap_s": "seconds between the last two events",
    "session_mean_gap_s": "mean seconds between consecutive events",
    "session_carts": "add-to-cart events in the session",
    "session_purchases": "purchases in the session",
    "session_repeat_share": "share of events on an item seen before in the session",
}
SESSION = columns(SESSION_FEATURES)


@dataclass
class SessionState:
    """The trailing events of one session, oldest first (mirrors the session_state view)."""

    session_id: str
    user_id: str
    item_ids: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    event_times_ms: list[int] = field(default_factory=list)
    event_count: int = 0

    def append(self, *, item_id: str, event_type: str, event_time_ms: int) -> SessionState:
        """Return the state after one more event, keeping the last MAX_SESSION_EVENTS.

        Events arriving out of order are placed by time so the state stays sorted.
        """
        items = [*self.item_ids, item_id]
        types = [*self.event_types, event_type]
        times = [*self.event_times_ms, int(event_time_ms)]
        if len(times) > 1 and times[-1] < times[-2]:
            order = sorted(range(len(times)), key=times.__getitem__)
            items = [items[i] for i in order]
            types = [types[i] for i in order]
            times = [times[i] for i in order]
        keep = slice(-MAX_SESSION_EVENTS, None)
        return SessionState(
            session_id=self.session_id,
            user_id=self.user_id,
            item_ids=items[keep],
            event_types=types[keep],
            event_times_ms=times[keep],
            event_count=self.event_count + 1,
        )

    def current(self, *, gap_minutes: float = SESSION_GAP_MINUTES) -> SessionState:
        """Drop events before the last inactivity gap (for implicit, per-user sessions)."""
        times = self.event_times_ms
        if len(times) < 2:
            return self
        gap_ms = gap_minutes * 60_000
        start = 0
        for i in range(len(times) - 1, 0, -1):
            if times[i] - times[i - 1] > gap_ms:
                start = i
                break
        if start == 0:
            return self
        return SessionState(
            session_id=self.session_id,
            user_id=self.user_id,
            item_ids=self.item_ids[start:],
            event_types=self.event_types[start:],
            event_times_ms=self.event_times_ms[start:],
            event_count=len(times) - start,
        )

    @property
    def last_time_s(self) -> float | None:
        return self.event_times_ms[-1] / 1000.0 if self.event_times_ms else None


@dataclass(frozen=True)
class SessionArrays:
    """A session in catalog coordinates: item indices (-1 unknown), type codes, times in s."""

    items: np.ndarray  # int32
    types: np.ndarray  # int8
    times_s: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def empty(cls) -> SessionArrays:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0))


def session_arrays(state: SessionState, item_index: dict[str, int]) -> SessionArrays:
    """Map a session's item ids onto catalog indices."""
    get = item_index.get
    items = np.fromiter((get(i, -1) for i in state.item_ids), np.int32, len(state.item_ids))
    types = np.fromiter(
        (TYPE_CODE.get(t, 0) for t in state.event_types), np.int8, len(state.event_types)
    )
    times = np.asarray(state.event_times_ms, np.float64) / 1000.0
    return SessionArrays(items, types, times)


def session_features(session: SessionArrays) -> np.ndarray:
    """Return SESSION_FEATURES for one session (nan where undefined, e.g. empty session)."""
    n = len(session)
    out = np.full(len(SESSION_FEATURES), np.nan, np.float32)
    out[SESSION.session_events] = n
    if n == 0:
        return out
    distinct = len(np.unique(session.items))
    out[SESSION.session_distinct_items] = distinct
    times = session.times_s
    out[SESSION.session_duration_s] = times[-1] - times[0]
    if n > 1:
        gaps = np.diff(times)
        out[SESSION.session_last_gap_s] = gaps[-1]
        out[SESSION.session_mean_gap_s] = gaps.mean()
    out[SESSION.session_carts] = np.count_nonzero(session.types == TYPE_CODE["add_to_cart"])
    out[SESSION.session_purchases] = np.count_nonzero(session.types == TYPE_CODE["purchase"])
    out[SESSION.session_repeat_share] = 1.0 - distinct / n
    return out
