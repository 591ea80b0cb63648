"""The nightly chain as Dagster assets: landing files -> every dbt model -> Feast -> model -> batch.

    landing/* (ingest)  ->  dbt models (one asset each, dagster-dbt)  ->  online_features
        ->  ranker_model  [promotion_gate: blocking check]  ->  batch_recommendations

The Python assets call the same step functions as `recsys nightly` (ops/nightly.py); the
promotion gate is a blocking asset check, so a refused model stops batch scoring. Feast and
batch scoring retry (Redis may blink); training and dbt do not (a failure there is not
transient). `dagster job execute -m orchestration.load -j nightly` runs it (orchestration/load.py).
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Backoff,
    Definitions,
    MaterializeResult,
    RetryPolicy,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
    multi_asset,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from ops import nightly as night
from recsys import export_sets
from recsys.config import dbt_project_dir, environment, export_data_dir_env, paths
from recsys.pipeline import build_state, dbt_runner, nightly

LANDING_TABLES = ("events", "served_events", "impressions", "items", "users")
RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL)
GROUP = "recsys"


def manifest_path() -> Path:
    """dbt's manifest for this data dir, parsed now when missing (a few seconds)."""
    export_data_dir_env()
    manifest = paths().data_dir / "dbt" / "target" / "manifest.json"
    if not manifest.exists():
        dbt_runner.parse()
    return manifest


