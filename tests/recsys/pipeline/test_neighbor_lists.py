"""item_neighbors' kernels on hand-made pair rows: sums per bucket, snapshots, the top-k cut
and its ties."""

import duckdb
import numpy as np
import pytest

from recsys.pipeline.neighbor_lists import _pair_order, neighbor_lists

DAY1 = "timestamptz '2026-01-01 00:00:00+00'"
DAY2 = "timestamptz '2026-01-02 00:00:00+00'"
DAY3 = "timestamptz '2026-01-03 00:00:00+00'"
CARRY = 0.5 ** (1 / 30)  # one day at a 30-day half-life


def _pair(lo: int, hi: int, first: str, bucket: int, covis: float, seq: float | None = None) -> str:
    """One int_item_pairs_decayed row: covis both ways, seq lo -> hi only."""
    followed = first if seq is not None else "null::timestamptz"
    return (
        f"select {lo}::integer as lo_item_key, {hi}::integer as hi_item_key,"
        f" {bucket} as bucket, {first} as first_paired_at, {followed} as lo_hi_first_followed_at,"
        " null::timestamptz as hi_lo_first_followed_at,"
        f" {covis}::double as lo_hi_covis, {covis}::double as hi_lo_covis,"
        f" {seq if seq is not None else 'null'}::double as lo_hi_seq,"
        " null::double as hi_lo_seq"
    )


def _lists(top_k: int) -> dict[tuple[str, str], tuple[list[str], list[float], list[str]]]:
    con = duckdb.connect()
    pairs = " union all ".join(
        [
            # a -> b on two days of the first bucket: the rows add up
            _pair(1, 2, "timestamptz '2026-01-01 06:00:00+00'", 0, 0.25, 0.7),
            _pair(1, 2, DAY1, 0, 0.75),
            _pair(1, 3, DAY1, 0, 1.0),
            # First seen after the train snapshot: only serving may list it.
            _pair(1, 4, "timestamptz '2026-01-02 12:00:00+00'", 1, 2.0),
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


def test_rows_of_a_pair_sum_per_bucket_and_keep_the_earliest_times() -> None:
    lists = _lists(top_k=50)
    # b's two rows: 0.25 + 0.75 covis; its seq (0.7) counts from its earliest follow (DAY1)
    assert lists["b", "train"] == (["a"], [1.0], [])
    assert lists["a", "train"][2] == ["b"]


def test_keys_outside_the_items_are_refused() -> None:
    con = duckdb.connect()
    with pytest.raises(ValueError, match="lo_item_key < hi_item_key"):
        neighbor_lists(
            con,
            pairs=con.sql(_pair(2, 1, DAY1, 0, 1.0)),
            items=con.sql("select * from (values ('a', 1), ('b', 2)) as t(item_id, item_key)"),
            snapshots=con.sql(
                f"select * from (values ('serving', {DAY3}, 0))"
                " as t(snapshot_name, snapshot_at, snapshot_index)"
            ),
            top_k=2,
            half_life_days=30,
        )


def test_top_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="covis_top_k"):
        _lists(top_k=0)


def test_pair_order_groups_a_pair_s_rows_in_read_order() -> None:
    rng = np.random.default_rng(7)
    lo = rng.integers(1, 6, 2000).astype(np.int32)
    hi = (lo + rng.integers(1, 4, 2000)).astype(np.int32)
    order = _pair_order(lo, hi, 10)
    # the same as a stable sort by (lo, hi): a pair's rows keep their read order
    expected = np.argsort(lo.astype(np.int64) * 10 + hi, kind="stable")
    assert np.array_equal(order, expected)
