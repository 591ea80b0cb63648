"""No leakage: a query's candidates and features cannot depend on anything after it.

The check is the definition itself. Build the warehouse twice: once from all events (the
world) and once from the same events cut at a time T inside the test window, with the same
window boundaries. Every test-window query asked before T must get exactly the same
candidates and the same feature values from both builds; any difference means some feature
(a dbt mart, a Feast join, candidate generation) looked past the query time. Then inject a
leak (fetch the features as of the end of the query's day) and show the check catches it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recsys.contract import FEATURE_SERVICE
from recsys.pipeline import dbt_runner, feast_ops
from recsys.pipeline.feast_ops import feature_store
from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.inputs import ranker_inputs
from recsys.ranking.loading import load_catalog
from tests.world import World, environment
from training.dataset import (
    ExampleSet,
    FeatureFetcher,
    Queries,
    build_examples,
    load_session_log,
    load_windows,
    select_queries,
)
from training.features import historical_fetcher


def _truncated_build(world: World, data_dir: Path, cut: datetime, redis_url: str) -> None:
    """Copy the world's landing files with events before `cut` only, build with its windows."""
    landing = data_dir / "landing"
    (landing / "events").mkdir(parents=True)
    for source in (world.data_dir / "landing" / "events").glob("*.parquet"):
        table = pq.read_table(source)
        keep = pc.fill_null(pc.less(table.column("event_timestamp"), cut), False)
        pq.write_table(table.filter(keep), landing / "events" / source.name)
    for name in ("items.parquet", "users.parquet"):
        if (world.data_dir / "landing" / name).exists():
            (landing / name).write_bytes((world.data_dir / "landing" / name).read_bytes())
    windows = load_windows(world.exports)
    pinned = {name: windows[name].starts_at.isoformat() for name in ("train", "valid", "test")}
    with environment({"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}):
        dbt_runner.build(vars={"window_starts": pinned}, quiet=True)
        feast_ops.apply()


def _examples(exports: Path, cut: datetime, leak: bool) -> ExampleSet:
    """Test-window examples of the queries asked before `cut`, built from `exports`."""
    store = feature_store(connect_redis=False)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    fetch: FeatureFetcher = historical_fetcher(store, inputs)
    if leak:
        honest = fetch

        def fetch(entity: str, keys: np.ndarray, day_start_s: np.ndarray):
            # the values as of the end of the query's day, labelled as if known at its start
            table = honest(entity, keys, day_start_s + 86_400)
            when = pc.subtract(
                table.column("event_timestamp"), pa.scalar(timedelta(days=1), pa.duration("us"))
            )
            index = table.column_names.index("event_timestamp")
            return table.set_column(index, "event_timestamp", when)

    window = load_windows(exports)["test"]
    catalog = load_catalog(
        exports, snapshot="test", item_feature_names=list(inputs.layout.item_features)
    )
    log = load_session_log(exports, window, catalog)
    queries = select_queries(
        log,
        window,
        max_queries=10**9,
        max_positions_per_session=None,
        include_session_start=True,
        seed=1,
    )
    before = queries.time_s < cut.timestamp()
    queries = Queries(
        *(
            getattr(queries, f)[before]
            for f in ("session", "prefix_len", "time_s", "target", "grade")
        )
    )
    return build_examples(
        window,
        catalog=catalog,
        log=log,
        queries=queries,
        layout=inputs.layout,
        fetch=fetch,
        config=CandidateConfig(),
        drop_missing_targets=False,
    )


def _by_query(
    examples: ExampleSet, catalog_ids: np.ndarray
) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    offsets = examples.offsets
    for q, row in enumerate(examples.queries.itertuples()):
        lo, hi = offsets[q], offsets[q + 1]
        out[(str(row.session_id), int(row.prefix_len))] = (  # type: ignore[arg-type]
            catalog_ids[examples.candidates[lo:hi]],
            examples.X[lo:hi],
        )
    return out


def assert_same_features(
    full: ExampleSet, cut: ExampleSet, full_ids: np.ndarray, cut_ids: np.ndarray
) -> int:
    """Every query of the cut build has identical candidates and features in the full build."""
    a, b = _by_query(full, full_ids), _by_query(cut, cut_ids)
    common = set(a) & set(b)
    assert len(common) >= 0.9 * len(b) > 0, (len(common), len(b))
    differences: list[tuple[tuple[str, int], object]] = []
    for key in sorted(common):
        (items_a, X_a), (items_b, X_b) = a[key], b[key]
        if not np.array_equal(items_a, items_b):
            differences.append((key, "candidates"))
        elif not np.array_equal(X_a, X_b, equal_nan=True):
            columns = np.flatnonzero(~np.all((X_a == X_b) | (np.isnan(X_a) & np.isnan(X_b)), 0))
            differences.append((key, [full.feature_names[c] for c in columns]))
    assert not differences, f"{len(differences)} queries differ, e.g. {differences[:3]}"
    return len(common)


@pytest.fixture(scope="module")
def cut_world(world: World, tmp_path_factory: pytest.TempPathFactory):
    windows = load_windows(world.exports)
    test = windows["test"]
    cut = test.starts_at + (test.ends_at - test.starts_at) / 2
    cut = cut.replace(hour=15, minute=0, second=0, microsecond=0)  # mid-day: events follow it
    assert test.starts_at + timedelta(hours=1) < cut < test.ends_at
    data_dir = tmp_path_factory.mktemp("cut") / "data"
    _truncated_build(world, data_dir, cut, world.redis_url.rsplit("/", 1)[0] + "/2")
    return data_dir, cut


def _catalog_ids(exports: Path) -> np.ndarray:
    with environment({"RECSYS_DATA_DIR": str(exports.parent)}):
        inputs = ranker_inputs(feature_store(connect_redis=False), FEATURE_SERVICE)
    return load_catalog(
        exports, snapshot="test", item_feature_names=list(inputs.layout.item_features)
    ).item_ids


def test_queries_before_the_cut_see_the_same_features_with_or_without_later_events(
    world: World,
    cut_world,
) -> None:
    data_dir, cut = cut_world
    with environment(world.env):
        full = _examples(world.exports, cut, leak=False)
    with environment({**world.env, "RECSYS_DATA_DIR": str(data_dir)}):
        truncated = _examples(data_dir / "exports", cut, leak=False)
    compared = assert_same_features(
        full, truncated, _catalog_ids(world.exports), _catalog_ids(data_dir / "exports")
    )
    assert compared > 100


def test_an_injected_future_feature_is_caught(world: World, cut_world) -> None:
    data_dir, cut = cut_world
    with environment(world.env):
        full = _examples(world.exports, cut, leak=True)
    with environment({**world.env, "RECSYS_DATA_DIR": str(data_dir)}):
        truncated = _examples(data_dir / "exports", cut, leak=True)
    with pytest.raises(AssertionError, match="queries differ"):
        assert_same_features(
            full, truncated, _catalog_ids(world.exports), _catalog_ids(data_dir / "exports")
        )
