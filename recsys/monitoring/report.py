"""The monitoring report: every figure in one document (monitor.json) and one HTML page.

Figures come from the warehouse's monitoring tables (mart_online_metrics,
fct_recommendation_requests, fct_recommendation_outcomes), drift from
`recsys.monitoring.drift`, freshness from the materialization marker in Redis. The page is
self-contained (inline CSS and SVG, no script, no CDN), so it opens from disk offline.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from html import escape
from typing import Any

import duckdb

from recsys.monitoring import svg
from recsys.monitoring.drift import ACT, Thresholds, VersionDrift


def _dicts(connection: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = connection.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """JSON-safe: dates as ISO text, floats rounded, NaN as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def online_figures(connection: duckdb.DuckDBPyConnection, *, since: datetime) -> dict[str, Any]:
    """Online metrics, click ranks, degraded answers and latency since `since`."""
    daily = _dicts(
        connection,
        "select * from mart_online_metrics where day >= cast(? at time zone 'UTC' as date) "
        "order by day, model_version",
        since,
    )
    totals = _dicts(
        connection,
        """
        select
            count(*) as answers,
            count(*) filter (where is_degraded) as degraded_answers,
            count(*) filter (where is_degraded) / nullif(count(*), 0) as degraded_share,
            count(*) filter (where is_cold_start_user) / nullif(count(*), 0) as cold_start_share,
            quantile_cont(latency_ms, 0.5) as latency_p50_ms,
            quantile_cont(latency_ms, 0.95) as latency_p95_ms,
            quantile_cont(latency_ms, 0.99) as latency_p99_ms
        from fct_recommendation_requests where served_at >= ?
        """,
        since,
    )[0]
    outcomes = _dicts(
        connection,
        """
        select
            count(*) as impressions,
            count(*) filter (where is_clicked) as clicks,
            count(distinct request_id) filter (where is_clicked) as answers_clicked,
            count(distinct request_id) filter (where is_bought) as answers_bought,
            median(seconds_to_click) as median_seconds_to_click
        from fct_recommendation_outcomes where served_at >= ?
        """,
        since,
    )[0]
    answers = totals["answers"] or 0
    totals.update(outcomes)
    totals["ctr_at_k"] = outcomes["answers_clicked"] / answers if answers else None
    totals["conversion"] = outcomes["answers_bought"] / answers if answers else None
    click_ranks = _dicts(
        connection,
        "select rank, count(*) as clicks from fct_recommendation_outcomes "
        "where is_clicked and served_at >= ? group by rank order by rank",
        since,
    )
    reasons = _dicts(
        connection,
        "select coalesce(degraded_reason, '(none given)') as reason, count(*) as answers "
        "from fct_recommendation_requests where is_degraded and served_at >= ? "
        "group by all order by answers desc",
        since,
    )
    latency = _dicts(
        connection,
        """
        with stages as (
            select
                coalesce(model_version, '(none)') as model_version,
                unnest(json_keys(timings_ms)) as stage,
                timings_ms
            from fct_recommendation_requests where served_at >= ?
        ),
        timed as (
            select model_version, stage,
                try_cast(json_extract(timings_ms, '$."' || stage || '"') as double) as ms
            from stages
        )
        select model_version, stage, count(*) as answers,
            quantile_cont(ms, 0.5) as p50_ms, quantile_cont(ms, 0.95) as p95_ms,
            quantile_cont(ms, 0.99) as p99_ms
        from timed group by all
        union all
        select coalesce(model_version, '(none)'), 'total', count(*),
            quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
            quantile_cont(latency_ms, 0.99)
        from fct_recommendation_requests where served_at >= ? group by all
        order by model_version, stage
        """,
        since,
        since,
    )
    quarantine = _dicts(
        connection,
        "select quarantine_reason as reason, count(*) as lines from impressions_quarantine "
        "group by all order by lines desc",
    )
    return {
        "totals": totals,
        "daily": daily,
        "click_ranks": click_ranks,
        "degraded_reasons": reasons,
        "latency": latency,
        "quarantine": quarantine,
    }


