import numpy as np

from recsys.contract import MAX_SESSION_EVENTS
from recsys.ranking.session import (
    SESSION_FEATURES,
    SessionArrays,
    SessionState,
    session_features,
)


def test_append_keeps_the_most_recent_events_in_time_order() -> None:
    state = SessionState(session_id="s", user_id="u")
    for t in range(MAX_SESSION_EVENTS + 5):
        state = state.append(item_id=f"i{t}", event_type="view", event_time_ms=1000 * t)
    assert len(state.item_ids) == MAX_SESSION_EVENTS
    assert state.item_ids[-1] == f"i{MAX_SESSION_EVENTS + 4}"
    assert state.event_count == MAX_SESSION_EVENTS + 5
    late = state.append(item_id="early", event_type="view", event_time_ms=500)
    assert late.event_times_ms == sorted(late.event_times_ms)


def test_current_cuts_at_the_last_inactivity_gap() -> None:
    minute = 60_000
    state = SessionState(
        session_id="user:u",
        user_id="u",
        item_ids=["a", "b", "c"],
        event_types=["view"] * 3,
        event_times_ms=[0, 1 * minute, 45 * minute],
        event_count=3,
    )
    assert state.current(gap_minutes=30).item_ids == ["c"]
    assert state.current(gap_minutes=60).item_ids == ["a", "b", "c"]


def test_session_features_on_a_hand_made_session() -> None:
    session = SessionArrays(
        np.array([1, 2, 1], np.int32), np.array([0, 1, 0], np.int8), np.array([0.0, 30.0, 90.0])
    )
    f = dict(zip(SESSION_FEATURES, session_features(session), strict=True))
    assert f["session_events"] == 3
    assert f["session_distinct_items"] == 2
    assert f["session_duration_s"] == 90
    assert f["session_last_gap_s"] == 60
    assert f["session_mean_gap_s"] == 45
    assert f["session_carts"] == 1
    assert f["session_repeat_share"] == np.float32(1 - 2 / 3)


def test_empty_session_has_length_zero_and_no_other_values() -> None:
    empty = SessionArrays(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0))
    values = session_features(empty)
    assert values[0] == 0
    assert np.isnan(values[1:]).all()
