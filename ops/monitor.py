"""`recsys monitor`: outcomes, drift, freshness and skew in one report; exit 1 on a breach.

Steps: rebuild the monitoring tables (dbt, `tag:monitoring`: the impression log and the served
events are read fresh, nothing else is rebuilt), read the online figures, compare the served
vectors with each model's training reference, read the materialization marker in Redis, write
monitor.json and report.html. Exit codes: 0 all within thresholds, 1 a threshold breached,
2 the report could not be made (no warehouse, dbt failed).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from recsys.config import environment, get_settings, paths

MONITORING_SELECTOR = "tag:monitoring stg_landing__served_events"
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """'7d', '24h', '90m', or an ISO-8601 date/time (UTC when it has no offset)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"--since {text!r}: expected a duration like 7d, 24h, 90m or an ISO-8601 time "
            "like 2026-12-01 or 2026-12-01T08:00:00Z"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_monitoring_tables() -> None:
    """Rebuild the tables of what was served and what happened next (dbt, tag:monitoring).

    Raises:
        recsys.pipeline.dbt_runner.DbtBuildError: dbt failed.
    """
    from recsys.pipeline import dbt_runner

    # the served-events view too: compiled while no served file existed, it stays
    # empty. "cautious": only tests whose every parent is selected (the reconciliation
    # test also reads marts only a full build refreshes)
    with environment({"DBT_INDIRECT_SELECTION": "cautious"}):
        dbt_runner.build(select=MONITORING_SELECTOR, quiet=True)


def prepare_warehouse(command: str, *, build: bool) -> Path:
    """The warehouse a report reads, its monitoring tables rebuilt first when `build`.

    Exits 2 (typer.Exit) with the fix when there is no warehouse or dbt fails; `command`
    names the report in the messages.
    """
    from recsys.pipeline import dbt_runner

    warehouse = paths().warehouse
    if not warehouse.exists():
        print(f"No warehouse at {warehouse}: run `make features` first.", file=sys.stderr)
        raise typer.Exit(2)
    if build:
        print(f"{command}: building the monitoring tables (dbt, tag:monitoring) ...", flush=True)
        try:
            build_monitoring_tables()
        except dbt_runner.DbtBuildError as exc:
            print(f"{command}: dbt failed: {exc}", file=sys.stderr)
            raise typer.Exit(2) from exc
    return warehouse


def feature_freshness(*, max_age_hours: float) -> dict[str, Any]:
    """Age of the last materialization per view, from the marker hash in Redis."""
    import redis
    from redis.exceptions import RedisClusterException

    from recsys import redis_runtime
    from recsys.online_marker import read_marker

    url = os.environ.get("REDIS_URL")
    if not url or os.environ.get(redis_runtime.START_REDIS_ENV) == "1":
        own = redis_runtime.own_redis()
        url = own.url if own else None
    base: dict[str, Any] = {"max_age_hours": max_age_hours, "views": []}
    if not url:
        # never start a Redis for this: an empty one would only say "never materialized"
        return {**base, "note": "no Redis running (REDIS_URL unset, none started): not checked"}
    try:
        client = redis_runtime.client_from_url(url, timeout_s=2)
        marker = read_marker(client)
    except (redis.RedisError, OSError, RedisClusterException) as exc:
        return {**base, "note": f"Redis unreachable ({type(exc).__name__}): not checked"}
    now = datetime.now(UTC)
    views = []
    for view, record in sorted(marker.items()):
        at = datetime.fromisoformat(record["materialized_at"])
        age = (now - at).total_seconds() / 3600
        views.append(
            {
                "view": view,
                "materialized_at": record["materialized_at"],
                "age_hours": round(age, 3),
                "data_end": record.get("end"),
                "rows": record.get("rows"),
                "status": "stale" if age > max_age_hours else "fresh",
            }
        )
    note = None if views else "no materialization recorded in Redis: run `make features`"
    return {**base, "views": views, "note": note}


