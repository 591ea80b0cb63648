"""The spark target builds the same warehouse as DuckDB: every mart, row by row.

One small world (generated events with junk rows, an item and a user file, served JSON
lines with a malformed and an unfinished line) is built by `recsys build` on both targets;
the Spark build runs every model and test the DuckDB one runs, the point-in-time tests
included (they fail the build on any leak). Then each mart is compared on its keys and
features: exports from the Parquet files both wrote, the other marts from the DuckDB
warehouse and the Spark session's tables.

Floats: equal within 1e-9 relative (plus 1e-12 absolute). The two engines sum in different
orders, so the last bits of a decayed score or a rate may differ; any real difference (a
missing event, a wrong window) moves a value by far more.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import ValueType

from recsys.ingest.generator import GeneratorConfig, generate
from recsys.pipeline import dbt_runner, spark_build
from tests.dbt.landing_files import data_dir_env

pytestmark = pytest.mark.spark

RELATIVE_TOLERANCE: Final = 1e-9
ABSOLUTE_TOLERANCE: Final = 1e-12
# Deterministic validation ("future event_timestamp") on both builds.
BUILD_VARS: Final = {"build_time": "2026-11-02T00:00:00Z"}
# dbt's own generic tests (dbt-spark's SQL, not ours), left out of the Spark build here to save
# about a minute: the marts they check are compared with the DuckDB build's, which runs them.
# The project's generic tests (expression_is_true, unique_combination), its singular tests
# (point in time, reconciliation, windows) and unit tests all run on Spark.
DBT_BUILT_IN_TESTS: Final = (
    "test_name:not_null test_name:unique test_name:accepted_values test_name:relationships"
)
# mart -> its key columns; exported marts are read from exports/, the others from the
# warehouses. item_embeddings and item_rules are computed from the Spark tables after dbt
# (spark_build.py).
EXPORTED: Final = {
    "fct_events": ["event_id"],
    "fct_sessions": ["session_id"],
    "dim_items": ["item_id"],
    "data_windows": ["window_name"],
    "user_features": ["user_id", "feature_date"],
    "item_features": ["item_id", "feature_date"],
    "item_popularity": ["item_id", "snapshot_name"],
    "item_neighbors": ["item_id", "snapshot_name"],
    "item_embeddings": ["item_id", "snapshot_name"],
    "item_rules": ["item_id", "snapshot_name"],
    "session_items": ["session_id", "item_id"],
    "session_state": ["session_id"],
}
IN_WAREHOUSE: Final = {
    "dim_users": ["user_id"],
    "events_quarantine": ["landing_file", "landing_row"],
    "ingest_reconciliation": ["source_file"],
    "feature_snapshots": ["snapshot_name"],
    "item_covisitation": ["item_id", "snapshot_name", "kind", "neighbor_rank"],
}
SERVED_LINES: Final = [
    {"event_id": "api-1", "user_id": "api-user", "session_id": "api-s", "item_id": "i1",
     "event_type": "view", "event_timestamp": "2026-10-30T10:00:00Z",
     "received_at": "2026-10-30T10:00:01Z"},
    "not json at all",
    {"event_id": "api-2", "user_id": "api-user", "session_id": "api-s", "item_id": "i2",
     "event_type": "purchase", "event_timestamp": "2026-10-30T10:01:00.25Z"},
    {"event_id": "api-3", "user_id": "bad\u0007id", "session_id": "api-s", "item_id": "i2",
     "event_type": "view", "event_timestamp": "2026-10-30T10:02:00Z"},
    {"event_id": "api-4", "user_id": "api-user", "item_id": "i3", "event_type": "view",
     "event_timestamp": "2026-12-30T10:02:00Z"},
]  # fmt: skip


@dataclass(frozen=True)
class Pair:
    duck: Path
    spark: Path
    spark_tables: dict[str, pa.Table]
    duck_summary: dbt_runner.BuildSummary
    spark_summary: dbt_runner.BuildSummary


def _write_landing(data_dir: Path) -> None:
    # A week: user_features' recent items recurse once per active day on Spark.
    config = GeneratorConfig(
        events=600, seed=5, days=7, end=datetime(2026, 11, 1, tzinfo=UTC), dirty_fraction=0.08
    )
    from recsys.config import paths

    with data_dir_env(data_dir):
        generate(config, layout=paths())
    served = data_dir / "landing" / "served"
    served.mkdir(parents=True)
    lines = [line if isinstance(line, str) else json.dumps(line) for line in SERVED_LINES]
    # The last line has no newline: a file the server is still writing.
    (served / "api.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("spark")
    duck, spark = root / "duck", root / "spark"
    _write_landing(duck)
    shutil.copytree(duck / "landing", spark / "landing")
    with data_dir_env(duck):
        duck_summary = dbt_runner.build(quiet=True, vars=BUILD_VARS)
    with data_dir_env(spark), pytest.MonkeyPatch.context() as patch:
        # A few hundred rows per model: one task per shuffle, not four.
        patch.setenv("RECSYS_SPARK_SHUFFLE_PARTITIONS", "1")
        try:
            spark_summary = dbt_runner.build(
                quiet=True, vars=BUILD_VARS, target="spark", exclude=DBT_BUILT_IN_TESTS
            )
            tables = {name: spark_build.table(name) for name in IN_WAREHOUSE}
            # The session stays up for Feast's Spark offline store below (it reuses it).
            yield Pair(duck, spark, tables, duck_summary, spark_summary)
        finally:
            spark_build.stop()


def _rows(table: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    return sorted(rows, key=lambda row: tuple("" if row[k] is None else str(row[k]) for k in keys))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) or isinstance(right, float):
        if left is None or right is None:
            return left is right
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return bool(left == right)


def _ranked(row: dict[str, Any], ids: str) -> list[tuple[float, str]]:
    """A ranked list as (score to 9 significant digits, id), ordered the same on both sides.

    Two neighbours whose scores differ only in the last bits (the engines sum in different
    orders) may come out in either order; any other order difference still fails.
    """
    scores = row[ids.replace("_item_ids", "_scores")]
    return sorted(
        (-float(f"{score:.9g}"), item) for score, item in zip(scores, row[ids], strict=True)
    )


def _same_lists(left: dict[str, Any], right: dict[str, Any], ids: str) -> bool:
    return _same(
        left[ids.replace("_item_ids", "_scores")], right[ids.replace("_item_ids", "_scores")]
    ) and (_ranked(left, ids) == _ranked(right, ids))


def _assert_same_rows(name: str, duck: pa.Table, spark: pa.Table, keys: list[str]) -> None:
    assert duck.column_names == spark.column_names, name
    assert duck.num_rows == spark.num_rows, f"{name}: {duck.num_rows} vs {spark.num_rows} rows"
    # Ranked neighbour lists with their scores: compared as lists of ties (_ranked).
    ranked = [
        c
        for c in duck.column_names
        if c.endswith("_item_ids") and c.replace("_item_ids", "_scores") in duck.column_names
    ]
    for left, right in zip(_rows(duck, keys), _rows(spark, keys), strict=True):
        if all(_same_lists(left, right, ids) for ids in ranked):
            left = {k: v for k, v in left.items() if k not in ranked}
            right = {k: v for k, v in right.items() if k not in ranked}
        differing = [c for c in left if not _same(left[c], right[c])]
        assert not differing, f"{name} {[left[k] for k in keys]}: " + ", ".join(
            f"{c}: duckdb {left[c]!r} spark {right[c]!r}" for c in differing
        )


def test_the_world_exercises_what_differs_between_the_engines(pair: Pair) -> None:
    """Junk rows, served lines and neighbours exist, so the comparisons below mean something."""
    reasons = {reason for reason, _, _ in pair.duck_summary.quarantine_reasons}
    assert {"duplicate event_id", "unparseable event_timestamp"} <= reasons
    for mart in (
        "events_quarantine",
        "item_neighbors",
        "item_embeddings",
        "item_rules",
        "user_features",
    ):
        assert pair.duck_summary.mart_rows[mart] > 0, mart


def test_spark_build_reconciles_like_duckdb(pair: Pair) -> None:
    assert pair.spark_summary.files == pair.duck_summary.files
    assert pair.spark_summary.quarantine_reasons == pair.duck_summary.quarantine_reasons
    assert pair.spark_summary.mart_rows == pair.duck_summary.mart_rows
    assert pair.spark_summary.mode == "full"
    # The project's own tests ran on Spark (DuckDB-only: the monitoring models and their
    # tests, the Python models, a unit test with DuckDB list literals).
    spark_nodes = {n.name for n in pair.spark_summary.nodes}
    assert {
        "assert_user_features_point_in_time",
        "assert_item_features_point_in_time",
        "assert_item_popularity_point_in_time",
        "assert_item_neighbors_point_in_time",
        "assert_data_windows_partition_time",
        "assert_ingest_reconciles",
        "item_neighbors",
        "sessions_split_only_on_gaps_longer_than_the_var",
    } <= spark_nodes
    assert any(name.startswith("expression_is_true_") for name in spark_nodes)
    assert all(n.status in {"success", "pass"} for n in pair.spark_summary.nodes)


@pytest.mark.parametrize("mart", sorted(EXPORTED))
def test_exported_mart_is_the_same_on_spark(pair: Pair, mart: str) -> None:
    duck = pq.read_table(pair.duck / "exports" / f"{mart}.parquet")
    spark = pq.read_table(pair.spark / "exports" / f"{mart}.parquet")
    # Readers see the same column types (Feast's file sources, training, the server).
    assert [f.type for f in spark.schema] == [f.type for f in duck.schema], mart
    _assert_same_rows(mart, duck, spark, EXPORTED[mart])


@pytest.mark.parametrize("mart", sorted(IN_WAREHOUSE))
def test_warehouse_mart_is_the_same_on_spark(pair: Pair, mart: str) -> None:
    with duckdb.connect(str(pair.duck / "warehouse.duckdb"), read_only=True) as con:
        duck = con.sql(f"select * from {mart}").to_arrow_table()
    _assert_same_rows(mart, duck, pair.spark_tables[mart], IN_WAREHOUSE[mart])


def test_spark_exports_carry_their_build_id(pair: Pair) -> None:
    from recsys import export_sets

    folder = export_sets.resolve(pair.spark / "exports")  # raises on a mixed set
    manifest = json.loads((folder / export_sets.MANIFEST).read_text())
    for mart in EXPORTED:
        assert export_sets.file_build(folder / f"{mart}.parquet") == manifest["build_id"]


def test_feast_spark_offline_store_reads_the_spark_built_marts(pair: Pair, tmp_path: Path) -> None:
    """get_historical_features on Spark (SparkSource over the export) = on DuckDB (FileSource)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.repo_config import RepoConfig
    from feast.types import Float64, Int64, String

    export = pair.spark / "exports" / "user_features.parquet"
    rows = pq.read_table(export, columns=["user_id", "event_timestamp"]).to_pandas()
    # An hour after each sampled row: the point-in-time join must pick that row, not a later one.
    entity_df = rows.sample(40, random_state=1).reset_index(drop=True)
    entity_df["event_timestamp"] += pd.Timedelta(hours=1)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    features = ["user_features:views_7d", "user_features:conversion_rate_30d"]
    found = {}
    for kind in ("duckdb", "spark"):
        offline: dict[str, Any] = {"type": kind}
        source: Any = FileSource(name="uf", path=str(export), timestamp_field="event_timestamp")
        if kind == "spark":
            offline["spark_conf"] = {"spark.sql.session.timeZone": "UTC"}
            source = SparkSource(
                name="uf",
                path=str(export),
                file_format="parquet",
                timestamp_field="event_timestamp",
            )
        store = FeatureStore(
            config=RepoConfig(
                project="spark_check",
                provider="local",
                repo_path=tmp_path,
                registry=str(tmp_path / f"{kind}-registry.db"),
                online_store={"type": "sqlite", "path": str(tmp_path / f"{kind}-online.db")},
                offline_store=offline,
                entity_key_serialization_version=3,
            )
        )
        view = FeatureView(
            name="user_features",
            entities=[user],
            ttl=timedelta(days=180),
            schema=[
                Field(name="user_id", dtype=String),
                Field(name="views_7d", dtype=Int64),
                Field(name="conversion_rate_30d", dtype=Float64),
            ],
            source=source,
        )
        store.apply([user, view])
        frame = store.get_historical_features(entity_df=entity_df, features=features).to_df()
        # Spark returns the times without a zone (UTC): compare on naive UTC times.
        times = pd.to_datetime(frame["event_timestamp"], utc=True)
        frame["event_timestamp"] = times.dt.tz_localize(None).astype("datetime64[ns]")
        found[kind] = frame.sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    columns = ["user_id", "event_timestamp", "views_7d", "conversion_rate_30d"]
    assert found["duckdb"]["views_7d"].notna().all()
    pd.testing.assert_frame_equal(found["duckdb"][columns], found["spark"][columns])
