"""The HTML evaluation report: one self-contained file (plots embedded) per model version."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import pandas as pd

from training.evaluate import METRICS, QUERY_SETS


def render_html(
    *, metadata: dict[str, Any], metric_doc: dict[str, Any], tables: dict[str, pd.DataFrame]
) -> str:
    """Return the report for one training run as an HTML string."""
    overall = tables["overall"]
    lift = metric_doc["lift_over_best_baseline"]
    recall = pd.DataFrame(metric_doc["candidate_recall"])
    query_sets = "".join(
        f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>" for k, v in QUERY_SETS.items()
    )
    sections = [
        ("Query sets (every table names the one it counts)", f"<ul>{query_sets}</ul>"),
        (
            f"Ranker vs the best of all baselines ({lift['query_set']}: {lift['queries']:,} "
            f"queries in {lift['sessions']:,} sessions)",
            f"<p>{html.escape(lift['confidence_intervals'])}; the lift in each resample is "
            "against that resample's best baseline.</p>"
            + _table(pd.DataFrame(lift["metrics"]), percent=("lift", "lift_ci95")),
        ),
        ("Metrics per method (test window)", _table(overall)),
        ("", _img(_bars_per_method(overall))),
        (
            "Metrics by session length",
            _img(_by_length(tables["by_length"])) + _table(tables["by_length"]),
        ),
        ("Slices", _table(tables["slices"])),
        (
            "Candidate recall (true next item among the first N candidates, per query set)",
            _table(recall) + _img(_recall(recall)),
        ),
        (
            "Candidate recall per generator (k>=1: each generator's own first 300)",
            "<p><code>only</code>: the share of queries no other generator finds; "
            "<code>pool+</code>: recall of the fused pool united with a list that is not a "
            "generator (a session baseline's first 300, so up to 600 items): the most "
            "adopting it could add.</p>"
            + _table(pd.DataFrame(metric_doc.get("candidate_recall_per_generator", []))),
        ),
        (
            "Feature importance (gain, top 25)",
            _img(_importance(metric_doc["feature_importance_gain"])),
        ),
    ]
    promotion = metadata["promotion"]
    status = "ok" if promotion["promoted"] else "no"
    windows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{w['starts_at']}</td><td>{w['ends_at']}</td>"
        f"<td>{w['queries']:,}</td><td>{w['rows']:,}</td></tr>"
        for name, w in metadata["data_windows"].items()
    )
    body = "".join(
        (f"<h2>{html.escape(title)}</h2>" if title else "") + content for title, content in sections
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Model {html.escape(metadata["version"])}</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }}
 table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
 td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
 th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
 img {{ max-width: 100%; }} .ok {{ color: #17642b; }} .no {{ color: #9b1c1c; }}
</style></head><body>
<h1>Model {html.escape(metadata["version"])}</h1>
<p>Protocol: {html.escape(metric_doc["protocol"])}.
Feature service <code>{html.escape(metadata["feature_service"])}</code>,
git {html.escape(metadata["git_revision"])}, data {html.escape(metadata["data_fingerprint"])}.</p>
<p class="{status}">Promotion: {html.escape(promotion["reason"])}</p>
<p>Ranker vs best baseline ({html.escape(lift["query_set"])}): {
        ", ".join(
            f"{r['metric']} {_pct(r['lift'])} [{_pct(r['lift_ci95_low'])}, "
            f"{_pct(r['lift_ci95_high'])}] vs {html.escape(r['best_baseline'])}, {r['verdict']}"
            for r in lift["metrics"]
        )
    }</p>
<h2>Data windows</h2>
<table><tr><th>window</th><th>starts</th><th>ends</th><th>queries</th><th>rows</th></tr>{
        windows
    }</table>
{body}
</body></html>
"""


def _table(frame: pd.DataFrame, *, percent: tuple[str, ...] = ()) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if str(column).startswith(percent) and percent:
            shown[column] = shown[column].map(_pct)
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0, na_rep="n/a")


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.1%}"


def _img(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _bars_per_method(overall: pd.DataFrame) -> Any:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    methods = overall["method"].tolist()
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        values = overall.loc[overall["method"] == method, METRICS].iloc[0].to_numpy(float)
        ax.bar([m + i * width for m in range(len(METRICS))], values, width, label=method)
    ax.set_xticks([m + width * (len(methods) - 1) / 2 for m in range(len(METRICS))], METRICS)
    ax.set_ylabel("score")
    ax.legend(frameon=False)
    ax.set_title("Test-window metrics per method")
    return fig


def _by_length(by_length: pd.DataFrame) -> Any:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for method, group in by_length.groupby("method", sort=False):
        ax.plot(group["session_length"], group["NDCG@10"], marker="o", label=method)
    ax.set_xlabel("events known in the session (k)")
    ax.set_ylabel("NDCG@10")
    ax.legend(frameon=False)
    return fig


def _recall(recall: pd.DataFrame) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3))
    sizes = [c for c in recall.columns if str(c).startswith("recall@")]
    width = 0.8 / max(len(recall), 1)
    for i, row in enumerate(recall.to_dict("records")):
        values = [row[c] if row[c] is not None else 0.0 for c in sizes]
        label = f"{row['query_set']} ({row['queries']:,} queries)"
        ax.bar([x + i * width for x in range(len(sizes))], values, width, label=label)
    ax.set_xticks([x + width * (len(recall) - 1) / 2 for x in range(len(sizes))], sizes)
    ax.legend(frameon=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of queries")
    ax.set_title("True next item among the first N candidates")
    return fig


def _importance(importance: dict[str, float]) -> Any:
    top = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:25][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(top) + 1))
    ax.barh([k for k, _ in top], [v for _, v in top], color="#5b8c5a")
    ax.set_xlabel("total gain")
    return fig
