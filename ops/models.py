"""`recsys promote` and `recsys models list | rollback`: the operator's view of the registry.

Every way of making a version current goes through `model_check.validate` (in a child
process), so a broken version is refused with its reason instead of crashing the servers.
"""

from __future__ import annotations

import sys

import typer

from recsys import model_check, registry
from recsys.config import paths

app = typer.Typer(help="List the trained model versions or roll back.", no_args_is_help=True)
SHOWN_METRICS = ("NDCG@10", "HR@20", "MRR@20")


def promote(version: str = typer.Argument(..., help="Version folder under data/models.")) -> None:
    """Point `current` at a model version by hand (skips the metric gate, never the check)."""
    models = paths().models
    if version not in registry.versions(models):
        known = ", ".join(registry.versions(models)[-5:]) or "none"
        print(f"No model version {version!r} in {models} (latest: {known}).", file=sys.stderr)
        raise typer.Exit(1)
    check = model_check.validate(models / version)
    if not check.ok:
        print(f"Refused: {check.reason}", file=sys.stderr)
        raise typer.Exit(1)
    registry.promote(models, version)
    print(f"current -> {version}")


@app.command("list")
def list_versions() -> None:
    """Versions, oldest first: created, test metrics, which one is current."""
    models = paths().models
    current = registry.current_version(models)
    names = registry.versions(models)
    if not names:
        print(f"No model versions in {models}: run `make train`.")
        return
    print(f"{'':2}{'version':28} {'created':20} " + " ".join(f"{m:>10}" for m in SHOWN_METRICS))
    for name in names:
        mark = "* " if name == current else "  "
        try:
            meta = registry.read_metadata(models / name)
            created = str(meta.get("created_at", "?"))[:19].replace("T", " ")
            metrics = meta.get("test_metrics") or {}
            values = " ".join(
                f"{metrics[m]:>10.4f}" if isinstance(metrics.get(m), int | float) else f"{'-':>10}"
                for m in SHOWN_METRICS
            )
        except (OSError, ValueError, AttributeError) as exc:
            created, values = "?", f"unreadable metadata.json ({type(exc).__name__})"
        print(f"{mark}{name:28} {created:20} {values}")
    print("* current" if current else "no current version: `recsys promote <version>`")


@app.command("rollback")
def rollback() -> None:
    """Make current the newest version older than current that passes the model check."""
    models = paths().models
    current = registry.current_version(models)
    names = registry.versions(models)
    older = [n for n in names if current is None or n < current]
    for name in reversed(older):
        check = model_check.validate(models / name)
        if check.ok:
            registry.promote(models, name)
            print(f"current -> {name} (was {current})")
            return
        print(f"skipped {check.reason}", file=sys.stderr)
    print(
        f"No older version passes the model check (current {current}, {len(older)} older); "
        "train a new one with `make train`.",
        file=sys.stderr,
    )
    raise typer.Exit(1)
