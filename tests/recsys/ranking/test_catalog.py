import numpy as np

from tests.recsys.ranking.helpers import row, tiny_catalog


def test_neighbours_are_indexed_and_sorted_by_score() -> None:
    catalog = tiny_catalog()
    a = catalog.index_of("a")
    targets, scores = row(catalog.covis, a)
    assert list(catalog.item_ids[targets]) == ["b", "c"]
    assert list(scores) == [5.0, 1.0]
    seq_targets, _ = row(catalog.seq, a)
    assert list(catalog.item_ids[seq_targets]) == ["d"]


def test_popularity_lists_follow_the_decayed_score() -> None:
    catalog = tiny_catalog()
    assert list(catalog.item_ids[catalog.popular[:3]]) == ["h", "g", "f"]
    assert list(catalog.item_ids[catalog.trending]) == ["g", "h"]
    x = catalog.category_code("x")
    assert list(catalog.item_ids[catalog.category_popular[x]]) == ["d", "c", "b", "a"]


def test_items_nobody_saw_before_as_of_are_not_recommendable() -> None:
    catalog = tiny_catalog()
    assert not catalog.known[catalog.index_of("z")]
    assert catalog.category_of(catalog.index_of("z")) is None
    assert catalog.index_of("never-heard-of") == -1


def test_session_index_orders_sessions_by_recency() -> None:
    catalog = tiny_catalog(sessions=[["a", "b"], ["a", "c"], ["a", "d"]])
    sessions, _ = row(catalog.sessions.item_sessions, catalog.index_of("a"))
    # session ids grow with end time, and each item's list is most recent first
    assert list(sessions) == [2, 1, 0]
    items, _ = row(catalog.sessions.session_items, 2)
    assert set(catalog.item_ids[items]) == {"a", "d"}
    assert np.all(catalog.sessions.session_sizes == 2)
