"""The Dagster graph end to end, in-process (dagster.materialize), on a copy of the world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetKey, Definitions, materialize

from recsys import registry
from recsys.pipeline import nightly
from tests.serving.copies import night_copy
from tests.world import TINY_TRAIN, World, environment


def _copy(world: World, tmp_path: Path, database: int) -> dict[str, str]:
    return {
        **night_copy(world, tmp_path / "data", database),
        "RECSYS_NIGHTLY_MAX_TRAIN_QUERIES": str(TINY_TRAIN.max_train_queries),
        "RECSYS_NIGHTLY_MAX_VALID_QUERIES": str(TINY_TRAIN.max_valid_queries),
        "RECSYS_NIGHTLY_MAX_TEST_QUERIES": str(TINY_TRAIN.max_test_queries),
    }


def _everything(defs: Definitions) -> list[Any]:
    """Every asset and check of the definitions, as `materialize` takes them."""
    return [*(defs.assets or []), *(defs.asset_checks or [])]


def test_the_graph_materializes_end_to_end(world: World, tmp_path: Path) -> None:
    from orchestration.definitions import build_definitions, dbt_resource

    env = _copy(world, tmp_path, 14)
    data_dir = Path(env["RECSYS_DATA_DIR"])
    with environment(env):
        defs = build_definitions()
        result = materialize(_everything(defs), resources={"dbt": dbt_resource()})
    assert result.success
    done = {e.asset_key for e in result.get_asset_materialization_events()}
    for key in (
        "online_features",
        "ranker_model",
        "batch_recommendations",
        "night_record",
        "user_features",
    ):
        assert AssetKey(key) in done, sorted(str(k) for k in done)
    assert AssetKey(["landing", "events"]) in done
    checks = result.get_asset_check_evaluations()
    # every dbt test is an asset check too; the gate is the one on the model
    assert all(c.passed for c in checks) and len(checks) > 100
    gate = [c for c in checks if c.check_name == "promotion_gate"]
    assert len(gate) == 1 and gate[0].asset_key == AssetKey("ranker_model")
    version = registry.current_version(data_dir / "models")
    assert version != world.model_version
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        versions = con.execute("select distinct model_version from batch_recommendations")
        assert versions.fetchall() == [(version,)]
    # the night is recorded where /ready and the monitoring report look
    status = nightly.status(data_dir, max_age_hours=36)
    assert status["recorded"] and not status["stalled"] and status["last_run"]["outcome"] == "ok"


def test_a_failing_step_stops_everything_downstream(world: World, tmp_path: Path) -> None:
    from orchestration.definitions import build_definitions, dbt_resource

    env = _copy(world, tmp_path, 15)
    data_dir = Path(env["RECSYS_DATA_DIR"])
    (data_dir / "landing" / "events" / "zz-broken.parquet").write_bytes(b"not parquet at all")
    before = registry.current_version(data_dir / "models")
    with environment(env):
        defs = build_definitions()
        result = materialize(
            _everything(defs), resources={"dbt": dbt_resource()}, raise_on_error=False
        )
    assert not result.success
    # the ingest step refuses the unreadable file; no dbt model, model or batch runs
    assert not result.get_asset_materialization_events()
    failed = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failed] == ["landing"]
    assert "zz-broken.parquet cannot be read" in str(failed[0].event_specific_data)
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"landing"}  # dbt, Feast, training and batch scoring never started
    assert not nightly.status(data_dir, max_age_hours=36)["recorded"]
    assert registry.current_version(data_dir / "models") == before
