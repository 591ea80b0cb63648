"""item_rules' kernel on hand-made sessions: 1 / gap weights, the window, point in time."""

import duckdb
import numpy as np
import pytest

from recsys.pipeline.item_rules import item_rules, sequential_rules

DAY1 = "2026-01-01 00:00:00+00"
DAY2 = "2026-01-02 00:00:00+00"
DAY3 = "2026-01-03 00:00:00+00"
ITEMS = "abcdef"


def _lists(
    events: list[tuple[str, str, str]], *, top_k: int = 3, window: int = 2
) -> dict[tuple[str, str], tuple[list[str], list[float]]]:
    con = duckdb.connect()
    values = ", ".join(
        f"('{s}', {p}, '{i}', timestamptz '{t}')" for p, (s, i, t) in enumerate(events)
    )
    table = item_rules(
        con,
        events=con.sql(
            f"select * from (values {values})"
            " as t(session_id, session_position, item_id, event_timestamp)"
        ),
        items=con.sql(
            "select * from (values "
            + ", ".join(f"('{i}', {k + 1})" for k, i in enumerate(ITEMS))
            + ") as t(item_id, item_key)"
        ),
        snapshots=con.sql(
            f"select * from (values ('serving', timestamptz '{DAY3}', 1),"
            f" ('train', timestamptz '{DAY2}', 0)) as t(snapshot_name, snapshot_at, snapshot_index)"
        ),
        top_k=top_k,
        window=window,
    )
    return {
        (row["item_id"], row["snapshot_name"]): (row["rule_item_ids"], row["rule_scores"])
        for row in table.to_pylist()
    }


def _session(name: str, items: str, day: str = "2026-01-01") -> list[tuple[str, str, str]]:
    return [(name, item, f"{day} 00:0{p}:00+00") for p, item in enumerate(items)]


def test_rules_weigh_one_over_the_gap_within_the_window():
    # a b c d: with a window of 2, a -> b (1) and a -> c (1/2); d is 3 after a: no rule.
    # a second session a c adds 1 to a -> c, so c (1.5) outranks b (1).
    lists = _lists(_session("s1", "abcd") + _session("s2", "ac"))
    assert lists["a", "train"] == (["c", "b"], [1.5, 1.0])
    assert lists["c", "train"] == (["d"], [1.0])
    assert ("d", "train") not in lists  # nothing follows d


def test_repeats_of_the_item_and_other_sessions_make_no_rule():
    lists = _lists(_session("s1", "aab") + _session("s2", "e"))
    assert lists["a", "train"] == (["b"], [1.5])  # a(1) -> b at gap 2, a(2) -> b at gap 1
    assert ("b", "train") not in lists  # e is in another session


def test_ties_by_item_id_and_top_k():
    lists = _lists(_session("s1", "ac") + _session("s2", "ab") + _session("s3", "ad"), top_k=2)
    assert lists["a", "train"] == (["b", "c"], [1.0, 1.0])


def test_later_events_never_change_an_earlier_snapshot():
    early = _session("s1", "abc")
    late = _session("s2", "ad", day="2026-01-02") + _session("s1", "e", day="2026-01-02")
    before = _lists(early)
    after = _lists(early + late)
    assert after["a", "train"] == before["a", "train"]
    assert after["a", "serving"] == (["b", "d", "c"], [1.0, 1.0, 0.5])
    assert after["c", "serving"] == (["e"], [1.0])


def test_no_events_no_lists():
    owners, offsets, followers, _ = sequential_rules(
        np.zeros(0, np.int64), np.zeros(0, np.int64), 3, top_k=2, window=2
    )
    assert len(owners) == 0 and list(offsets) == [0] and len(followers) == 0


def test_a_window_below_one_is_refused():
    with pytest.raises(ValueError, match="rules_window"):
        _lists(_session("s1", "ab"), window=0)
