import numpy as np

from recsys.ranking.candidates import CandidateConfig, UserContext, generate
from tests.recsys.ranking.helpers import session_of, tiny_catalog

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


def test_included_items_join_below_the_cut_with_their_own_scores() -> None:
    catalog = tiny_catalog()
    session = session_of(catalog, ["a"])
    full = generate(catalog, session, NO_USER)
    capped = generate(catalog, session, NO_USER, config=CandidateConfig(n=3))
    below = [i for i in full.items if i not in capped.items][-1]  # the weakest one cut off
    forced = generate(
        catalog, session, NO_USER, config=CandidateConfig(n=3), include=np.array([below])
    )
    assert len(forced) == 4 and set(capped.items) < set(forced.items)
    # its numbers are the ones the generators gave it, not a boost from being included
    at_full, at_forced = list(full.items).index(below), list(forced.items).index(below)
    assert forced.prescore[at_forced] == full.prescore[at_full]
    assert forced.covis_sum[at_forced] == full.covis_sum[at_full]


def test_included_items_no_generator_found_get_zero_scores_and_the_same_filters() -> None:
    catalog = tiny_catalog()
    only_neighbours = CandidateConfig(popular_items=0, trending_items=0, category_items=0)
    session = session_of(catalog, ["b"])
    plain = generate(catalog, session, NO_USER, config=only_neighbours)
    assert "f" not in _ids(catalog, plain)
    include = catalog.indices_of(["f", "z", "c"])  # z: unseen before the snapshot
    forced = generate(
        catalog,
        session,
        NO_USER,
        config=only_neighbours,
        include=include,
        exclude=catalog.indices_of(["c"]),
    )
    ids = _ids(catalog, forced)
    assert "f" in ids and "z" not in ids and "c" not in ids
    f = ids.index("f")
    assert forced.prescore[f] == 0 and forced.covis_sum[f] == 0 and forced.sknn[f] == 0


def test_embedding_neighbours_of_the_context_join_the_pool() -> None:
    # c's nearest in the embedding are g then f; a's is f. No past session holds a or c, and
    # the popularity lists are off, so only the embedding can bring f and g in.
    embed = {"c": [("g", 0.9), ("f", 0.4)], "a": [("f", 0.8)]}
    sessions = [["d", "h"]]
    catalog = tiny_catalog(sessions=sessions, embed=embed)
    config = CandidateConfig(popular_items=0, trending_items=0, category_items=0)
    session = session_of(catalog, ["a", "c"])  # c is the most recent
    cands = generate(catalog, session, NO_USER, config=config)
    ids = _ids(catalog, cands)
    assert "f" in ids and "g" in ids
    f, g = ids.index("f"), ids.index("g")
    # recency weights: c (last) 1, a 1/2
    assert np.isclose(cands.embed_sum[f], 0.4 + 0.8 / 2)
    assert np.isclose(cands.embed_sum[g], 0.9)
    assert cands.embed_last_rank[g] == 1 and cands.embed_last_rank[f] == 2
    assert np.isnan(cands.embed_last_rank[ids.index("c")])
    assert set(ids) == {"a", "b", "c", "d", "f", "g"}
    without = generate(tiny_catalog(sessions=sessions), session, NO_USER, config=config)
    assert set(_ids(catalog, without)) == {"a", "b", "c", "d"}
    assert np.all(without.embed_sum == 0)


def test_sequential_rules_of_the_last_item_join_the_pool() -> None:
    # c's rules lead to g then f; a's to e. SR reads the most recent item (c) only, so e
    # (reachable only from a's rules) stays out, and the popularity lists are off.
    rules = {"c": [("g", 1.5), ("f", 0.5)], "a": [("e", 3.0)]}
    sessions = [["d", "h"]]
    catalog = tiny_catalog(sessions=sessions, rules=rules)
    config = CandidateConfig(popular_items=0, trending_items=0, category_items=0)
    session = session_of(catalog, ["a", "c"])  # c is the most recent
    cands = generate(catalog, session, NO_USER, config=config)
    ids = _ids(catalog, cands)
    assert set(ids) == {"a", "b", "c", "d", "f", "g"}
    f, g = ids.index("f"), ids.index("g")
    assert cands.sr_score[g] == 1.5 and cands.sr_score[f] == 0.5
    assert cands.sr_rank[g] == 1 and cands.sr_rank[f] == 2
    assert np.isnan(cands.sr_rank[ids.index("b")]) and cands.sr_score[ids.index("b")] == 0
    assert ids.index("g") < ids.index("f")  # the heavier rule fuses higher
