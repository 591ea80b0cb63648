"""The numba kernels: exact ties, exact float32 sums, clean scratch, one compiled signature."""

from pathlib import Path

import numpy as np

from ops.warm import warm
from recsys.pipeline.neighbor_lists import _pair_order, _sum_pairs, _top_neighbours
from recsys.ranking import catalog_files, generators, vectors
from recsys.ranking.candidates import CandidateConfig, UserContext, generate
from recsys.ranking.catalog import Catalog
from recsys.ranking.session import session_features
from recsys.ranking.users import user_context
from recsys.ranking.vectors import FeatureLayout, assemble
from serving.batch import best_per_user
from tests.recsys.ranking.helpers import session_of, tiny_catalog
from training import baselines

NO_USER = UserContext.unknown(0)
KERNELS = [
    generators.generate_pool,
    generators.neighbour_scores,
    generators.sknn_scores,
    vectors._fill_cross,
    vectors._fill_batch_columns,
    best_per_user,
    _pair_order,
    _sum_pairs,
    _top_neighbours,
]


def test_warm_compiles_every_signature_the_real_calls_use(tmp_path: Path) -> None:
    # A new signature means a compile (about 30 s here) in the first request that passes,
    # say, a strided array: warm() must cover what callers pass. Two at most are expected:
    # an in-memory catalog's writable arrays and a shared (mapped, read-only) catalog's.
    warm()
    compiled = [len(kernel.signatures) for kernel in KERNELS]
    assert all(1 <= n <= 2 for n in compiled), compiled
    folder = catalog_files.write_catalog(tiny_catalog(), tmp_path / "v")
    _real_calls(tiny_catalog(), training=True)
    # only the server maps a shared catalog; training's baselines get in-memory ones
    _real_calls(catalog_files.read_catalog(folder), training=False)
    warm()
    assert [len(kernel.signatures) for kernel in KERNELS] == compiled


def _real_calls(catalog: Catalog, *, training: bool) -> None:
    layout = FeatureLayout(("views_7d", "first_seen_epoch_s"), ("events_total", "views_7d"))
    row = {
        "events_total": 4,
        "views_7d": None,
        "recent_item_ids": ["b", "a"],
        "top_categories": ["y"],
        "top_category_shares": [0.5],
    }
    user = user_context(row, catalog, layout.user_features)
    for session, person in (
        (session_of(catalog, ["a", "e", "a"], ["view", "purchase", "view"]), user),
        (session_of(catalog, []), user),
        (session_of(catalog, ["z"]), NO_USER),
    ):
        for extra in ({}, {"include": [6, 7], "exclude": np.array([1]), "categories": [0]}):
            cands = generate(catalog, session, person, **extra)  # type: ignore[arg-type]
            X = assemble(
                layout,
                catalog,
                cands,
                item_rows=np.asfortranarray(catalog.item_features[cands.items]),
                user=person,
                session=session,
                session_row=session_features(session),
                now_s=catalog.as_of.timestamp(),
            )
            best_per_user(X[:, 0].astype(np.float64), cands.items, np.array([0, len(X)]), 3)
        for baseline in baselines.BASELINES.values() if training else ():
            baseline(catalog, session, 5)


def test_kernels_leave_the_slot_map_at_rest() -> None:
    catalog = tiny_catalog()
    session = session_of(catalog, ["a", "b"])
    generate(catalog, session, NO_USER, include=catalog.indices_of(["f", "z"]))
    generate(catalog, session, NO_USER, exclude=catalog.indices_of(["b"]), categories=[1])  # type: ignore[arg-type]
    baselines.sknn(catalog, session, 3)
    baselines.covisitation(catalog, session, 3)
    assert np.all(catalog.item_slot == -1)


def test_a_dirty_slot_map_changes_nothing() -> None:
    # A kernel that never returned (an allocation failure) would leave the map dirty: slots
    # are trusted only where the pool agrees, so answers stay right and writes stay in bounds.
    catalog = tiny_catalog()
    session = session_of(catalog, ["a", "e"])
    include = catalog.indices_of(["f", "z"])
    clean = generate(catalog, session, NO_USER, include=include)
    catalog.item_slot[:] = np.arange(catalog.size)[::-1]
    dirty = generate(catalog, session, NO_USER, include=include)
    for field in ("items", "prescore", "covis_sum", "covis_last_rank", "seq_last", "sknn"):
        assert np.array_equal(getattr(clean, field), getattr(dirty, field), equal_nan=True)


def test_session_knn_prefers_the_newer_of_equally_similar_sessions() -> None:
    # Both past sessions share 'a' with the context and have two items: equally similar.
    catalog = tiny_catalog(sessions=[["a", "e"], ["a", "f"]])  # the second ended later
    one = CandidateConfig(sknn_neighbors=1)
    cands = generate(catalog, session_of(catalog, ["a"]), NO_USER, config=one)
    sknn = dict(zip(catalog.item_ids[cands.items], cands.sknn, strict=True))
    assert sknn["f"] > 0 and sknn["e"] == 0


def test_session_knn_samples_the_newest_sessions() -> None:
    catalog = tiny_catalog(sessions=[["a", "e"], ["a", "b", "f", "g"], ["a", "h"]])
    newest = CandidateConfig(sknn_sample=1)
    cands = generate(catalog, session_of(catalog, ["a"]), NO_USER, config=newest)
    voted = set(catalog.item_ids[cands.items[cands.sknn > 0]])
    assert voted == {"a", "h"}


def test_the_cut_breaks_prescore_ties_by_item_index() -> None:
    catalog = tiny_catalog()
    # b is a's first co-visited neighbour and d its first sequential one: equal fused scores
    only_neighbours = CandidateConfig(popular_items=0, trending_items=0, category_items=0)
    session = session_of(catalog, ["a"])
    full = generate(catalog, session, NO_USER, config=only_neighbours)
    ids = list(catalog.item_ids[full.items])
    b, d = ids.index("b"), ids.index("d")
    assert full.prescore[b] == full.prescore[d] and b + 1 == d
    cut = CandidateConfig(n=d, popular_items=0, trending_items=0, category_items=0)
    assert (
        list(catalog.item_ids[generate(catalog, session, NO_USER, config=cut).items]) == (ids[:d])
    )


def test_pairwise_sum_equals_numpys_float32_sum_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), 1000, 4097]:
        values = (rng.random(n) * rng.choice([1.0, 1e3, 1e6])).astype(np.float32)
        assert vectors._pairwise_sum(values, n) == np.add.reduce(values, dtype=np.float32)


def test_best_per_user_orders_by_score_then_item_and_pads() -> None:
    scores = np.array([1.0, 3.0, 3.0, 2.0, 5.0])
    items = np.array([9, 7, 4, 1, 3], np.int32)
    top_items, top_scores = best_per_user(scores, items, np.array([0, 4, 5, 5]), 3)
    assert top_items.tolist() == [[4, 7, 1], [3, -1, -1], [-1, -1, -1]]
    assert top_scores[0].tolist() == [3.0, 3.0, 2.0] and np.isnan(top_scores[1, 1:]).all()
