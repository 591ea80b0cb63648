"""`recsys promote` and `recsys models list | rollback`: the operator's view of the registry.

Every way of making a version current goes through `model_check.validate` (in a child
process), so a broken version is refused with its reason instead of crashing the servers.
"""

from __future__ import annotations

import sys

import typer

from recsys import experiments, model_check, registry
from recsys.config import paths

app = typer.Typer(
    help="List the trained model versions, roll back, or run a champion/challenger test.",
    no_args_is_help=True,
)
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


@app.command("challenge")
def challenge(
    version: str = typer.Argument(..., help="Version folder under data/models."),
    share: float = typer.Option(0.1, help="Share of users the challenger serves (0..1)."),
    salt: str | None = typer.Option(None, help="Assignment salt (default: a new random one)."),
) -> None:
    """Serve VERSION to a share of users beside current (servers pick it up without restart)."""
    models = paths().models
    if version not in registry.versions(models):
        known = ", ".join(registry.versions(models)[-5:]) or "none"
        print(f"No model version {version!r} in {models} (latest: {known}).", file=sys.stderr)
        raise typer.Exit(1)
    if version == registry.current_version(models):
        print(f"{version} is current already: challenge it with another version.", file=sys.stderr)
        raise typer.Exit(1)
    if not 0 < share < 1:
        print(f"--share {share}: expected a fraction between 0 and 1, e.g. 0.1", file=sys.stderr)
        raise typer.Exit(1)
    check = model_check.validate(models / version)
    if not check.ok:
        print(f"Refused: {check.reason}", file=sys.stderr)
        raise typer.Exit(1)
    started = experiments.start_challenge(models, version, share=share, salt=salt)
    print(
        f"challenger {version} serves {share:.0%} of users beside current "
        f"{registry.current_version(models)} (salt {started.salt}); "
        "`recsys experiment report` compares them"
    )


@app.command("end-challenge")
def end_challenge(
    promote_it: bool = typer.Option(
        False, "--promote", help="Make the challenger current (after the model check)."
    ),
) -> None:
    """End the champion/challenger test: everyone back on current, or on the challenger."""
    models = paths().models
    running = experiments.read_challenge(models)
    if running is None:
        print("No champion/challenger experiment is running.", file=sys.stderr)
        raise typer.Exit(1)
    if promote_it:
        check = model_check.validate(models / running.version)
        if not check.ok:
            print(f"Refused: {check.reason}; the experiment keeps running", file=sys.stderr)
            raise typer.Exit(1)
    experiments.end_challenge(models)
    if promote_it:
        registry.promote(models, running.version)
        print(f"experiment ended; current -> {running.version}")
    else:
        print(f"experiment ended; every user is back on {registry.current_version(models)}")
