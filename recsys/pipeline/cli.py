"""`recsys build | apply | materialize | features`: the offline feature pipeline steps."""

from __future__ import annotations

import sys
from datetime import datetime

import typer


def _parse_time(value: str | None, *, option: str) -> datetime | None:
    if value is None:
        return None
    from recsys.ingest.timestamps import parse_cli_datetime

    try:
        return parse_cli_datetime(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def build(
    docs: bool = typer.Option(False, "--docs", help="Also run `dbt docs generate`."),
    select: str | None = typer.Option(None, help="dbt selector, e.g. 'marts' or '+user_features'."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Print dbt's per-model log instead of a progress line."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild every model from all landing files."
    ),
    incremental: bool = typer.Option(
        False,
        "--incremental",
        help="Only new landing files, even with late events (they are quarantined).",
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help="dbt target: 'local' (DuckDB) or 'spark' (needs the spark extra and Java 17); "
        "default $RECSYS_DBT_TARGET or local.",
    ),
) -> None:
    """Run `dbt build` (models + tests), export marts to Parquet, print the reconciliation.

    Without --full-refresh or --incremental the build is incremental when it can be (same
    model definitions as the last build, no late event) and full otherwise. The spark
    target (dbt-spark in this process, docs/scaling.md) always builds in full.
    """
    from recsys.pipeline import build_state, dbt_runner

    if full_refresh and incremental:
        raise typer.BadParameter("choose one of --full-refresh and --incremental")
    mode: build_state.Mode = "full" if full_refresh else "incremental" if incremental else "auto"
    try:
        summary = dbt_runner.build(
            select=select, docs=docs, verbose=verbose, mode=mode, target=target
        )
    except ValueError as exc:
        print(f"dbt build: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    except dbt_runner.DbtBuildError as exc:
        print(f"dbt build failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(dbt_runner.format_summary(summary))


def docs(
    serve: bool = typer.Option(False, "--serve", help="Also serve them (`dbt docs serve`)."),
    port: int = typer.Option(8080, help="Port of --serve."),
) -> None:
    """Generate dbt's docs for the built warehouse (no rebuild); one file that opens offline."""
    from recsys.pipeline import dbt_runner

    try:
        if serve:
            print(f"dbt docs on http://127.0.0.1:{port} (Ctrl-C stops)")
            dbt_runner.serve_docs(port)
            return
        index = dbt_runner.generate_docs()
    except dbt_runner.DbtBuildError as exc:
        print(f"dbt docs failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(f"dbt docs: {index}  (opens from file://; `make docs-serve` serves them)")


def apply() -> None:
    """Run `feast apply` on feature_repo/ (entities, sources, views, services)."""
    from recsys.config import paths
    from recsys.pipeline import feast_ops

    feast_ops.ensure_batch_source(paths().export("batch_recommendations"))
    print(feast_ops.apply())


def materialize(
    start: str | None = typer.Option(None, help="Start (ISO-8601, UTC); default: earliest row."),
    end: str | None = typer.Option(None, help="End (ISO-8601, UTC); default: now."),
    incremental: bool = typer.Option(
        False,
        "--incremental",
        help="Continue from each view's last materialization (like "
        "`feast materialize-incremental`).",
    ),
    views: list[str] | None = typer.Option(None, "--view", help="Only these feature views."),
    engine: str = typer.Option(
        "fast", help="'fast' (bulk writer, same Redis keys as Feast) or 'feast' (stock path)."
    ),
    batch_rows: int = typer.Option(
        20_000, "--batch-rows", min=1, help="Rows per Redis batch of the fast engine."
    ),
) -> None:
    """Load the latest feature rows into Redis in Feast's online format, then check Redis."""
    from recsys.pipeline import materialize as mat

    try:
        summary = mat.materialize(
            start=_parse_time(start, option="--start"),
            end=_parse_time(end, option="--end"),
            incremental=incremental,
            views=views or None,
            engine=engine,
            batch_rows=batch_rows,
        )
    except mat.MaterializeError as exc:
        print(mat.format_summary(exc.summary))
        print(exc, file=sys.stderr)
        raise typer.Exit(1) from exc
    except ValueError as exc:
        print(f"materialize: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(mat.format_summary(summary))


def features(
    engine: str = typer.Option("fast", help="Materialization engine: 'fast' or 'feast'."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Print dbt's per-model log instead of a progress line."
    ),
) -> None:
    """dbt build + feast apply + materialize: raw landing files to features in Redis."""
    build(
        docs=False, select=None, verbose=verbose, full_refresh=False, incremental=False, target=None
    )
    apply()
    materialize(
        start=None, end=None, incremental=False, views=None, engine=engine, batch_rows=20_000
    )
