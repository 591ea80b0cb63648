"""An event-only log (one day, views only, anonymous users, no item/user/served files) and
the types of the exported Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.pipeline import dbt_runner
from recsys.pipeline.dbt_runner import MARTS
from tests.dbt.landing_files import Built, data_dir_env

EXPORTS = (
    "fct_events",
    "fct_sessions",
    "dim_items",
    "data_windows",
    "user_features",
    "item_features",
    "item_popularity",
    "item_neighbors",
    "item_embeddings",
    "item_rules",
    "session_items",
    "session_state",
)
LIST_COLUMNS = {
    "user_features": {
        "top_categories": pa.list_(pa.string()),
        "top_category_shares": pa.list_(pa.float64()),
        "recent_item_ids": pa.list_(pa.string()),
    },
    "item_neighbors": {
        "covis_item_ids": pa.list_(pa.string()),
        "covis_scores": pa.list_(pa.float64()),
        "seq_item_ids": pa.list_(pa.string()),
        "seq_scores": pa.list_(pa.float64()),
    },
    "item_embeddings": {
        "embed_item_ids": pa.list_(pa.string()),
        "embed_scores": pa.list_(pa.float64()),
    },
    "item_rules": {
        "rule_item_ids": pa.list_(pa.string()),
        "rule_scores": pa.list_(pa.float64()),
    },
    "session_state": {
        "item_ids": pa.list_(pa.string()),
        "event_types": pa.list_(pa.string()),
        "event_times_ms": pa.list_(pa.int64()),
    },
}


def test_the_log_builds_and_reconciles(event_only_warehouse: Built) -> None:
    landing = event_only_warehouse.data_dir / "landing"
    assert not (landing / "items.parquet").exists()
    assert not (landing / "users.parquet").exists()
    assert not (landing / "served").exists()
    files = event_only_warehouse.summary.files
    assert [(f.source_file, f.raw_rows, f.clean_rows) for f in files] == [
        ("clicks.tsv", 2_000, 2_000)
    ]
    assert set(event_only_warehouse.summary.mart_rows) == set(MARTS)


def test_absent_columns_come_out_null_not_as_errors(event_only_warehouse: Built) -> None:
    assert event_only_warehouse.rows(
        "select count(*), count(category), count(price), count(distinct event_type) from fct_events"
    ) == [(2_000, 0, 0, 1)]
    assert event_only_warehouse.rows(
        "select bool_or(has_metadata), count(category), count(title) from dim_items"
    ) == [(False, 0, 0)]
    assert event_only_warehouse.rows(
        "select max(len(top_categories)), count(avg_price_30d), max(conversion_rate_30d) "
        "from user_features"
    ) == [(0, 0, 0.0)]
    assert event_only_warehouse.rows(
        "select count(*) from dim_users where attributes is not null"
    ) == [(0,)]


def test_anonymous_users_are_their_sessions(event_only_warehouse: Built) -> None:
    assert event_only_warehouse.rows(
        "select count(*) from fct_sessions where session_id <> user_id"
    ) == [(0,)]
    assert event_only_warehouse.rows("select max(sessions_total) from user_features") == [(1,)]


def test_windows_and_snapshot_marts_fit_in_one_day(event_only_warehouse: Built) -> None:
    windows = event_only_warehouse.rows(
        "select min(starts_at)::date, max(ends_at)::date, count(*) from data_windows"
    )
    assert windows[0][2] == 4 and windows[0][0].isoformat() == "2024-07-01"
    counts = dict(
        event_only_warehouse.rows("select snapshot_name, count(*) from item_neighbors group by all")
    )
    assert set(counts) == {"train", "valid", "test", "serving"}
    embedded = dict(
        event_only_warehouse.rows(
            "select snapshot_name, count(*) from item_embeddings group by all"
        )
    )
    assert set(embedded) == {"train", "valid", "test", "serving"}
    ruled = dict(
        event_only_warehouse.rows("select snapshot_name, count(*) from item_rules group by all")
    )
    assert set(ruled) == {"train", "valid", "test", "serving"}
    assert event_only_warehouse.rows("select count(*) from item_popularity") != [(0,)]


@pytest.mark.parametrize("name", EXPORTS)
def test_exports_are_parquet_with_utc_microsecond_timestamps(
    event_only_warehouse: Built, name: str
) -> None:
    path = event_only_warehouse.data_dir / "exports" / f"{name}.parquet"
    schema = pq.read_schema(path)
    timestamps = [f for f in schema if pa.types.is_timestamp(f.type)]
    assert timestamps, f"{name} has no timestamp column"
    for field in timestamps:
        assert field.type == pa.timestamp("us", tz="UTC"), f"{name}.{field.name}: {field.type}"
    for column, expected in LIST_COLUMNS.get(name, {}).items():
        assert schema.field(column).type.equals(expected, check_metadata=False) or (
            pa.types.is_list(schema.field(column).type)
            and schema.field(column).type.value_type == expected.value_type
        ), f"{name}.{column}: {schema.field(column).type}"
    # The same rows are queryable in the warehouse by name.
    assert event_only_warehouse.rows(f"select count(*) from {name}") == [
        (pq.read_metadata(path).num_rows,)
    ]


def test_docs_describe_every_mart(event_only_warehouse: Built) -> None:
    index = event_only_warehouse.summary.docs_index
    assert index is not None and index.exists()
    catalog = json.loads((index.parent / "catalog.json").read_text())
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(MARTS) <= documented
    columns = catalog["nodes"]["model.recsys.user_features"]["columns"]
    assert "recent_item_ids" in {name.lower() for name in columns}


def test_make_docs_generates_one_offline_file_without_rebuilding(
    event_only_warehouse: Built,
) -> None:
    warehouse = Paths(event_only_warehouse.data_dir).warehouse
    before = warehouse.stat().st_mtime_ns
    with data_dir_env(event_only_warehouse.data_dir):
        index = dbt_runner.generate_docs()
    assert warehouse.stat().st_mtime_ns == before  # no dbt build ran
    html = index.read_text()
    # Manifest and catalog are inside the file, so file:// needs no fetch.
    assert index.name == "static_index.html" and "model.recsys.user_features" in html
    assert "recent_item_ids" in html.lower()


def test_docs_without_a_warehouse_say_what_to_run(data_dir: Path) -> None:
    with data_dir_env(data_dir), pytest.raises(dbt_runner.DbtBuildError, match="make features"):
        dbt_runner.generate_docs()
