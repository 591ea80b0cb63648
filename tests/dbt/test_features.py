"""Hand-computed user and item features, their point-in-time boundary, and item popularity."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.dbt import scenarios
from tests.dbt.landing_files import Built, at

US = timedelta(microseconds=1)
USER_COLUMNS = (
    "feature_date, event_timestamp, views_1d, carts_1d, purchases_1d, views_7d, carts_7d, "
    "purchases_7d, views_30d, carts_30d, purchases_30d, events_total, sessions_total, "
    "distinct_items_total, active_days_30d, conversion_rate_30d, cart_rate_30d, "
    "avg_price_30d, top_categories, top_category_shares, recent_item_ids"
)
# One tuple per row of user fu, in USER_COLUMNS order, computed by hand from FEATURE_EVENTS.
EXPECTED_USER_ROWS = [
    (date(2024, 4, 1), at("2024-04-01T10:10:00") + US, 2, 1, 0, 2, 1, 0, 2, 1, 0,
     3, 1, 2, 1, 0.0, 1 / 3, 50 / 3, ["books"], [1.0], ["book-b", "book-a"]),
    (date(2024, 4, 3), at("2024-04-03T09:30:00") + US, 1, 0, 1, 3, 1, 1, 3, 1, 1,
     5, 2, 3, 2, 1 / 5, 1 / 5, 15.0, ["books", "toys"], [0.8, 0.2],
     ["book-b", "toy-c", "book-a"]),
    # Apr 10: the 7-day window (Apr 4-10) has only this day; the 30-day one has all so far.
    (date(2024, 4, 10), at("2024-04-10T13:00:00") + US, 2, 0, 0, 2, 0, 0, 5, 1, 1,
     7, 3, 4, 3, 1 / 7, 1 / 7, 85 / 6, ["books", "toys"], [5 / 6, 1 / 6],
     ["book-a", "misc-d", "book-b", "toy-c"]),
    # May 5: the 30-day window (Apr 6 - May 5) keeps Apr 10 and this day; tie -> by name.
    (date(2024, 5, 5), at("2024-05-05T08:00:00") + US, 1, 0, 0, 1, 0, 0, 3, 0, 0,
     8, 4, 4, 2, 0.0, 0.0, 7.5, ["books", "toys"], [0.5, 0.5],
     ["toy-c", "book-a", "misc-d", "book-b"]),
]  # fmt: skip


def _close(actual: object, expected: object) -> bool:
    if isinstance(expected, float):
        return actual == pytest.approx(expected, rel=1e-12)
    if isinstance(expected, list) and expected and isinstance(expected[0], float):
        return actual == pytest.approx(expected, rel=1e-12)
    return actual == expected


def test_user_features_match_hand_computed_values(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.rows(
        f"select {USER_COLUMNS} from user_features where user_id = 'fu' order by feature_date"
    )
    assert len(rows) == len(EXPECTED_USER_ROWS)
    names = [name.strip() for name in USER_COLUMNS.split(",")]
    for actual, expected in zip(rows, EXPECTED_USER_ROWS, strict=True):
        wrong = [
            (name, a, e)
            for name, a, e in zip(names, actual, expected, strict=True)
            if not _close(a, e)
        ]
        assert not wrong, f"{expected[0]}: {wrong}"


def test_user_epoch_features(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.rows(
        "select first_event_epoch_s, last_event_epoch_s from user_features "
        "where user_id = 'fu' and feature_date = '2024-04-10'"
    )
    assert rows == [(at("2024-04-01T10:00:00").timestamp(), at("2024-04-10T13:00:00").timestamp())]


@pytest.mark.parametrize(
    ("query_time", "events_total"),
    [
        # On Apr 3 fu acted at 09:00 and 09:30: a query at 09:20 must not see 09:30 (nor,
        # with daily rows, 09:00), so it gets the Apr 1 row.
        ("2024-04-03T09:20:00", 3),
        ("2024-04-03T09:30:00", 3),  # at the last event itself: still the previous row
        ("2024-04-03T09:30:00.000001", 5),  # 1 microsecond later the day's row joins
        ("2024-04-01T09:59:59", None),  # before any event: nothing
    ],
)
def test_point_in_time_join_never_sees_a_later_event(
    scenario_warehouse: Built, query_time: str, events_total: int | None
) -> None:
    # The join Feast does: the latest feature row with event_timestamp <= the query time.
    rows = scenario_warehouse.rows(
        "select f.events_total from (select 'fu' as user_id, cast(? as timestamptz) as at) q "
        "asof left join user_features f on q.user_id = f.user_id and q.at >= f.event_timestamp",
        at(query_time),
    )
    assert rows == [(events_total,)]


def test_item_features_match_hand_computed_values(scenario_warehouse: Built) -> None:
    rows = scenario_warehouse.dicts(
        "select * from item_features where item_id = 'book-b' order by feature_date"
    )
    assert [r["event_timestamp"] for r in rows] == [
        at("2024-04-01T10:10:00") + US,
        at("2024-04-03T09:30:00") + US,
    ]
    first, second = rows
    assert (first["views_1d"], first["carts_1d"], first["purchases_1d"]) == (1, 1, 0)
    assert (first["events_total"], first["users_total"]) == (2, 1)
    assert first["cart_rate_30d"] == pytest.approx(0.5)
    assert first["purchase_rate_30d"] == 0.0
    assert first["trend_7d"] == pytest.approx((2 / 7) / (2 / 30))
    assert (first["category"], first["price"]) == ("books", 20.0)
    assert first["first_seen_epoch_s"] == at("2024-04-01T10:05:00").timestamp()
    assert (second["views_1d"], second["carts_1d"], second["purchases_1d"]) == (1, 0, 1)
    assert (second["views_7d"], second["carts_7d"], second["purchases_7d"]) == (2, 1, 1)
    assert (second["events_total"], second["users_total"]) == (4, 2)
    assert second["purchase_rate_30d"] == pytest.approx(0.25)
    assert second["first_seen_epoch_s"] == at("2024-04-01T10:05:00").timestamp()
    assert second["last_event_epoch_s"] == at("2024-04-03T09:30:00").timestamp()


def test_items_without_metadata_have_null_category_and_price(scenario_warehouse: Built) -> None:
    assert scenario_warehouse.rows(
        "select category, price, has_metadata, event_count from dim_items where item_id = 'misc-d'"
    ) == [(None, None, False, 1)]
    assert scenario_warehouse.rows(
        "select category, price from item_features where item_id = 'misc-d'"
    ) == [(None, None)]
    assert scenario_warehouse.rows(
        "select category, price, has_metadata from dim_items where item_id = 'toy-c'"
    ) == [("toys", 5.0, True)]


def _all_events() -> list[tuple[str, str, datetime]]:
    """(item_id, event_type, event_timestamp) of every event in the scenario warehouse."""
    events = [
        (e["item_id"], e["event_type"], at(e["event_timestamp"])) for e in scenarios.SESSION_EVENTS
    ]
    events += [(row[3], row[4], at(row[5])) for row in scenarios.FEATURE_EVENTS]
    return events


def test_item_popularity_uses_only_events_before_each_snapshot(scenario_warehouse: Built) -> None:
    snapshots = dict(
        scenario_warehouse.rows("select snapshot_name, snapshot_at from feature_snapshots")
    )
    stored = {
        (row["item_id"], row["snapshot_name"]): row
        for row in scenario_warehouse.dicts("select * from item_popularity")
    }
    expected_keys = set()
    for name, snapshot_at in snapshots.items():
        for item in {item for item, _, stamp in _all_events() if stamp < snapshot_at}:
            before = [(kind, t) for i, kind, t in _all_events() if i == item and t < snapshot_at]
            row = stored[(item, name)]
            expected_keys.add((item, name))
            for days in (1, 7, 30):
                start = snapshot_at - timedelta(days=days)
                assert row[f"events_{days}d"] == sum(1 for _, t in before if t >= start)
            start = snapshot_at - timedelta(days=30)
            purchases = sum(1 for kind, t in before if kind == "purchase" and t >= start)
            assert row["purchases_30d"] == purchases
            decayed = sum(0.5 ** ((snapshot_at - t).total_seconds() / 86400 / 7) for _, t in before)
            assert row["decayed_score"] == pytest.approx(decayed, rel=1e-9)
            assert row["event_timestamp"] == snapshot_at
    assert set(stored) == expected_keys
