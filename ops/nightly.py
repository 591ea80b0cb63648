"""`recsys nightly`: the batch chain in one command, for cron (the orchestrator runs the same).

    ingest -> dbt build -> feast apply + materialize -> train -> promotion gate -> batch-score

Each step calls the function its own command calls (`recsys build`, `materialize`, `train`,
`batch-score`). A step that fails stops every step that needs it (they are recorded as
skipped); a model the gate refuses stops batch scoring. The lock, the run record and the step
runner live in recsys/pipeline/nightly.py, which /ready and `recsys monitor` read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer

from recsys.config import export_data_dir_env, paths
from recsys.pipeline import nightly

STEP_NAMES = ("ingest", "dbt_build", "feast", "train", "gate", "batch_score")


@dataclass(frozen=True)
class NightOptions:
    max_train_queries: int | None = None
    max_valid_queries: int | None = None
    max_test_queries: int | None = None
    seed: int = 42
    workers: int = 1


@dataclass
class NightState:
    """What one step hands to a later one (the inventory, the new model's outcome)."""

    inventory: dict[str, list[int]] | None = None
    outcome: Any = None


def ingest_step(data_dir: Path, state: NightState) -> nightly.StepOutput:
    """Take stock of the landing files: which arrived since the last successful night."""
    landing = paths().landing
    current = nightly.landing_inventory(landing)
    state.inventory = current
    new = nightly.new_landing_files(current, nightly.previous_inventory(data_dir))
    rows = sum(nightly.file_rows(landing / name) for name in new)
    if not current:
        raise FileNotFoundError(
            f"no landing files under {landing}; load events first (`recsys ingest file ...` "
            "or `make data`)"
        )
    return nightly.StepOutput(rows, f"{len(new)} new or changed of {len(current)} landing files")


def dbt_step() -> nightly.StepOutput:
    """`recsys build`: incremental when it can be, else full (dbt/README.md)."""
    from recsys.pipeline import dbt_runner

    summary = dbt_runner.build(quiet=False, mode="auto")
    slowest = ", ".join(f"{n.name} {n.seconds:.1f} s" for n in summary.slowest(2))
    return nightly.StepOutput(
        summary.raw_rows, f"{summary.mode} ({summary.mode_reason}); slowest: {slowest}"
    )


def feast_step() -> nightly.StepOutput:
    from recsys.pipeline import feast_ops
    from recsys.pipeline import materialize as mat

    feast_ops.ensure_batch_source(paths().export("batch_recommendations"))
    print(feast_ops.apply())
    # Only rows newer than each view's last materialization (materialize-incremental).
    note = "incremental"
    try:
        summary = mat.materialize(start=None, end=None, incremental=True, views=None, engine="fast")
    except mat.MaterializeError as exc:
        # Redis lost rows of earlier intervals (emptied, replaced): load every view again,
        # as `recsys materialize` without --incremental would, so the night heals it.
        print(f"incremental materialization incomplete, loading every view again:\n{exc}")
        summary = mat.materialize(
            start=None, end=None, incremental=False, views=None, engine="fast"
        )
        note = "full (Redis lacked earlier rows)"
    print(mat.format_summary(summary))
    return nightly.StepOutput(summary.rows, f"{len(summary.views)} views, {note}")


def train_step(options: NightOptions, state: NightState) -> nightly.StepOutput:
    from training.cli import run_training
    from training.params import TrainSettings

    settings = TrainSettings(seed=options.seed)
    caps: dict[str, Any] = {
        "max_train_queries": options.max_train_queries,
        "max_valid_queries": options.max_valid_queries,
        "max_test_queries": options.max_test_queries,
    }
    settings = replace(settings, **{k: v for k, v in caps.items() if v})
    settings.params["seed"] = options.seed
    state.outcome = run_training(settings)
    from recsys import registry

    metadata = registry.read_metadata(state.outcome.model_dir)
    rows = metadata.get("train_rows_fitted")
    return nightly.StepOutput(rows, f"version {state.outcome.version}")


def gate_step(state: NightState) -> nightly.StepOutput:
    """The promotion gate on the model this night trained."""
    return nightly.StepOutput(None, check_gate(state.outcome.version))


def check_gate(version: str) -> str:
    """The promotion gate: `version` must have been promoted and pass its sealed check.

    Raises GateRefusedError otherwise (the chain stops: no batch scoring with it). Shared by
    `recsys nightly` and the orchestrator's asset check.
    """
    from recsys import model_check, registry

    models = paths().models
    promotion = registry.read_metadata(models / version).get("promotion", {})
    if not promotion.get("promoted"):
        raise nightly.GateRefusedError(f"{version} {promotion.get('reason', 'not promoted')}")
    current = registry.current_dir(models)
    if current is None or current.name != version:
        raise nightly.GateRefusedError(f"{version} is not the current model after promotion")
    check = model_check.validate(current)
    if not check.ok:
        raise nightly.GateRefusedError(f"{version} failed its check: {check.reason}")
    return f"{version} promoted: {promotion.get('reason', '')}"


def batch_step(options: NightOptions) -> nightly.StepOutput:
    from serving.cli import score_and_load

    result, _ = score_and_load(workers=options.workers)
    return nightly.StepOutput(result.users, f"{result.rows:,} recommendations")


def steps(data_dir: Path, options: NightOptions, state: NightState) -> list[nightly.Step]:
    return [
        nightly.Step("ingest", lambda: ingest_step(data_dir, state)),
        nightly.Step("dbt_build", dbt_step, needs=("ingest",)),
        nightly.Step("feast", feast_step, needs=("dbt_build",)),
        nightly.Step("train", lambda: train_step(options, state), needs=("feast",)),
        nightly.Step("gate", lambda: gate_step(state), needs=("train",)),
        nightly.Step("batch_score", lambda: batch_step(options), needs=("gate",)),
    ]


def run_night(
    options: NightOptions | None = None,
    *,
    chain: list[nightly.Step] | None = None,
    say: Any = print,
) -> nightly.RunRecord:
    """Run one night under the lock; return its record (raises NightLockedError when held)."""
    options = options or NightOptions()
    data_dir = export_data_dir_env()
    state = NightState()
    chain = chain if chain is not None else steps(data_dir, options, state)
    with nightly.night_lock(data_dir):
        record = nightly.new_record(data_dir, [s.name for s in chain])
        Path(record.log).parent.mkdir(parents=True, exist_ok=True)
        say(f"nightly {record.run_id}: full log {record.log}")
        with Path(record.log).open("a") as log:
            record = nightly.run_steps(chain, data_dir=data_dir, record=record, say=say, log=log)
        if state.inventory is not None:
            # the landing files this night took in: the next night's "new" is measured on it
            record.extra["landing"] = state.inventory
            nightly.write_record(data_dir, record)
        return record


def nightly_command(
    max_train_queries: int | None = typer.Option(None, help="Cap on training queries."),
    max_test_queries: int | None = typer.Option(None, help="Cap on test queries."),
    workers: int = typer.Option(1, help="Batch-scoring processes."),
    show_status: bool = typer.Option(
        False, "--status", help="Only print the last nights' status (and exit 1 when stalled)."
    ),
) -> None:
    """Run the batch chain once (ingest, dbt, Feast, train, gate, batch-score) under a lock.

    Exit codes: 0 done, 1 a step failed, 2 the gate refused the model (no batch scoring),
    75 another night is running. The run record is data/nightly/last.json.
    """
    if show_status:
        from recsys.config import get_settings

        doc = nightly.status(paths().data_dir, max_age_hours=get_settings().max_night_age_hours)
        print(doc["detail"])
        raise typer.Exit(1 if doc["stalled"] else 0)
    options = NightOptions(
        max_train_queries=max_train_queries,
        max_test_queries=max_test_queries,
        workers=workers,
    )
    try:
        record = run_night(options)
    except nightly.NightLockedError as exc:
        print(f"nightly refused: {exc}", file=sys.stderr)
        raise typer.Exit(nightly.EXIT_LOCKED) from None
    print(f"nightly {record.run_id}: {record.outcome} in {record.seconds or 0:.1f} s")
    print(f"  record: {nightly.folder(paths().data_dir) / 'runs' / (record.run_id + '.json')}")
    raise typer.Exit(nightly.exit_code(record))
