"""`recsys experiment report`: is the challenger better for users than the champion?

Reads what was served since the experiment started and what users did next from the
monitoring tables (fct_recommendation_requests / fct_recommendation_outcomes: the outcome
attribution of `recsys monitor`, rebuilt first), assigns each request's user to its arm with
the experiment's own hash (recsys/experiments.py, as the server did), and compares the arms
(recsys/experiment_stats.py). Exit codes: 0 report made, 1 no experiment, 2 no tables.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import typer

from ops.cli_help import HELP_SETTINGS

app = typer.Typer(
    context_settings=HELP_SETTINGS,
    help="Champion/challenger experiments: compare the arms.",
    no_args_is_help=True,
)

REQUESTS_SQL = """
    select r.request_id, r.user_id, r.model_version, r.is_degraded,
        coalesce(bool_or(o.is_clicked), false) as clicked,
        coalesce(bool_or(o.is_clicked and (o.is_carted or o.is_bought)), false) as converted,
        coalesce(1.0 / min(o.rank) filter (where o.is_clicked), 0.0) as reciprocal_rank
    from fct_recommendation_requests r
    left join fct_recommendation_outcomes o using (request_id)
    where r.served_at >= ?
    group by all
"""


@app.command("report")
def report(
    ended: bool = typer.Option(False, "--ended", help="Report on the last ended experiment."),
    build: bool = typer.Option(
        True, "--build/--no-build", help="Rebuild the monitoring tables (dbt) before reading."
    ),
    primary: str = typer.Option(
        "ctr", help="Metric of the verdict: ctr, conversion, mrr_of_clicks."
    ),
    resamples: int = typer.Option(1000, help="Bootstrap resamples of the 95% intervals."),
    out: Path | None = typer.Option(
        None, help="Output folder (default <data dir>/reports/experiment)."
    ),
) -> None:
    """Per arm: impressions, CTR, conversion, MRR of clicks, 95% intervals and a verdict."""
    from ops.monitor import prepare_warehouse
    from recsys import experiment_stats, experiments
    from recsys.config import paths

    layout = paths()
    try:
        challenge = experiments.read_challenge(layout.models, ended=ended)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    if challenge is None:
        which = "ended" if ended else "running (`recsys models challenge <version>` starts one)"
        print(f"No champion/challenger experiment {which}.", file=sys.stderr)
        raise typer.Exit(1)
    prepare_warehouse("experiment", build=build)
    rows = read_requests(layout.warehouse, since=challenge.started_at)
    arms = np.array([challenge.arm_of(u) for u in rows["user_id"]], dtype=object)
    figures = experiment_stats.report(
        experiment_stats.Requests(
            users=np.asarray(rows["user_id"], dtype=object),
            arms=arms,
            clicked=np.asarray(rows["clicked"], bool),
            converted=np.asarray(rows["converted"], bool),
            reciprocal_rank=np.asarray(rows["reciprocal_rank"], np.float64),
        ),
        primary=primary,
        resamples=resamples,
    )
    versions: dict[str, dict[str, int]] = {}
    for arm, version, degraded in zip(
        arms, rows["model_version"], rows["is_degraded"], strict=True
    ):
        if not degraded:
            counts = versions.setdefault(str(arm), {})
            counts[str(version)] = counts.get(str(version), 0) + 1
    doc = {"experiment": asdict(challenge), "ended": ended, "model_versions": versions, **figures}
    folder = out or layout.reports / "experiment"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment.json").write_text(json.dumps(doc, indent=2, default=str))
    print(summary(doc))
    print(f"json: {folder / 'experiment.json'}")


def read_requests(warehouse: Path, *, since: str) -> dict[str, list[Any]]:
    """One row per answered request since `since`: user, version, clicked, converted, 1/rank."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = con.execute(REQUESTS_SQL, [since])
        names = [d[0] for d in result.description]
        columns: list[list[Any]] = [list(c) for c in zip(*result.fetchall(), strict=True)]
    if not columns:
        columns = [[] for _ in names]
    return dict(zip(names, columns, strict=True))


def summary(doc: dict[str, Any]) -> str:
    """The terminal table: one line per arm, the difference, the verdict."""
    exp = doc["experiment"]
    lines = [
        f"experiment: challenger {exp['version']} on {exp['share']:.0%} of users since "
        f"{exp['started_at']} (salt {exp['salt']})",
        f"{'arm':11} {'users':>6} {'impr.':>7} {'CTR [95% CI]':>26} {'conversion':>26} "
        f"{'MRR of clicks':>26}",
    ]
    for arm, figures in doc["arms"].items():
        cells = [
            f"{figures[m]['value']:.4f} [{figures[m]['ci95'][0]:.4f}, {figures[m]['ci95'][1]:.4f}]"
            for m in ("ctr", "conversion", "mrr_of_clicks")
        ]
        lines.append(
            f"{arm:11} {figures['users']:>6} {figures['impressions']:>7} "
            + " ".join(f"{c:>26}" for c in cells)
        )
    diff = doc["difference"]
    cells = [
        f"{diff[m]['value']:+.4f} [{diff[m]['ci95'][0]:+.4f}, {diff[m]['ci95'][1]:+.4f}]"
        for m in ("ctr", "conversion", "mrr_of_clicks")
    ]
    lines.append(f"{'difference':11} {'':>6} {'':>7} " + " ".join(f"{c:>26}" for c in cells))
    lines.append(f"verdict ({doc['primary_metric']}): {doc['verdict']}")
    return "\n".join(lines)
