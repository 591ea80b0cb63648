import numpy as np

from tests.training.core.helpers import session_of, tiny_catalog
from training.core.candidates import CandidateConfig, UserContext, generate

NO_USER = UserContext.unknown(0)


def _ids(catalog, cands) -> list[str]:
    return list(catalog.item_ids[cands.items])


def test_session_items_and_their_neighbours_are_candidates() -> None:
    catalog = tiny_catalog()
    cands = generate(catalog, session_of(catalog, ["c", "a"]), NO_USER)
    ids = _ids(catalog, cands)
    for expected in ("a", "c", "b", "d"):  # repeats, co-visited b, sequential d
        assert expected in ids
    b = ids.index("b")
    assert cands.covis_last[b] == 5.0  # a -> b, and a is the last item
    assert cands.covis_last_rank[b] == 1
    assert cands.seq_last[ids.index("d")] == 2.0


def test_session_knn_votes_for_items_of_similar_past_sessions() -> None:
    catalog = tiny_catalog(sessions=[["a", "e", "f"], ["a", "e"], ["b", "g"]])
    cands = generate(catalog, session_of(catalog, ["a"]), NO_USER)
    ids = _ids(catalog, cands)
    assert cands.sknn[ids.index("e")] > cands.sknn[ids.index("f")] > 0
    assert cands.sknn[ids.index("g")] == 0  # only in a session without 'a'


def test_cold_user_with_empty_session_gets_popular_items() -> None:
    catalog = tiny_catalog()
    empty = session_of(catalog, [])
    ids = _ids(catalog, generate(catalog, empty, NO_USER))
    assert {"h", "g"} <= set(ids)
    assert "z" not in ids  # never seen before the snapshot: not recommendable


def test_user_history_is_the_context_when_the_session_is_empty() -> None:
    catalog = tiny_catalog()
    user = UserContext(
        np.zeros(0, np.float32),
        catalog.indices_of(["a"]),
        np.zeros(0, np.int32),
        np.zeros(0, np.float32),
        True,
    )
    cands = generate(catalog, session_of(catalog, []), user)
    assert cands.context.from_user_history
    assert "b" in _ids(catalog, cands)


def test_filters_and_size_cap_are_respected() -> None:
    catalog = tiny_catalog()
    session = session_of(catalog, ["a"])
    y = np.array([catalog.category_code("y")], np.int32)
    only_y = generate(catalog, session, NO_USER, categories=y)
    assert only_y.items.size and all(catalog.category_of(i) == "y" for i in only_y.items)
    excluded = generate(catalog, session, NO_USER, exclude=catalog.indices_of(["b", "a"]))
    assert not {"a", "b"} & set(_ids(catalog, excluded))
    capped = generate(catalog, session, NO_USER, config=CandidateConfig(n=3))
    assert len(capped) == 3
    assert np.all(np.diff(capped.prescore) <= 0)


def test_generation_is_deterministic() -> None:
    catalog = tiny_catalog()
    session = session_of(catalog, ["b", "a", "e"])
    first = generate(catalog, session, NO_USER)
    second = generate(catalog, session, NO_USER)
    assert np.array_equal(first.items, second.items)
    assert np.array_equal(first.prescore, second.prescore)
