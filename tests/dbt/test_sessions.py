"""Sessionization (given ids and 30-minute gaps), positions and the session marts."""

from __future__ import annotations

from tests.dbt.landing_files import Built, at


def test_sessions_split_on_gaps_longer_than_the_var(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.rows(
        "select event_id, session_id, session_position from fct_events "
        "where event_id similar to '[abc][0-9]' order by event_id"
    )
    assert rows == [
        ("a1", "u1#1", 1),
        ("a2", "u1#1", 2),
        ("a3", "u1#1", 3),
        ("a4", "u1#2", 1),
        ("a5", "u1#2", 2),
        ("b1", "web-1", 1),
        ("b2", "web-1", 2),
        ("c1", "app-9", 1),
        ("c2", "u3#1", 1),
    ]


def test_fct_sessions_summarizes_each_session(scenario_warehouse: Built) -> None:
    sessions = {
        row["session_id"]: row for row in scenario_warehouse.dicts("select * from fct_sessions")
    }
    assert {"u1#1", "u1#2", "web-1", "app-9", "u3#1"} <= set(sessions)
    first = sessions["u1#1"]
    assert first["user_id"] == "u1"
    assert first["started_at"] == at("2024-05-01T10:00:00")
    assert first["duration_seconds"] == 50 * 60
    assert (first["event_count"], first["distinct_items"]) == (3, 2)
    assert (first["views"], first["carts"], first["purchases"]) == (2, 1, 0)
    assert first["has_purchase"] is False
    assert sessions["u1#2"]["has_purchase"] is True
    assert sessions["u1#2"]["duration_seconds"] == 0
    assert sessions["web-1"]["duration_seconds"] == 2 * 3600


def test_session_state_lists_events_oldest_first(scenario_warehouse: Built) -> None:
    state = scenario_warehouse.dicts("select * from session_state where session_id = 'u1#2'")[0]
    assert state["item_ids"] == ["i3", "i3"]
    assert state["event_types"] == ["purchase", "view"]
    stamp_ms = int(at("2024-05-01T11:20:00.000001").timestamp() * 1000)
    assert state["event_times_ms"] == [stamp_ms, stamp_ms]
    assert state["event_count"] == 2
    assert state["event_timestamp"] == at("2024-05-01T11:20:00.000001")


def test_session_items_counts_interactions_per_item(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.rows(
        "select item_id, interactions, last_interaction_at, session_started_at "
        "from session_items where session_id = 'u1#1' order by item_id"
    )
    assert rows == [
        ("i1", 1, at("2024-05-01T10:00:00"), at("2024-05-01T10:00:00")),
        ("i2", 2, at("2024-05-01T10:50:00"), at("2024-05-01T10:00:00")),
    ]


def test_dim_users_counts_distinct_sessions(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.rows(
        "select user_id, session_count, event_count, attributes from dim_users "
        "where user_id in ('u1', 'u2', 'u3', 'fu', 'ghost') order by 1"
    )
    assert rows == [
        ("fu", 4, 8, '{"region": "eu"}'),
        ("ghost", 0, 0, "{}"),
        ("u1", 2, 5, None),
        ("u2", 1, 2, None),
        ("u3", 2, 2, None),
    ]
