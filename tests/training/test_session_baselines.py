"""SR, V-SKNN, STAN and VSTAN on hand-made histories whose answers follow from the papers."""

import numpy as np
import pandas as pd

from recsys.ranking.loading import load_catalog
from recsys.ranking.session import SessionArrays
from tests.world import World
from training.dataset import ExampleSet, load_session_log, load_windows
from training.generator_recall import generator_recall
from training.session_baselines import History, SessionBaselines, build_history

N_ITEMS = 10


def _history(sessions: list[list[int]], ended: list[float] | None = None) -> History:
    ended = ended or [float(10 * (s + 1)) for s in range(len(sessions))]
    ids = np.array([f"s{s}" for s, items in enumerate(sessions) for _ in items], object)
    items = np.array([i for items in sessions for i in items], np.int32)
    ends = np.array([ended[s] for s, items in enumerate(sessions) for _ in items])
    return build_history(ids, items, ends, N_ITEMS)


def _session(items: list[int], at: float = 100.0) -> SessionArrays:
    n = len(items)
    return SessionArrays(
        np.array(items, np.int32), np.zeros(n, np.int8), at - np.arange(n)[::-1].astype(float)
    )


def test_sr_weighs_rules_by_one_over_the_gap() -> None:
    # 1 -> 2 at gap 1 once (weight 1); 1 -> 3 at gap 2 in two sessions (1/2 + 1/2)
    # and 1 -> 4 at gap 1 once; 4 is never followed by anything
    history = _history([[1, 2, 3], [1, 5, 3], [1, 4]])
    indptr, items, weight = history.rules
    row = dict(
        zip(items[indptr[1] : indptr[2]].tolist(), weight[indptr[1] : indptr[2]], strict=True)
    )
    assert row == {2: 1.0, 3: 1.0, 5: 1.0, 4: 1.0}
    methods = SessionBaselines(history, N_ITEMS)
    # the last item alone decides; ties go to the smaller item
    assert methods.sr(None, _session([9, 1]), 20).tolist() == [2, 3, 4, 5]  # type: ignore[arg-type]
    assert methods.sr(None, _session([1, 4]), 20).tolist() == []  # type: ignore[arg-type]


def test_vsknn_prefers_neighbours_of_the_recent_items() -> None:
    # one past session shares the current session's last item (3), another its first (1)
    history = _history([[3, 7], [1, 8]])
    top = SessionBaselines(history, N_ITEMS).vsknn(None, _session([1, 2, 3]), 20)  # type: ignore[arg-type]
    assert top.tolist().index(7) < top.tolist().index(8)


def test_stan_discounts_old_neighbour_sessions() -> None:
    # the same overlap, one neighbour 30 days older than the other
    day = 86_400.0
    history = _history([[1, 8], [1, 7]], ended=[60 * day - 30 * day, 60 * day])
    methods = SessionBaselines(history, N_ITEMS)
    top = methods.stan(None, _session([1], at=60 * day + 10), 20).tolist()  # type: ignore[arg-type]
    assert top.index(7) < top.index(8)


def test_stan_weights_items_near_the_shared_one() -> None:
    # in the neighbour, 6 sits right after the shared item 1, 5 four steps later
    history = _history([[1, 6, 2, 3, 4, 5]])
    top = SessionBaselines(history, N_ITEMS).stan(None, _session([1]), 20).tolist()  # type: ignore[arg-type]
    assert top.index(6) < top.index(5)


def test_vstan_idf_lifts_rare_items_over_common_ones() -> None:
    # 8 and 9 sit equally far from the shared item; 9 is in many other sessions (low idf)
    history = _history([[1, 8, 9, 0]] + [[9, 4]] * 6 + [[1, 9, 8, 0]])
    methods = SessionBaselines(history, N_ITEMS)
    top = methods.vstan(None, _session([1]), 20).tolist()  # type: ignore[arg-type]
    assert top.index(8) < top.index(9)