def dbt_resource() -> DbtCliResource:
    """dbt as a subprocess of the venv's own executable, on the project's profile."""
    project = dbt_project_dir()
    return DbtCliResource(
        project_dir=str(project),
        profiles_dir=str(project),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


def build_definitions(manifest: Path | None = None) -> Definitions:
    """Every asset, the gate and the `nightly` job, for the current RECSYS_DATA_DIR."""
    manifest = manifest or manifest_path()

    @multi_asset(
        specs=[AssetSpec(AssetKey(["landing", t]), group_name=GROUP) for t in LANDING_TABLES],
        can_subset=False,
    )
    def landing(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        """Take stock of the landing files (which are new since the last successful night)."""
        output = night.ingest_step(paths().data_dir, night.NightState())
        context.log.info(f"ingest: {output.detail}, {output.rows} rows in new files")
        for table in LANDING_TABLES:
            yield MaterializeResult(
                asset_key=AssetKey(["landing", table]),
                metadata={"new_rows": output.rows or 0, "detail": output.detail},
            )

    @dbt_assets(manifest=manifest, dagster_dbt_translator=Translator())
    def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """`dbt build` of the selected models; exports published only when all passed."""
        layout = paths()
        # Incremental when the last build recorded the same definitions (dbt/README.md).
        plan, run_vars, run_env = dbt_runner.plan_vars("auto")
        context.log.info(f"dbt build: {plan.mode} ({plan.reason})")
        build_state.forget(layout)  # a failed build leaves stored rows the next must not trust
        build = export_sets.start(layout)  # as dbt_runner.build: a failed build publishes nothing
        with environment({**build.env, **run_env}):  # dbt's subprocess inherits them
            args = ["build", "--vars", json.dumps(run_vars)]
            invocation = dbt.cli(
                args, context=context, target_path=layout.data_dir / "dbt" / "target-dagster"
            )
            yield from invocation.stream()
        export_sets.publish(layout, build)
        dbt_runner.record_build(plan)

    @asset(deps=list(dbt_models.keys), group_name=GROUP, retry_policy=RETRY)
    def online_features(context: AssetExecutionContext) -> MaterializeResult:
        """feast apply + incremental materialization into Redis."""
        output = night.feast_step()
        return MaterializeResult(metadata={"rows": output.rows or 0, "detail": output.detail})

    @asset(deps=[online_features], group_name=GROUP)
    def ranker_model(context: AssetExecutionContext) -> MaterializeResult:
        """Train, evaluate and register a model (promoted when it passes the metric gate)."""
        state = night.NightState()
        output = night.train_step(_train_options(), state)
        return MaterializeResult(
            metadata={"version": state.outcome.version, "train_rows": output.rows or 0}
        )

    @asset_check(asset=ranker_model, blocking=True)
    def promotion_gate() -> AssetCheckResult:
        """The newest model must be promoted and pass its sealed check, else no batch scoring."""
        from recsys import registry

        versions = registry.versions(paths().models)
        if not versions:
            return AssetCheckResult(passed=False, description="no model was trained")
        try:
            detail = night.check_gate(versions[-1])
        except nightly.GateRefusedError as exc:
            return AssetCheckResult(
                passed=False, severity=AssetCheckSeverity.ERROR, description=str(exc)
            )
        return AssetCheckResult(passed=True, description=detail)

    @asset(deps=[ranker_model], group_name=GROUP, retry_policy=RETRY)
    def batch_recommendations(context: AssetExecutionContext) -> MaterializeResult:
        """Score every active user with the current model; load into Redis."""
        output = night.batch_step(night.NightOptions())
        return MaterializeResult(metadata={"users": output.rows or 0, "detail": output.detail})

    @asset(deps=[batch_recommendations], group_name=GROUP)
    def night_record(context: AssetExecutionContext) -> MaterializeResult:
        """The run record `recsys nightly` writes (data/nightly/), so /ready and
        `recsys monitor` see orchestrated nights too; it runs only when all else succeeded."""
        path = write_night_record(context.instance.get_run_step_stats(context.run.run_id))
        return MaterializeResult(metadata={"record": str(path)})

    job = define_asset_job("nightly", selection="*")
    # Off until switched on in the UI (`dagster dev` runs the scheduler), as cron would be.
    schedule = ScheduleDefinition(job=job, cron_schedule="15 2 * * *", execution_timezone="UTC")
    return Definitions(
        schedules=[schedule],
        assets=[
            landing,
            dbt_models,
            online_features,
            ranker_model,
            batch_recommendations,
            night_record,
        ],
        asset_checks=[promotion_gate],
        jobs=[job],
        resources={"dbt": dbt_resource()},
    )


def write_night_record(stats: Any) -> Path:
    """A nightly run record (outcome ok) from Dagster's step statistics of this run."""
    from datetime import UTC, datetime

    def stamp(seconds: float | None) -> str | None:
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")

    data_dir = paths().data_dir
    done = [s for s in stats if s.start_time is not None and s.end_time is not None]
    steps = sorted(done, key=lambda s: s.start_time)
    record = nightly.new_record(data_dir, [s.step_key for s in steps])
    record.log = "dagster run " + (steps[0].run_id if steps else "?")
    for step in steps:
        entry = record.step(step.step_key)
        entry.outcome = "ok" if step.status.value == "SUCCESS" else step.status.value.lower()
        entry.started_at, entry.ended_at = stamp(step.start_time), stamp(step.end_time)
        if step.start_time is not None and step.end_time is not None:
            entry.seconds = round(step.end_time - step.start_time, 3)
    if steps:
        record.started_at = stamp(steps[0].start_time) or record.started_at
    now = datetime.now(UTC).timestamp()
    record.outcome, record.ended_at = "ok", stamp(now)
    if steps and steps[0].start_time is not None:
        record.seconds = round(now - steps[0].start_time, 3)
    record.extra["orchestrator"] = "dagster"
    return nightly.write_record(data_dir, record)


def _train_options() -> night.NightOptions:
    """Training caps from the environment (RECSYS_NIGHTLY_MAX_*_QUERIES; tests keep them small)."""

    def cap(name: str) -> int | None:
        raw = os.environ.get(f"RECSYS_NIGHTLY_MAX_{name}_QUERIES")
        return int(raw) if raw else None

    return night.NightOptions(
        max_train_queries=cap("TRAIN"),
        max_valid_queries=cap("VALID"),
        max_test_queries=cap("TEST"),
    )
