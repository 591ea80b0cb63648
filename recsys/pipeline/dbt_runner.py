"""`recsys build`: run the dbt project in-process, then summarize the warehouse it built.

dbt runs through `dbt.cli.main.dbtRunner` (no subprocess), with the project and profile in
dbt/ and its target and logs under $RECSYS_DATA_DIR/dbt/, so builds of different data
directories never share state. The summary comes from a read-only DuckDB connection opened
after dbt has closed its own.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from recsys import export_sets, ids, import_with_gc_paused
from recsys.config import Settings, dbt_project_dir, environment, export_data_dir_env, paths
from recsys.contract import MAX_SESSION_EVENTS
from recsys.pipeline import build_state, spark_build
from recsys.pipeline.dbt_progress import DbtProgress

# Marts counted in the summary, in the order the table lists them.
MARTS: Final = (
    "fct_events",
    "fct_sessions",
    "dim_items",
    "dim_users",
    "events_quarantine",
    "ingest_reconciliation",
    "data_windows",
    "feature_snapshots",
    "user_features",
    "item_features",
    "item_popularity",
    "item_neighbors",
    "item_embeddings",
    "item_rules",
    "session_items",
    "session_state",
)
# Folders the Parquet materializations write into (dbt cannot create folders itself).
OUTPUT_FOLDERS: Final = ("warehouse_files",)
_FAILED: Final = {"error", "fail", "runtime error"}
_COUNT_FIELDS: Final = ("raw_rows", "clean_rows", "quarantined_rows", "duplicate_rows")


class DbtBuildError(RuntimeError):
    """dbt could not build the warehouse; the message names the failing nodes and why."""


@dataclass(frozen=True)
class SourceFileCounts:
    """Where the landing rows of one source file went (a row of ingest_reconciliation)."""

    source_file: str
    raw_rows: int
    clean_rows: int
    quarantined_rows: int
    duplicate_rows: int


@dataclass(frozen=True)
class NodeTiming:
    """How long one dbt node (model or test) took, and how it ended."""

    name: str
    resource_type: str
    status: str
    seconds: float


@dataclass(frozen=True)
class BuildSummary:
    """What one `recsys build` did: reconciliation, quarantine reasons, mart sizes, timings."""

    warehouse: Path
    elapsed_s: float
    files: list[SourceFileCounts] = field(default_factory=list)
    quarantine_reasons: list[tuple[str, int, str | None]] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)
    nodes: list[NodeTiming] = field(default_factory=list)
    docs_index: Path | None = None
    # "full" or "incremental", and why (recsys/pipeline/build_state.py)
    mode: str = "full"
    mode_reason: str = ""

    @property
    def raw_rows(self) -> int:
        return sum(f.raw_rows for f in self.files)

    @property
    def events_per_s(self) -> float:
        """Landing rows processed per second of `dbt build`."""
        return self.raw_rows / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def slowest(self, count: int = 5, *, resource_type: str = "model") -> list[NodeTiming]:
        """Return the `count` slowest nodes of one kind, slowest first."""
        chosen = [n for n in self.nodes if n.resource_type == resource_type]
        return sorted(chosen, key=lambda n: n.seconds, reverse=True)[:count]


def parse() -> float:
    """Parse the dbt project into its target folder and return the seconds it took.

    dbt keeps the parsed project there (partial_parse.msgpack), so a later build with the
    same project files, vars and environment skips most of a full parse (1.5-2 s here, plus
    dbt's own imports on a process's first dbt call).
    """
    started = time.perf_counter()
    _invoke("parse", select=None, vars=None, quiet=True)
    return time.perf_counter() - started


def build(
    *,
    select: str | None = None,
    docs: bool = False,
    vars: dict[str, Any] | None = None,
    quiet: bool = False,
    verbose: bool = False,
    mode: build_state.Mode = "full",
    target: str | None = None,
    exclude: str | None = None,
) -> BuildSummary:
    """Run `dbt build` (models and tests) and summarize the warehouse.

    Args:
        select: dbt selector (e.g. "marts" or "+user_features"); everything when None.
        docs: Also run `dbt docs generate` (index.html under $RECSYS_DATA_DIR/dbt/target).
        vars: Overrides of the project vars (docs/contracts.md), e.g. {"build_time": "..."}.
        quiet: Print nothing but dbt's errors (tests, benchmarks).
        verbose: Print dbt's own per-node log instead of a progress line every few seconds
            (the full log is always written to $RECSYS_DATA_DIR/dbt/logs/dbt.log).
        mode: "full" rebuilds everything; "incremental" reads only new landing files and
            recomputes the days from the recorded watermark minus incremental_lookback_days;
            "auto" is incremental unless the definitions changed, nothing was recorded or an
            incremental build met a late event (then it rebuilds in full). A build with
            `select` is always full.
        target: The dbt target (dbt/profiles.yml): "local" (DuckDB, the default) or
            "spark" (dbt-spark in this process; always a full build); None reads
            $RECSYS_DBT_TARGET.
        exclude: dbt selector of nodes to leave out (e.g. "test_name:not_null"); tests only,
            a build that leaves out models is not a complete one.

    Returns:
        The reconciliation, top quarantine reasons, rows per mart and node timings.

    Raises:
        DbtBuildError: A model or test failed, or dbt could not start; the message names
            the failing nodes and what they reported.
        ValueError: mode "incremental" without an earlier complete build of the same
            definitions.
    """
    data_dir = export_data_dir_env()
    layout = paths()
    for folder in OUTPUT_FOLDERS:
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    layout.warehouse.parent.mkdir(parents=True, exist_ok=True)
    build_vars = {**contract_vars(), **(vars or {})}
    dbt_target = spark_build.target(target)
    if select:
        plan = build_state.Plan("full", f"--select {select} builds in full")
    elif dbt_target == spark_build.TARGET:
        # Spark models keep no partitions between builds (spark_build.py).
        plan = build_state.Plan("full", "the spark target builds in full")
    else:
        plan = build_state.plan(layout, mode, build_vars)
    started = time.perf_counter()
    summary = _build_once(
        select=select,
        docs=docs,
        vars=vars,
        quiet=quiet,
        verbose=verbose,
        plan=plan,
        target=dbt_target,
        exclude=exclude,
    )
    if dbt_target == spark_build.TARGET:
        # The DuckDB warehouse did not take part: its stored partitions are not this
        # build's, so the next DuckDB build must be a full one (_build_once forgot them).
        return dataclasses.replace(
            summary,
            elapsed_s=time.perf_counter() - started,
            mode=plan.mode,
            mode_reason=plan.reason,
        )
    if plan.mode == "incremental" and mode == "auto" and _late_events(layout.warehouse):
        # An event older than the recomputed days: only a full build places it right.
        plan = build_state.Plan("full", "an incremental build met a late event_timestamp")
        summary = _build_once(
            select=select, docs=docs, vars=vars, quiet=quiet, verbose=verbose, plan=plan
        )
    if not select:
        record_build(plan, build_vars)
    return dataclasses.replace(
        summary,
        elapsed_s=time.perf_counter() - started,
        mode=plan.mode,
        mode_reason=plan.reason,
    )


def plan_vars(
    mode: build_state.Mode,
) -> tuple[build_state.Plan, dict[str, Any], dict[str, str]]:
    """The plan for a whole-project build, its vars and the environment that carries the
    plan (for the orchestrator)."""
    build_vars = contract_vars()
    plan = build_state.plan(paths(), mode, build_vars)
    return plan, build_vars, plan_env(plan)


def plan_env(plan: build_state.Plan) -> dict[str, str]:
    """How a build runs, for dbt's environment (dbt/macros/build_settings.sql).

    Not --vars: dbt parses the whole project again whenever --vars differ from the last
    invocation's, and incremental_since_day moves every night (about 5 s of a night).
    """
    since = "" if plan.since_day is None else str(plan.since_day)
    return {"RECSYS_BUILD_MODE": plan.mode, "RECSYS_INCREMENTAL_SINCE_DAY": since}


def record_build(plan: build_state.Plan, build_vars: dict[str, Any] | None = None) -> None:
    """After a passed whole-project build: record it, or forget it if it met late events.

    An incremental build that quarantined late events is recorded as nothing, so the next
    build is a full refresh and places them (`build` itself rebuilds at once instead).
    """
    layout = paths()
    if plan.mode == "incremental" and _late_events(layout.warehouse):
        build_state.forget(layout)
        return
    build_state.write(
        layout,
        build_vars if build_vars is not None else contract_vars(),
        mode=plan.mode,
        watermark_day=_watermark_day(layout.warehouse),
    )


def _late_events(warehouse: Path) -> int:
    """Landing rows the last (incremental) build quarantined as late."""
    return _warehouse_scalar(
        warehouse,
        "select count(*) from int_events_validated "
        "where quarantine_reason = 'late event_timestamp'",
    )


def _watermark_day(warehouse: Path) -> int | None:
    """The last UTC day (days since 1970) with a clean event, None without any."""
    found = _warehouse_scalar(
        warehouse, "select max(fdiv(epoch_us(event_timestamp), 86400000000)) from fct_events"
    )
    return None if found is None else int(found)


def _warehouse_scalar(warehouse: Path, sql: str) -> Any:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        row = connection.execute(sql).fetchone()
    return row[0] if row else None


def _build_once(
    *,
    select: str | None,
    docs: bool,
    vars: dict[str, Any] | None,
    quiet: bool,
    verbose: bool,
    plan: build_state.Plan,
    target: str = spark_build.DEFAULT_TARGET,
    exclude: str | None = None,
) -> BuildSummary:
    layout = paths()
    on_spark = target == spark_build.TARGET
    run_vars: dict[str, Any] = dict(vars or {})
    if on_spark:
        spark_build.reset(layout.data_dir)
        run_vars["spark_landing_files"] = spark_build.landing_files(layout.data_dir)
    vars = run_vars
    # A failed or partial build may leave some models updated and others not: the next
    # build must not trust the stored rows (the monitoring models store none of them).
    if not (select or "").startswith("tag:monitoring"):
        build_state.forget(layout)
    started = time.perf_counter()
    # Exports go into a new build folder, published only if every model and test passed:
    # a failed or killed build leaves the previous complete set in service.
    exports_build = export_sets.start(layout)
    # dbt reads where to export, and how this build runs, from the environment.
    with environment({**exports_build.env, **plan_env(plan)}):
        if quiet or verbose:
            result = _invoke(
                "build", select=select, vars=vars, quiet=quiet, target=target, exclude=exclude
            )
        else:
            progress = DbtProgress()
            try:
                result = _invoke(
                    "build",
                    select=select,
                    vars=vars,
                    quiet=True,
                    callbacks=[progress],
                    target=target,
                    exclude=exclude,
                )
            finally:
                print(progress.summary(str(log_file())), flush=True)
    if on_spark:
        spark_build.publish_exports(layout.data_dir, exports_build)
        if select is None:
            spark_build.export_python_marts(exports_build, {**contract_vars(), **vars})
    export_sets.publish(layout, exports_build)
    elapsed = time.perf_counter() - started
    nodes = _node_timings(result)
    docs_index = None
    if docs:
        _invoke("docs", "generate", select=None, vars=vars, quiet=not verbose, target=target)
        docs_index = _target_path() / "index.html"
    if on_spark:
        # The Spark build's models live under spark_files/, not in the DuckDB warehouse.
        return _summarize_spark(
            spark_build.files_root(layout.data_dir),
            exports_build,
            elapsed_s=elapsed,
            nodes=nodes,
            docs_index=docs_index,
        )
    return _summarize(layout.warehouse, elapsed_s=elapsed, nodes=nodes, docs_index=docs_index)


def format_summary(summary: BuildSummary) -> str:
    """Render a build summary as a plain-text report.

    Args:
        summary: What `build` returned.

    Returns:
        The reconciliation table per source file, the top quarantine reasons, rows per mart,
        the slowest models and, when generated, where the docs are.
    """
    passed = sum(1 for n in summary.nodes if n.status in {"success", "pass"})
    lines = [
        f"dbt build ({summary.mode}: {summary.mode_reason}): {passed} nodes passed in "
        f"{summary.elapsed_s:.1f} s; warehouse {summary.warehouse}",
        "",
        f"{'source_file':<32} {'raw':>12} {'clean':>12} {'quarantined':>12} {'duplicates':>12}",
    ]
    for f in summary.files:
        lines.append(
            f"{f.source_file[:32]:<32} {f.raw_rows:>12,} {f.clean_rows:>12,} "
            f"{f.quarantined_rows:>12,} {f.duplicate_rows:>12,}"
        )
    if len(summary.files) > 1:
        total = SourceFileCounts(
            "total",
            *(sum(getattr(f, k) for f in summary.files) for k in _COUNT_FIELDS),
        )
        lines.append(
            f"{'total':<32} {total.raw_rows:>12,} {total.clean_rows:>12,} "
            f"{total.quarantined_rows:>12,} {total.duplicate_rows:>12,}"
        )
    if summary.quarantine_reasons:
        lines += ["", "top quarantine reasons:"]
        for reason, count, example in summary.quarantine_reasons:
            shown = "" if example is None else f"   e.g. {example!r}"
            lines.append(f"  {reason:<40} {count:>10,}{shown}")
    if summary.mart_rows:
        lines += ["", "rows per mart:"]
        lines += [f"  {name:<24} {rows:>12,}" for name, rows in summary.mart_rows.items()]
    slowest = summary.slowest(5)
    if slowest:
        lines += ["", "slowest models: " + ", ".join(f"{n.name} {n.seconds:.1f}s" for n in slowest)]
    if summary.docs_index:
        lines += ["", f"docs: {summary.docs_index}"]
    return "\n".join(lines)


def contract_vars() -> dict[str, Any]:
    """The vars every build passes: the session rules the server shares with the marts.

    The gap comes from RECSYS_SESSION_GAP_MINUTES (default: the contract's), so one setting
    moves the server's rolling sessions and dbt's sessionization together; dbt_project.yml
    holds the same defaults for plain `dbt` runs (a test keeps them equal).
    list_refresh_days comes from RECSYS_LIST_REFRESH_DAYS, so `recsys build`, `recsys nightly`
    and the Dagster graph agree on it (a var passed with --vars still wins).
    """
    settings = Settings()
    gap = settings.session_gap_minutes
    return {
        "session_gap_minutes": int(gap) if gap == int(gap) else gap,
        "max_session_events": MAX_SESSION_EVENTS,
        "list_refresh_days": settings.list_refresh_days,
        **ids.dbt_vars(),
    }


def _target_path() -> Path:
    return paths().data_dir / "dbt" / "target"


def log_file() -> Path:
    """dbt's full log of this data directory's runs (appended to by every run)."""
    return paths().data_dir / "dbt" / "logs" / "dbt.log"


def _invoke(
    *command: str,
    select: str | None,
    vars: dict[str, Any] | None,
    quiet: bool,
    callbacks: list[Any] | None = None,
    target: str | None = None,
    exclude: str | None = None,
) -> Any:
    """Run one dbt command in this process; raise DbtBuildError unless it fully succeeded."""
    runner_class = import_with_gc_paused("dbt.cli.main").dbtRunner
    project = dbt_project_dir()
    args = [
        *command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(_target_path()),
        "--log-path",
        str(log_file().parent),
        "--no-send-anonymous-usage-stats",
    ]
    if not sys.stdout.isatty():
        args.append("--no-use-colors")
    if quiet:
        args.append("--quiet")
    if select:
        args += ["--select", select]
    if target:
        args += ["--target", target]
    if exclude:
        args += ["--exclude", *exclude.split()]
    args += ["--vars", json.dumps({**contract_vars(), **(vars or {})})]
    try:
        outcome = runner_class(callbacks=callbacks or []).invoke(args)
    finally:
        _release_warehouse()
    if not outcome.success:
        raise DbtBuildError(_failure_message(" ".join(command), outcome))
    return outcome.result


def _release_warehouse() -> None:
    """Close the warehouse connection dbt-duckdb keeps for the life of the process.

    The profile sets keep_open: true because with false dbt-duckdb closes the database
    (a checkpoint) whenever no node holds it and opens it again for the next one, hundreds of
    times per build. The runner reopens the file itself for the summary, which DuckDB only
    allows once this process's dbt connection is gone.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _failure_message(command: str, outcome: Any) -> str:
    """Name every failed node with its message, or say why dbt itself stopped."""
    results = getattr(outcome.result, "results", None) or []
    failed = [r for r in results if str(r.status) in _FAILED]
    if not failed:
        reason = outcome.exception or "see the dbt log under $RECSYS_DATA_DIR/dbt/logs"
        return f"`dbt {command}` stopped: {reason}"
    skipped = sum(1 for r in results if str(r.status) == "skipped")
    parts = []
    for r in failed:
        node = r.node
        what = f"{node.resource_type} {node.name} ({node.original_file_path})"
        if str(r.status) == "fail":
            sample = _failing_rows(getattr(node, "compiled_code", None))
            parts.append(f"{what} failed: {r.failures} failing rows{sample}")
        else:
            parts.append(f"{what}: {(r.message or '').strip()}")
    return (
        f"`dbt {command}`: {len(failed)} node(s) failed"
        + (f", {skipped} skipped because of them" if skipped else "")
        + ":\n  - "
        + "\n  - ".join(parts)
        + f"\nFailing rows: run `dbt test --select <test>` or read the compiled SQL under "
        f"{_target_path() / 'compiled'}"
    )


def _failing_rows(compiled_sql: str | None, *, limit: int = 3) -> str:
    """Return the first failing rows of a data test as text, or "" if they cannot be read."""
    if not compiled_sql:
        return ""
    import duckdb

    try:
        with duckdb.connect(str(paths().warehouse), read_only=True) as connection:
            cursor = connection.execute(f"select * from ({compiled_sql}) limit {limit}")
            names = [column[0] for column in cursor.description or []]
            rows = cursor.fetchall()
    except duckdb.Error:
        return ""  # the message still names the test; its SQL is under target/compiled
    shown = "; ".join(
        ", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)) for row in rows
    )
    return f", e.g. {shown}" if shown else ""


def _node_timings(result: Any) -> list[NodeTiming]:
    return [
        NodeTiming(
            name=r.node.name,
            resource_type=str(r.node.resource_type),
            status=str(r.status),
            seconds=float(r.execution_time or 0.0),
        )
        for r in getattr(result, "results", None) or []
    ]


def _summarize(
    warehouse: Path, *, elapsed_s: float, nodes: list[NodeTiming], docs_index: Path | None
) -> BuildSummary:
    """Read reconciliation, quarantine reasons and mart sizes with a read-only connection."""
    import duckdb

    summary = BuildSummary(warehouse, elapsed_s, nodes=nodes, docs_index=docs_index)
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        existing = {
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        }
        _fill_summary(summary, existing, lambda sql: connection.execute(sql).fetchall())
    finally:
        connection.close()
    return summary


def _summarize_spark(
    warehouse: Path,
    exports: export_sets.Build,
    *,
    elapsed_s: float,
    nodes: list[NodeTiming],
    docs_index: Path | None,
) -> BuildSummary:
    """The same summary from the Spark session the build ran in (its tables live there)."""
    summary = BuildSummary(warehouse, elapsed_s, nodes=nodes, docs_index=docs_index)
    spark = spark_build.session()
    spark.catalog.setCurrentDatabase(spark_build.SCHEMA)
    existing = {t.name for t in spark.catalog.listTables(spark_build.SCHEMA)}
    _fill_summary(summary, existing, lambda sql: [tuple(r) for r in spark.sql(sql).collect()])
    for mart in spark_build.PYTHON_MARTS:  # computed after dbt, not Spark tables
        path = exports.folder / f"{mart}.parquet"
        if path.exists():
            summary.mart_rows[mart] = pq_rows(path)
    return summary


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _fill_summary(
    summary: BuildSummary, existing: set[str], query: Callable[[str], list[tuple[Any, ...]]]
) -> None:
    """Reconciliation, quarantine reasons and mart sizes, by SQL both targets run."""
    if "ingest_reconciliation" in existing:
        rows = query(
            f"select source_file, {', '.join(_COUNT_FIELDS)} "
            "from ingest_reconciliation order by source_file"
        )
        summary.files.extend(SourceFileCounts(*row) for row in rows)
    if "events_quarantine" in existing:
        # The reason is a category; the example is one offending value of it.
        summary.quarantine_reasons.extend(
            query(
                """
                select
                    quarantine_reason as kind,
                    count(*) as row_count,
                    min(nullif(quarantine_detail, '')) as example
                from events_quarantine
                group by quarantine_reason
                order by row_count desc, kind
                limit 5
                """
            )
        )
    for mart in MARTS:
        if mart in existing:
            counted = query(f"select count(*) from {mart}")
            summary.mart_rows[mart] = int(counted[0][0]) if counted else 0


def generate_docs() -> Path:
    """Run `dbt docs generate --static` on the built warehouse, without rebuilding it.

    Returns:
        static_index.html: one file with the manifest and catalog inside, so it opens from
        file:// (dbt's index.html fetches its JSON and only works when served).

    Raises:
        DbtBuildError: No warehouse has been built yet, or dbt failed.
    """
    export_data_dir_env()
    warehouse = paths().warehouse
    if not warehouse.exists():
        raise DbtBuildError(
            f"no warehouse at {warehouse}: the docs describe a built warehouse; "
            "run `make features` (or `recsys build`) first"
        )
    _invoke("docs", "generate", "--static", select=None, vars=None, quiet=True)
    return _target_path() / "static_index.html"


def serve_docs(port: int) -> None:
    """Generate the docs, then run `dbt docs serve` on them until interrupted."""
    generate_docs()
    _invoke(
        "docs", "serve", "--port", str(port), "--no-browser", select=None, vars=None, quiet=False
    )
