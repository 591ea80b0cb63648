"""The trade-off report's table, conclusion and HTML page, all computed from tradeoffs.json.

Charts come from recsys/monitoring/svg.py (inline SVG: the page opens offline).
"""

from __future__ import annotations

from html import escape
from typing import Any

from recsys.monitoring import svg

KEY_METRIC = "MRR@20"
SHOWN = ("HR@20", "MRR@20", "NDCG@10")


def table(doc: dict[str, Any]) -> str:
    """One line per variant: metrics with intervals, CPU, latency, Redis bytes."""
    head = (
        f"{'variant':46} {'HR@20':>8} {'MRR@20':>8} {'95% CI':>17} {'NDCG@10':>8} "
        f"{'vs ref':>8} {'CPU ms/1k':>10} {'p50 ms':>7} {'p99 ms':>7} {'Redis B':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in doc["variants"]:
        m = row["metrics"]
        low, high = m[KEY_METRIC]["ci95"]
        change = "ref" if row["variant"] == doc["reference"] else f"{m[KEY_METRIC]['change']:+.1%}"
        stored = row["redis_bytes_per_user"]
        lines.append(
            f"{row['variant'][:46]:46} {m['HR@20']['value']:>8.4f} {m['MRR@20']['value']:>8.4f} "
            f"[{low:.4f},{high:.4f}] {m['NDCG@10']['value']:>8.4f} {change:>8} "
            f"{row['cpu_ms_per_1000']['total']:>10.1f} {row['latency_ms']['p50']:>7.3f} "
            f"{row['latency_ms']['p99']:>7.3f} {'-' if stored is None else f'{stored:.0f}':>8}"
        )
    return "\n".join(lines)


def conclusion(doc: dict[str, Any]) -> list[str]:
    """Plain sentences read off the numbers (each change against the reference hybrid)."""
    rows = {r["variant"]: r for r in doc["variants"]}
    ref = rows[doc["reference"]]
    out = []
    for row in doc["variants"]:
        if row is ref:
            continue
        m = row["metrics"][KEY_METRIC]
        low, high = m["change_ci95"]
        if low == high == m["change"] == 0:
            out.append(f"{_what(row)} ranks every query exactly as the reference does.")
            continue
        out.append(
            f"{_what(row)} {_change(m['change'], low, high)} {KEY_METRIC} ({_sure(low, high)})."
        )
    batch = next((r for r in doc["variants"] if r["mode"] == "batch"), None)
    if batch is not None:
        out.append(
            f"Cost: the reference hybrid spends {ref['cpu_ms_per_1000']['total']:.0f} CPU ms per "
            f"1,000 requests ({ref['cpu_ms_per_1000']['request_path']:.0f} on the request path, "
            f"p99 {ref['latency_ms']['p99']:.1f} ms of compute while the user waits); batch only "
            f"spends {batch['cpu_ms_per_1000']['total']:.0f} (the nightly job's share) and "
            f"answers with a lookup."
        )
    reads = (doc.get("redis_bytes") or {}).get("read_ms") or {}
    full, lists = reads.get("user_session_and_batch"), reads.get("batch_list_only")
    if full and lists:
        out.append(
            f"Reading a request's rows from Redis takes p50 {full['p50']:.2f} / p99 "
            f"{full['p99']:.2f} ms (user, batch list and session in one round trip); the batch "
            f"list alone p50 {lists['p50']:.2f} / p99 {lists['p99']:.2f} ms."
        )
    return out


def _what(row: dict[str, Any]) -> str:
    if row["group"] == "staleness":
        return (
            f"Features, batch lists and catalog {row['feature_age_days']} d stale (co-visitation "
            f"from a snapshot {row['catalog_age_days']:.1f} d older)"
        )
    if row["group"] == "delay":
        return f"A session signal {_duration(row['session_delay_s'])} late"
    return f"{row['variant'][0].upper()}{row['variant'][1:]}"


def _change(change: float, low: float, high: float) -> str:
    verb = "loses" if change < 0 else "gains"
    return f"{verb} {abs(change):.1%} [{low:+.1%}, {high:+.1%}]"


def _sure(low: float, high: float) -> str:
    if high < 0:
        return "worse, beyond noise"
    if low > 0:
        return "better, beyond noise"
    return "within noise"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _group(rows: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["group"] == group]


def render(doc: dict[str, Any]) -> str:
    """The HTML page: conclusion, curves, the quality-vs-cost scatter and the full table."""
    rows = doc["variants"]
    ref = next(r for r in rows if r["variant"] == doc["reference"])
    stale = [ref, *sorted(_group(rows, "staleness"), key=lambda r: r["feature_age_days"])]
    late = [ref, *sorted(_group(rows, "delay"), key=lambda r: r["session_delay_s"])]
    stale_x = [f"{r['feature_age_days']} d" for r in stale]
    late_x = ["0" if r is ref else _duration(r["session_delay_s"]) for r in late]
    charts = [
        svg.lines(
            {
                m: list(zip(stale_x, [r["metrics"][m]["value"] for r in stale], strict=True))
                for m in SHOWN
            },
            title="Quality vs staleness of features, batch lists and catalog",
            x_order=stale_x,
        ),
        svg.lines(
            {
                m: list(zip(late_x, [r["metrics"][m]["value"] for r in late], strict=True))
                for m in SHOWN
            },
            title="Quality vs delay of the session signal",
            x_order=late_x,
        ),
        svg.scatter(
            [
                (r["variant"], r["cpu_ms_per_1000"]["total"], r["metrics"][KEY_METRIC]["value"])
                for r in rows
            ],
            title=f"{KEY_METRIC} vs CPU ms per 1,000 requests",
            x_label="CPU ms per 1,000 requests",
            y_label=KEY_METRIC,
        ),
    ]
    legend = "".join(f"<li>{escape(r['variant'])}</li>" for r in rows)
    sentences = "".join(f"<li>{escape(s)}</li>" for s in conclusion(doc))
    header = "".join(
        f"<th>{escape(h)}</th>"
        for h in (
            "variant",
            *(f"{m} [95% CI]" for m in SHOWN),
            f"{KEY_METRIC} vs reference",
            "CPU ms / 1k (request + batch)",
            "latency p50 / p99 ms",
            "Redis bytes / user",
        )
    )
    body = []
    for r in rows:
        cells = [escape(r["variant"])]
        for m in SHOWN:
            v = r["metrics"][m]
            cells.append(f"{v['value']:.4f} [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]")
        k = r["metrics"][KEY_METRIC]
        cells.append(
            "reference"
            if r is ref
            else f"{k['change']:+.1%} [{k['change_ci95'][0]:+.1%}, {k['change_ci95'][1]:+.1%}]"
        )
        c = r["cpu_ms_per_1000"]
        cells.append(f"{c['total']:.1f} ({c['request_path']:.1f} + {c['batch_job']:.1f})")
        cells.append(f"{r['latency_ms']['p50']:.3f} / {r['latency_ms']['p99']:.3f}")
        stored = r["redis_bytes_per_user"]
        cells.append("-" if stored is None else f"{stored:.0f}")
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    notes = "".join(
        f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in doc["cost_notes"].items()
    )
    window = doc["test_window"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Batch, online, or both?</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ddd;padding:4px 6px;
text-align:right}}td:first-child,th:first-child{{text-align:left}}svg{{margin:8px 8px 0 0}}</style>
</head><body>
<h1>Batch, online, or both?</h1>
<p>Model {escape(str(doc["model_version"]))}; test window {escape(window["starts_at"])} ..
{escape(window["ends_at"])}: {window["queries"]:,} queries of {window["sessions"]:,} sessions.
{escape(doc["protocol"])}. Intervals: {escape(doc["confidence_intervals"])}.</p>
<h2>Conclusion</h2><ul>{sentences}</ul>
<h2>Curves</h2>{"".join(charts)}
<p>Points of the scatter:</p><ol>{legend}</ol>
<h2>Every variant</h2><table><tr>{header}</tr>{"".join(body)}</table>
<h2>How cost was measured</h2><ul>{notes}</ul>
<p>Machine: {escape(str(doc["machine"]))}</p>
</body></html>
"""