def test_unknown_items_and_empty_sessions_give_empty_lists() -> None:
    methods = SessionBaselines(_history([[1, 2]]), N_ITEMS)
    empty = _session([])
    for method in (methods.sr, methods.vsknn, methods.stan, methods.vstan):
        assert len(method(None, empty, 20)) == 0  # type: ignore[arg-type]
        assert len(method(None, _session([-1]), 20)) == 0  # type: ignore[arg-type]


def test_a_short_list_is_the_head_of_the_long_one_asked_before_or_after() -> None:
    """The memo serves top 20 and top 300 from one computation, identical to fresh ones."""
    rng = np.random.default_rng(5)
    n_items = 400
    sessions = [rng.integers(0, n_items, rng.integers(2, 12)).tolist() for _ in range(300)]
    ids = np.array([f"s{s}" for s, items in enumerate(sessions) for _ in items], object)
    items = np.array([i for items in sessions for i in items], np.int32)
    ends = np.array([float(10 * (s + 1)) for s, items in enumerate(sessions) for _ in items])
    history = build_history(ids, items, ends, n_items)
    session = _session([3, 17, 42, 99], at=5_000.0)
    for name in ("vsknn", "stan", "vstan"):
        fresh_long = getattr(SessionBaselines(history, n_items), name)(None, session, 300)
        fresh_short = getattr(SessionBaselines(history, n_items), name)(None, session, 20)
        assert len(fresh_long) > 20  # the test needs lists longer than the short cut
        methods = SessionBaselines(history, n_items)
        short = getattr(methods, name)(None, session, 20)
        long = getattr(methods, name)(None, session, 300)
        again = getattr(methods, name)(None, session, 20)
        assert short.tolist() == again.tolist() == fresh_short.tolist()
        assert long.tolist() == fresh_long.tolist()
        assert long[:20].tolist() == short.tolist()
        # another moment of the same items is another neighbourhood (STAN decays by time)
        later = _session([3, 17, 42, 99], at=9_000_000.0)
        assert (
            getattr(methods, name)(None, later, 300).tolist()
            == getattr(SessionBaselines(history, n_items), name)(None, later, 300).tolist()
        )


def test_history_keeps_the_last_position_of_repeated_items() -> None:
    history = _history([[1, 2, 1, 3]])
    pos = dict(zip(history.uniq_items.tolist(), history.uniq_pos.tolist(), strict=True))
    assert pos == {1: 3.0, 2: 2.0, 3: 4.0}


def test_generator_recall_counts_what_only_the_extra_list_finds(world: World) -> None:
    """On the trained world: shares are between 0 and 1 and `pool+` never falls below the pool."""
    window = load_windows(world.exports)["test"]
    catalog = load_catalog(world.exports, snapshot="test", item_feature_names=[])
    log = load_session_log(world.exports, window, catalog)
    # one query per session at k=1, candidates = the popular list (a weak pool on purpose)
    sessions = np.flatnonzero(np.diff(log.offsets) >= 2)[:50]
    targets = log.items[log.offsets[sessions] + 1]
    pool = catalog.popular[:300]
    examples = ExampleSet(
        window,
        [],
        np.zeros((0, 0), np.float32),
        np.zeros(0, np.int8),
        np.full(len(sessions), len(pool), np.int32),
        np.tile(pool, len(sessions)),
        pd.DataFrame({"session": sessions, "prefix_len": 1, "target": targets}),
    )
    repeat_first = {"repeat": lambda catalog, session, k: session.items[-1:]}
    table = generator_recall(examples, log, catalog, extra=repeat_first).set_index("generator")
    shares = table[["recall@300", "only"]].to_numpy()
    assert np.all((shares[~np.isnan(shares)] >= 0) & (shares[~np.isnan(shares)] <= 1))
    extra = table.loc["repeat (not a generator)"]
    assert extra["pool+"] >= table.loc["fused pool", "recall@300"]
    # the session items generator holds the current item, so repeating it is never alone
    assert extra["only"] == 0.0