def document(
    *,
    since: datetime,
    online: dict[str, Any],
    drift: list[VersionDrift],
    thresholds: Thresholds,
    freshness: dict[str, Any],
    skew: dict[str, Any],
    nightly: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """monitor.json: every figure of the report, and the breaches that set the exit code.

    `nightly` is recsys.pipeline.nightly.status(): a stalled chain is a breach.
    """
    breaches = [
        f"drift: {version.model_version}: {name} PSI > {thresholds.psi_act}"
        for version in drift
        for name in version.breaches
    ]
    breaches += [
        f"freshness: {view['view']} materialized {view['age_hours']:.1f} h ago "
        f"(limit {freshness['max_age_hours']} h)"
        for view in freshness.get("views", [])
        if view.get("status") == "stale"
    ]
    breaches += [f"skew: {name}" for name in skew.get("mismatched_features", [])]
    if nightly and nightly.get("stalled"):
        breaches.append(f"nightly: {nightly['detail']}")
    return _plain(
        {
            "generated_at": datetime.now(UTC),
            "since": since,
            "status": "breach" if breaches else "ok",
            "breaches": breaches,
            "thresholds": asdict(thresholds),
            "online": online,
            "drift": [asdict(version) for version in drift],
            "freshness": freshness,
            "skew": skew,
            "nightly": nightly,
        }
    )


def _table(rows: list[dict[str, Any]], columns: list[str], *, empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def html(doc: dict[str, Any]) -> str:
    """The report page for a monitor.json document."""
    online, totals = doc["online"], doc["online"]["totals"]
    th = doc["thresholds"]
    status = doc["status"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>recsys monitoring report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px;color:#111}",
        "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;"
        "padding:3px 8px;font-size:13px;text-align:right}th{background:#f3f4f6}",
        ".ok{color:#16a34a}.breach{color:#dc2626}.empty{color:#6b7280}",
        ".kpi{display:inline-block;margin:0 18px 8px 0}.kpi b{display:block;font-size:22px}",
        "section{margin-top:28px}</style></head><body>",
        f"<h1>Monitoring report <span id='status' class='{status}'>{status}</span></h1>",
        f"<p>Since {escape(doc['since'])}, generated {escape(doc['generated_at'])}.</p>",
    ]
    if doc["breaches"]:
        shown, rest = doc["breaches"][:8], doc["breaches"][8:]
        items = "".join(f"<li>{escape(b)}</li>" for b in shown)
        if rest:
            more = "".join(f"<li>{escape(b)}</li>" for b in rest)
            items += (
                f"<li><details><summary>{len(rest)} more</summary><ul>{more}</ul></details></li>"
            )
        parts.append(f"<ul id='breaches' class='breach'>{items}</ul>")
    kpis = [
        ("answers", totals.get("answers")),
        ("CTR@k", totals.get("ctr_at_k")),
        ("conversion", totals.get("conversion")),
        ("degraded share", totals.get("degraded_share")),
        ("cold-start users", totals.get("cold_start_share")),
        ("latency p99 ms", totals.get("latency_p99_ms")),
    ]
    parts.append(
        "<div id='kpis'>"
        + "".join(
            f"<span class='kpi' data-name='{escape(n)}'><b>{escape(_cell(v))}</b>{escape(n)}</span>"
            for n, v in kpis
        )
        + "</div>"
    )
    parts.append(_online_section(online))
    parts.append(_drift_section(doc["drift"], th))
    parts.append(_freshness_section(doc["freshness"]))
    parts.append(_skew_section(doc["skew"]))
    parts.append(_nightly_section(doc.get("nightly")))
    parts.append("</body></html>")
    return "".join(parts)


def _online_section(online: dict[str, Any]) -> str:
    daily = online["daily"]
    out = ["<section id='online'><h2>Online outcomes</h2>"]
    if daily:
        for metric, label in (("ctr_at_k", "CTR@k"), ("conversion", "conversion")):
            series: dict[str, list[tuple[str, float | None]]] = {}
            for row in daily:
                series.setdefault(row["model_version"], []).append((row["day"], row[metric]))
            out.append(svg.lines(series, title=f"{label} per day and model version"))
        ranks = online["click_ranks"]
        if ranks:
            out.append(
                svg.bars(
                    [str(r["rank"]) for r in ranks],
                    {"clicks by rank shown": [r["clicks"] for r in ranks]},
                    title="Rank of clicked items",
                )
            )
        degraded: dict[str, list[tuple[str, float | None]]] = {}
        for row in daily:
            degraded.setdefault(row["model_version"], []).append(
                (row["day"], row["degraded_share"])
            )
        out.append(svg.lines(degraded, title="Share of degraded answers", y_max=1.0))
    columns = [
        "day",
        "model_version",
        "answers",
        "impressions",
        "ctr_at_k",
        "item_ctr",
        "conversion",
        "mrr",
        "degraded_share",
        "cold_start_share",
        "catalogue_coverage",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
    ]
    out.append("<h3>Daily, per model version (mart_online_metrics)</h3>")
    out.append(_table(daily, columns, empty="No answers logged in this period."))
    out.append("<h3>Degraded answers by reason</h3>")
    out.append(_table(online["degraded_reasons"], ["reason", "answers"], empty="None."))
    out.append("<h3 id='latency'>Latency percentiles (logged stage timings)</h3>")
    out.append(
        _table(
            online["latency"],
            ["model_version", "stage", "answers", "p50_ms", "p95_ms", "p99_ms"],
            empty="No answers.",
        )
    )
    out.append("<h3>Impression-log lines quarantined</h3>")
    out.append(_table(online["quarantine"], ["reason", "lines"], empty="None."))
    return "".join(out) + "</section>"


def _drift_section(drift: list[dict[str, Any]], th: dict[str, Any]) -> str:
    out = [
        "<section id='drift'><h2>Drift against the training set (PSI)</h2>",
        f"<p>PSI &lt; {th['psi_watch']} stable, {th['psi_watch']}-{th['psi_act']} watch, "
        f"&gt; {th['psi_act']} act (fewer than {th['min_rows']} served rows: not judged).</p>",
    ]
    if not drift:
        out.append("<p class='empty'>No model-ranked answers in this period.</p>")
    for version in drift:
        out.append(f"<h3>{escape(version['model_version'])}</h3>")
        if version["note"]:
            out.append(f"<p class='empty'>{escape(version['note'])}</p>")
            continue
        score = version["score"]
        columns = [score] + version["features"]
        out.append(
            svg.psi_bars(
                [(c["name"], c["psi"], c["status"]) for c in columns],
                watch=th["psi_watch"],
                act=th["psi_act"],
                title=f"PSI per feature, {version['model_version']}",
            )
        )
        labels = [f"b{i + 1}" for i in range(len(score["reference_shares"]))]
        out.append(
            svg.bars(
                labels,
                {"training": score["reference_shares"], "served now": score["served_shares"]},
                title="Score distribution: training vs now (share per reference bin)",
            )
        )
        out.append(
            _table(
                columns,
                ["name", "psi", "status", "rows", "missing_share", "reference_missing_share"],
                empty="",
            )
        )
    return "".join(out) + "</section>"


def _freshness_section(freshness: dict[str, Any]) -> str:
    out = ["<section id='freshness'><h2>Feature freshness (last materialization per view)</h2>"]
    if freshness.get("note"):
        out.append(f"<p class='empty'>{escape(freshness['note'])}</p>")
    out.append(
        _table(
            freshness.get("views", []),
            ["view", "materialized_at", "age_hours", "data_end", "rows", "status"],
            empty="No views recorded.",
        )
    )
    return "".join(out) + "</section>"


def _skew_section(skew: dict[str, Any]) -> str:
    out = ["<section id='skew'><h2>Training/serving skew</h2>"]
    if "requests" in skew:
        out.append(
            f"<p id='skew-summary'>{skew['requests']} logged answers, {skew['vectors']} item "
            f"vectors rebuilt through the training-set path (Feast point in time); "
            f"<b>{skew['mismatches_total']}</b> feature values differ"
            + "".join(f"; {n} {escape(k)}" for k, n in skew["not_rebuilt"].items())
            + ".</p>"
        )
    if skew.get("note"):
        out.append(f"<p class='empty'>{escape(skew['note'])}</p>")
    out.append(
        _table(
            skew.get("features", []),
            ["feature", "compared", "mismatches", "example"],
            empty="No comparison.",
        )
    )
    return "".join(out) + "</section>"


def _nightly_section(nightly: dict[str, Any] | None) -> str:
    out = ["<section id='nightly'><h2>Nightly batch chain</h2>"]
    if not nightly:
        return "".join(out) + "<p class='empty'>Not checked.</p></section>"
    css = "breach" if nightly.get("stalled") else "ok" if nightly.get("recorded") else "empty"
    out.append(f"<p id='nightly-status' class='{css}'>{escape(nightly.get('detail', ''))}</p>")
    last = nightly.get("last_run")
    if last:
        out.append(
            _table([last], ["run_id", "outcome", "started_at", "ended_at", "stopped_at"], empty="")
        )
    return "".join(out) + "</section>"


def write(doc: dict[str, Any], folder: Any) -> tuple[Any, Any]:
    """Write monitor.json and report.html into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "monitor.json"
    html_path = folder / "report.html"
    json_path.write_text(json.dumps(doc, indent=1, allow_nan=False))
    html_path.write_text(html(doc))
    return json_path, html_path


__all__ = ["ACT", "document", "html", "online_figures", "write"]