def skew_check(connection: Any, *, since: datetime, size: int) -> dict[str, Any]:
    """Rebuild `size` logged answers' vectors through the training-set path and compare."""
    import duckdb

    from recsys.contract import FEATURE_SERVICE
    from recsys.monitoring import skew
    from recsys.pipeline.feast_ops import feature_store, sync_sources
    from recsys.ranking.candidates import CandidateConfig
    from recsys.ranking.inputs import ranker_inputs
    from recsys.ranking.loading import load_catalog
    from training.features import historical_fetcher

    logged = skew.sample(connection, since=since, size=size)
    if not logged:
        return {
            "note": "no logged answer with a session and feature vectors in the period",
            "features": [],
            "mismatched_features": [],
        }
    layout = paths()
    store = feature_store(connect_redis=False)
    sync_sources(store)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    catalog = load_catalog(
        layout.exports, snapshot="serving", item_feature_names=list(inputs.layout.item_features)
    )
    batch: dict[str, list[str]] = {}
    batch_file = layout.exports / "batch_recommendations.parquet"
    if batch_file.exists():
        with duckdb.connect() as con:
            rows = con.execute(
                "select user_id, item_ids from read_parquet(?) where user_id in (select unnest(?))",
                [str(batch_file), sorted({r.user_id for r in logged})],
            ).fetchall()
        batch = {user: list(items) for user, items in rows}
    result = skew.compare(
        logged,
        events=skew.session_events(connection, logged),
        catalog=catalog,
        layout=inputs.layout,
        fetch=historical_fetcher(store, inputs),
        batch=batch,
        config=CandidateConfig(n=get_settings().candidates),
    )
    return result.as_dict()


def monitor(
    since: str = typer.Option(
        "7d", "--since", help="Start of the period: 7d, 24h, 90m or an ISO-8601 date/time (UTC)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for report.html and monitor.json [default: data/reports/monitor]",
    ),
    psi_watch: float = typer.Option(0.1, help="PSI from which a column is marked 'watch'."),
    psi_act: float = typer.Option(0.25, help="PSI above which a column breaches ('act')."),
    min_rows: int = typer.Option(100, help="Served rows a column needs before it is judged."),
    skew_sample: int = typer.Option(
        30, help="Logged answers whose vectors are rebuilt offline for the skew check (0: off)."
    ),
    build: bool = typer.Option(
        True, "--build/--no-build", help="Rebuild the monitoring tables (dbt) before reading."
    ),
) -> None:
    """Report online outcomes, drift, freshness and skew; exit 1 when a threshold is breached."""
    import duckdb

    from recsys.monitoring import drift, report

    start = parse_since(since)
    layout = paths()
    settings = get_settings()
    prepare_warehouse("monitor", build=build)
    thresholds = drift.Thresholds(psi_watch=psi_watch, psi_act=psi_act, min_rows=min_rows)
    with duckdb.connect(str(layout.warehouse), read_only=True) as connection:
        online = report.online_figures(connection, since=start)
        drifts = drift.compute(connection, models=layout.models, since=start, thresholds=thresholds)
        if skew_sample > 0:
            print(f"monitor: skew check on {skew_sample} logged answers (Feast) ...", flush=True)
            try:
                skew = skew_check(connection, since=start, size=skew_sample)
            except Exception as exc:  # the rest of the report still stands; say why, loudly
                skew = {
                    "note": f"skew check failed: {type(exc).__name__}: {exc}",
                    "features": [],
                    "mismatched_features": ["check failed"],
                }
        else:
            skew = {"note": "not run (--skew-sample 0)", "features": [], "mismatched_features": []}
    freshness = feature_freshness(max_age_hours=settings.max_feature_age_hours)
    from recsys.pipeline import nightly

    night = nightly.status(layout.data_dir, max_age_hours=settings.max_night_age_hours)
    doc = report.document(
        since=start,
        online=online,
        drift=drifts,
        thresholds=thresholds,
        freshness=freshness,
        skew=skew,
        nightly=night,
    )
    json_path, html_path = report.write(doc, out or layout.reports / "monitor")
    totals = doc["online"]["totals"]
    print(
        f"monitor: {totals['answers']} answers since {start:%Y-%m-%d %H:%M} UTC, "
        f"CTR@k {_pct(totals['ctr_at_k'])}, {len(drifts)} model version(s) checked for drift"
    )
    print(f"monitor: nightly: {night['detail']}")
    for breach in doc["breaches"]:
        print(f"BREACH {breach}")
    print(f"report: {html_path}\nfigures: {json_path}")
    if doc["breaches"]:
        raise typer.Exit(1)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
