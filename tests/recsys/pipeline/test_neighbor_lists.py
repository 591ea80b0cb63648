"""item_neighbors' ranking kernel on hand-made pairs: snapshots, the top-k cut and its ties."""

import duckdb
import pytest

from recsys.pipeline.neighbor_lists import neighbor_lists

DAY1 = "timestamptz '2026-01-01 00:00:00+00'"
DAY2 = "timestamptz '2026-01-02 00:00:00+00'"
DAY3 = "timestamptz '2026-01-03 00:00:00+00'"
CARRY = 0.5 ** (1 / 30)  # one day at a 30-day half-life


def _pair(lo: int, hi: int, first: str, covis: tuple[float, float], seq: float | None) -> str:
    followed = DAY1 if seq is not None else "null::timestamptz"
    lo_hi_seq = seq or 0.0
    return (
        f"select {lo}::integer as lo_item_key, {hi}::integer as hi_item_key,"
        f" {first} as first_paired_at, {followed} as lo_hi_first_followed_at,"
        " null::timestamptz as hi_lo_first_followed_at,"
        f" {covis[0]}::double as lo_hi_covis_bucket_0, {covis[1]}::double as lo_hi_covis_bucket_1,"
        f" {covis[0]}::double as hi_lo_covis_bucket_0, {covis[1]}::double as hi_lo_covis_bucket_1,"
        f" {lo_hi_seq}::double as lo_hi_seq_bucket_0, 0.0::double as lo_hi_seq_bucket_1,"
        " 0.0::double as hi_lo_seq_bucket_0, 0.0::double as hi_lo_seq_bucket_1"
    )


def _lists(top_k: int) -> dict[tuple[str, str], tuple[list[str], list[float], list[str]]]:
    con = duckdb.connect()
    pairs = " union all ".join(
        [
            _pair(1, 2, DAY1, (1.0, 0.0), 0.7),
            _pair(1, 3, DAY1, (1.0, 0.0), None),
            # First seen after the train snapshot: only serving may list it.
            _pair(1, 4, "timestamptz '2026-01-02 12:00:00+00'", (0.0, 2.0), None),
        ]
    )
    table = neighbor_lists(
        con,
        pairs=con.sql(pairs),
        items=con.sql(
            "select * from (values ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5))"
            " as t(item_id, item_key)"
        ),
        snapshots=con.sql(
            f"select * from (values ('serving', {DAY3}, 1), ('train', {DAY2}, 0))"
            " as t(snapshot_name, snapshot_at, snapshot_index)"
        ),
        top_k=top_k,
        half_life_days=30,
    )
    return {
        (row["item_id"], row["snapshot_name"]): (
            row["covis_item_ids"],
            row["covis_scores"],
            row["seq_item_ids"],
        )
        for row in table.to_pylist()
    }


def test_snapshots_carry_older_buckets_and_list_only_pairs_seen_before_them() -> None:
    lists = _lists(top_k=50)
    assert set(lists) == {
        (item, snapshot) for item in "abc" for snapshot in ("train", "serving")
    } | {("d", "serving")}  # e has no pair; d's pair comes after train
    assert lists["a", "train"] == (["b", "c"], [1.0, 1.0], ["b"])
    ids, scores, seq = lists["a", "serving"]
    assert (ids, seq) == (["d", "b", "c"], ["b"])
    assert scores == pytest.approx([2.0, CARRY, CARRY], rel=1e-12)
    assert lists["b", "train"] == (["a"], [1.0], [])  # seq runs lo -> hi only here


def test_the_cut_keeps_the_best_and_breaks_ties_by_item_id() -> None:
    lists = _lists(top_k=2)
    assert lists["a", "train"][0] == ["b", "c"]
    assert lists["a", "serving"][0] == ["d", "b"]  # b and c tie; b sorts first


def test_top_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="covis_top_k"):
        _lists(top_k=0)
