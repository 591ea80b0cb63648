"""Co-visitation and sequential neighbours on a tiny example computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import Built, at, data_dir_env, write_events

EARLY_A, EARLY_B = at("2024-01-10T13:00:00"), at("2024-01-10T13:01:00")
T1, T2, T3, T4 = (at(f"2024-03-10T10:0{minute}:00") for minute in range(4))


def _events() -> list[dict[str, object]]:
    # 60 one-event sessions (no pairs) put every window boundary but serving before March.
    filler = [
        {
            "event_id": f"fill-{day}",
            "user_id": f"filler-{day}",
            "session_id": f"fill-{day}",
            "item_id": f"F{day}",
            "event_type": "view",
            "event_timestamp": at("2024-01-01T12:00:00") + timedelta(days=day),
        }
        for day in range(60)
    ]
    early = [
        ("x1", "A", "view", EARLY_A),
        ("x2", "B", "view", EARLY_B),
    ]
    late = [
        ("s1", "A", "view", T1),
        ("s2", "B", "view", T2),
        ("s3", "C", "add_to_cart", T3),
        ("s4", "A", "purchase", T4),
    ]
    sessions = [("early", "x", early), ("late", "s", late)]
    return filler + [
        {
            "event_id": event_id,
            "user_id": user,
            "session_id": session,
            "item_id": item,
            "event_type": kind,
            "event_timestamp": stamp,
        }
        for session, user, events in sessions
        for event_id, item, kind, stamp in events
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    data_dir = tmp_path_factory.mktemp("covisitation") / "data"
    write_events(data_dir, "covis", _events(), source_file="covis.csv")
    with data_dir_env(data_dir):
        yield Built(data_dir, dbt_runner.build(quiet=True))


def _neighbors(built: Built, item: str, snapshot: str) -> dict[str, object]:
    rows = built.dicts(
        "select * from item_neighbors where item_id = ? and snapshot_name = ?", item, snapshot
    )
    assert len(rows) == 1, f"{item} @ {snapshot}: {len(rows)} rows"
    return rows[0]


def test_serving_scores_match_the_hand_computation(built: Built) -> None:
    serving = built.rows(
        "select snapshot_at from feature_snapshots where snapshot_name = 'serving'"
    )
    assert serving == [(T4 + timedelta(microseconds=1),)]
    snapshot_at = T4 + timedelta(microseconds=1)

    def d(stamp: datetime) -> float:
        return 0.5 ** ((snapshot_at - stamp).total_seconds() / 86400 / 30)

    # Pairs within 3 positions: (1,2) A-B, (1,3) A-C, (2,3) B-C, (2,4) B-A, (3,4) C-A; the
    # (1,4) pair is A-A and never counts. Weights: view 1, add_to_cart 2, purchase 3.
    expected = {
        "A": (["C", "B"], [2 * d(T3) + 2 * d(T4), d(EARLY_B) + d(T2) + d(T4)],
              ["B", "C"], [d(EARLY_B) + d(T2), 2 / 2 * d(T3)]),
        "B": (["A", "C"], [d(EARLY_B) + d(T2) + 3 * d(T4), 2 * d(T3)],
              ["C", "A"], [2 * d(T3), 3 / 2 * d(T4)]),
        "C": (["A", "B"], [d(T3) + 3 * d(T4), d(T3)],
              ["A"], [3 * d(T4)]),
    }  # fmt: skip
    for item, (covis_ids, covis_scores, seq_ids, seq_scores) in expected.items():
        row = _neighbors(built, item, "serving")
        assert row["covis_item_ids"] == covis_ids, item
        assert row["covis_scores"] == pytest.approx(covis_scores, rel=1e-12), item
        assert row["seq_item_ids"] == seq_ids, item
        assert row["seq_scores"] == pytest.approx(seq_scores, rel=1e-12), item


def test_earlier_snapshots_see_only_the_early_session(built: Built) -> None:
    snapshots = dict(built.rows("select snapshot_name, snapshot_at from feature_snapshots"))
    for name in ("train", "valid", "test"):
        snapshot_at = snapshots[name]
        assert EARLY_B < snapshot_at < T1
        decay = 0.5 ** ((snapshot_at - EARLY_B).total_seconds() / 86400 / 30)
        a_row, b_row = _neighbors(built, "A", name), _neighbors(built, "B", name)
        assert (a_row["covis_item_ids"], a_row["seq_item_ids"]) == (["B"], ["B"])
        assert a_row["covis_scores"] == pytest.approx([decay], rel=1e-12)
        assert a_row["seq_scores"] == pytest.approx([decay], rel=1e-12)
        assert (b_row["covis_item_ids"], b_row["seq_item_ids"]) == (["A"], [])
        assert a_row["event_timestamp"] == snapshot_at
    assert built.rows("select snapshot_name from item_neighbors where item_id = 'C'") == [
        ("serving",)
    ]
    assert built.rows("select count(*) from item_neighbors where item_id like 'F%'") == [(0,)]


def test_item_covisitation_is_the_long_form(built: Built) -> None:
    rows = built.rows(
        "select kind, neighbor_item_id, neighbor_rank from item_covisitation "
        "where item_id = 'A' and snapshot_name = 'serving' order by kind, neighbor_rank"
    )
    assert rows == [("covis", "C", 1), ("covis", "B", 2), ("seq", "B", 1), ("seq", "C", 2)]
