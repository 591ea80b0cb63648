"""Impressions, their outcomes and the daily online metrics on a hand-made log.

Every expected figure below is worked out by hand from the lines written here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import Built, data_dir_env, write_events, write_served
from tests.monitoring.impression_lines import impression, write_impressions

DAY = "2024-03-02"
# u1 has history the day before (not cold-start); the batch log names the catalogue i1..i10.
HISTORY = [
    {
        "event_id": f"h{n}",
        "user_id": "u1",
        "session_id": "old",
        "item_id": f"i{n}",
        "event_type": "view",
        "event_timestamp": f"2024-03-01T09:{n:02d}:00",
    }
    for n in range(1, 11)
]
T = {"features": 1.0, "rank": 2.0}
IMPRESSIONS = [
    impression(
        "r1",
        f"{DAY}T10:00:00+00:00",
        "u1",
        ["i1", "i2", "i3"],
        session_id="s1",
        timings_ms=T,
        feature_names=["f_a", "f_b"],
        vectors={"i1": [1.0, None], "i2": [2.0, 0.5], "i3": [3.0, 0.25]},
    ),
    impression(
        "r2",
        f"{DAY}T10:10:00+00:00",
        "u1",
        ["i4", "i2"],
        session_id="s1",
        timings_ms={"features": 2.0, "rank": 3.0},
    ),
    impression(
        "r3",
        f"{DAY}T10:00:00+00:00",
        "u2",
        ["i5", "i6"],
        degraded=True,
        reason="redis unavailable",
        timings_ms={"rank": 1.0},
    ),
    impression("r5", f"{DAY}T10:30:00+00:00", "u1", ["i8"], session_id="s2", timings_ms=T),
    impression("r4", f"{DAY}T12:00:00+00:00", "u2", ["i7"], model_version="m2"),
    "not json {",
    {**impression("rx", f"{DAY}T11:00:00+00:00", "u1", ["i1"]), "request_id": None},
    impression("r1", f"{DAY}T10:00:05+00:00", "u1", ["i9"], session_id="s1"),
]


def _served(event_id: str, user: str, item: str, kind: str, at: str, **extra: str) -> dict:
    return {
        "event_id": event_id,
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "event_timestamp": f"{DAY}T{at}+00:00",
        **extra,
    }


SERVED = [
    # clicked in r1 by request_id, at rank 2
    _served("e1", "u1", "i2", "view", "10:05:00", session_id="s1", request_id="r1"),
    # no request_id: the last answer of s1 before it is r2 (10:10), which shows i2 at rank 2
    _served("e2", "u1", "i2", "purchase", "10:12:00", session_id="s1"),
    # i3 was in r1 but not in the last answer (r2): not an outcome
    _served("e3", "u1", "i3", "view", "10:15:00", session_id="s1"),
    # no session on either side: the user's last answer r3, within 30 minutes
    _served("e4", "u2", "i5", "add_to_cart", "10:20:00"),
    # an hour after r4: outside the window
    _served("e5", "u2", "i7", "view", "13:00:00"),
    # before r1 was served: never an outcome, even with its request_id
    _served("e6", "u1", "i1", "view", "09:59:00", session_id="s1", request_id="r1"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    data_dir = tmp_path_factory.mktemp("outcomes") / "data"
    write_events(data_dir, "history", HISTORY, source_file="history.csv")
    write_served(data_dir, "served-20240302.jsonl", SERVED)
    write_impressions(data_dir, "impressions-20240302-host-1.jsonl", IMPRESSIONS)
    # a second server process mid-write: its last line has no newline yet
    write_impressions(
        data_dir,
        "impressions-20240302-host-2.jsonl",
        ['{"request_id": "r9", "served_at": "2024-03-02T1'],
        final_newline=False,
    )
    with data_dir_env(data_dir):
        yield Built(
            data_dir, dbt_runner.build(vars={"build_time": "2024-03-03T00:00:00Z"}, quiet=True)
        )


def test_malformed_lines_are_quarantined_with_a_reason(built: Built) -> None:
    rows = built.rows(
        "select landing_file, landing_row, quarantine_reason "
        "from impressions_quarantine order by all"
    )
    assert rows == [
        ("impressions/impressions-20240302-host-1.jsonl", 6, "not a JSON object"),
        ("impressions/impressions-20240302-host-1.jsonl", 7, "missing request_id"),
        ("impressions/impressions-20240302-host-1.jsonl", 8, "duplicate request_id"),
        (
            "impressions/impressions-20240302-host-2.jsonl",
            1,
            "incomplete last line (file being written)",
        ),
    ]
    lines = built.rows("select count(*) from int_impressions_validated")[0][0]
    requests = built.rows("select count(*) from fct_recommendation_requests")[0][0]
    assert (lines, requests) == (9, 5)


def test_one_impression_row_per_shown_item_with_its_logged_vector(built: Built) -> None:
    rows = built.rows(
        "select request_id, item_id, rank, feature_values from fct_impressions "
        "where request_id in ('r1', 'r2') order by request_id, rank"
    )
    assert rows == [
        ("r1", "i1", 1, [1.0, None]),
        ("r1", "i2", 2, [2.0, 0.5]),
        ("r1", "i3", 3, [3.0, 0.25]),
        ("r2", "i4", 1, None),
        ("r2", "i2", 2, None),
    ]
    names = built.rows(
        "select feature_names from fct_recommendation_requests where request_id = 'r1'"
    )
    assert names == [(["f_a", "f_b"],)]


def test_outcomes_are_attributed_by_request_id_then_by_the_last_answer(built: Built) -> None:
    rows = built.rows(
        "select request_id, item_id, rank, is_carted, is_bought, seconds_to_click, attribution "
        "from fct_recommendation_outcomes where is_clicked order by request_id, item_id"
    )
    assert rows == [
        ("r1", "i2", 2, False, False, 300.0, "request_id"),
        ("r2", "i2", 2, False, True, 120.0, "session_window"),
        ("r3", "i5", 1, True, False, 1200.0, "session_window"),
    ]
    total = built.rows("select count(*) from fct_recommendation_outcomes")[0][0]
    assert total == 9  # every shown item: 3 + 2 + 2 + 1 + 1


def test_daily_online_metrics_per_model_version(built: Built) -> None:
    rows = built.rows(
        "select model_version, answers, impressions, ctr_at_k, conversion, cart_rate, mrr, "
        "degraded_share, cold_start_share, catalogue_coverage, latency_p50_ms "
        "from mart_online_metrics order by model_version"
    )
    assert [row[:3] for row in rows] == [("m1", 4, 8), ("m2", 1, 1)]
    m1 = rows[0]
    # r1, r2, r3 clicked of 4; r2 bought; r3 carted; MRR (1/2 + 1/2 + 1 + 0) / 4
    assert m1[3:8] == pytest.approx((0.75, 0.25, 0.25, 0.5, 0.25))
    assert m1[8] == pytest.approx(0.25)  # u2 has no event before r3
    assert m1[9] == pytest.approx(0.7)  # i1 i2 i3 i4 i5 i6 i8 of i1..i10
    assert m1[10] == pytest.approx(3.0)  # latencies 3, 5, 1, 3
    assert rows[1][3] == 0.0


def test_a_build_without_impressions_has_empty_monitoring_tables(
    event_only_warehouse: Built,
) -> None:
    for table in (
        "fct_impressions",
        "fct_recommendation_outcomes",
        "mart_online_metrics",
        "impressions_quarantine",
    ):
        assert event_only_warehouse.rows(f"select count(*) from {table}") == [(0,)]
