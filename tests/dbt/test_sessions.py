"""The session marts on the scenario warehouse.

Sessionization, positions, fct_sessions and session_state are checked on hand-made rows by
the dbt unit tests in their models' YAML (they run in every `dbt build`).
"""

from __future__ import annotations

from tests.dbt.landing_files import Built, at


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


def test_every_build_runs_the_models_unit_tests(scenario_warehouse: Built) -> None:
    unit_tests = {
        node.name: node.status
        for node in scenario_warehouse.summary.nodes
        if node.resource_type == "unit_test"
    }
    assert set(unit_tests) >= {
        "sessions_split_only_on_gaps_longer_than_the_var",
        "positions_follow_time_then_event_id",
        "fct_sessions_summarizes_each_session",
        "session_state_keeps_the_last_events_oldest_first",
    }
    assert set(unit_tests.values()) == {"pass"}
