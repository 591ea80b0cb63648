"""`recsys tradeoffs` on the test world: every variant scored, and the numbers hang together.

A few hundred queries keep it fast; the checks are about consistency (a re-ranked batch list
has the batch list's hit rate, the session signal matters on generated sessions, intervals
contain their values), not about the figures themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.world import World, environment

QUERIES = 300


@pytest.fixture(scope="module")
def report(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    from ops.tradeoffs.cli import tradeoffs

    out = tmp_path_factory.mktemp("tradeoffs")
    with environment(world.env):
        tradeoffs(max_queries=QUERIES, resamples=100, seed=3, out=out)
    return json.loads((out / "tradeoffs.json").read_text()), out


def _rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["variant"]: row for row in doc["variants"]}


def test_every_variant_is_scored_with_intervals_cost_and_storage(
    report: tuple[dict[str, Any], Path], world: World
) -> None:
    doc, _ = report
    assert doc["model_version"] == world.model_version
    assert 0 < doc["test_window"]["queries"] <= QUERIES
    assert doc["test_window"]["queries_with_batch_list"] > 0
    rows = doc["variants"]
    assert {r["group"] for r in rows} == {"variant", "staleness", "delay"}
    assert sorted(r["feature_age_days"] for r in rows if r["group"] == "staleness") == [1, 3, 7, 14]
    assert sorted(r["session_delay_s"] for r in rows if r["group"] == "delay") == [60, 300, 1800]
    for row in rows:
        assert row["queries"] == doc["test_window"]["queries"]
        # every feature age has its own nightly lists (fewer when users had no row yet)
        with_list = doc["test_window"]["queries_with_batch_list"]
        if row["feature_age_days"] == 0:
            assert row["queries_with_batch_list"] == with_list
        else:
            assert 0 < row["queries_with_batch_list"] <= with_list
        for name in ("HR@20", "MRR@20", "NDCG@10"):
            metric = row["metrics"][name]
            low, high = metric["ci95"]
            assert 0 <= low <= metric["value"] <= high <= 1, (row["variant"], name, metric)
        assert row["latency_ms"]["p50"] <= row["latency_ms"]["p99"]
        cost = row["cpu_ms_per_1000"]
        assert cost["total"] == pytest.approx(cost["request_path"] + cost["batch_job"], abs=1e-2)
        assert row["redis_bytes_per_user"] > 0
    by_name = _rows(doc)
    batch = by_name["batch only"]
    assert batch["cpu_ms_per_1000"]["request_path"] == 0 < batch["cpu_ms_per_1000"]["batch_job"]
    online = by_name["online, in-session"]
    assert online["cpu_ms_per_1000"]["batch_job"] == 0 < online["cpu_ms_per_1000"]["request_path"]
    # what each variant keeps in Redis: the batch list only, the user row and session, or all
    hybrid = by_name[doc["reference"]]
    assert batch["redis_bytes_per_user"] < hybrid["redis_bytes_per_user"]
    assert online["redis_bytes_per_user"] < hybrid["redis_bytes_per_user"]
    reads = doc["redis_bytes"]["read_ms"]
    assert reads["reads"] > 0
    for kind in ("user_session_and_batch", "batch_list_only"):
        assert 0 < reads[kind]["p50"] <= reads[kind]["p99"]


def test_the_session_signal_beats_the_batch_list_on_generated_sessions(
    report: tuple[dict[str, Any], Path],
) -> None:
    doc, _ = report
    rows = _rows(doc)
    mrr = {name: row["metrics"]["MRR@20"] for name, row in rows.items()}
    reference = mrr[doc["reference"]]
    # generated sessions are driven by what the visitor just looked at
    assert mrr["batch only"]["change_ci95"][1] < 0
    assert mrr["online, in-session"]["value"] > mrr["batch only"]["value"]
    assert mrr["session 30 min late"]["value"] < reference["value"]
    # the re-ranked list holds the batch list's items: same hits, better order
    hr = {name: row["metrics"]["HR@20"]["value"] for name, row in rows.items()}
    assert hr["hybrid: batch list re-ranked by the session"] == pytest.approx(hr["batch only"])
    assert mrr["hybrid: batch list re-ranked by the session"]["value"] > mrr["batch only"]["value"]
    # the reference's own change is measured against batch only
    assert reference["change_against"] == "batch only" and reference["change"] > 0


def test_the_page_has_the_curves_the_scatter_and_a_conclusion_from_the_numbers(
    report: tuple[dict[str, Any], Path],
) -> None:
    from ops.tradeoffs.page import conclusion

    doc, out = report
    page = (out / "report.html").read_text()
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 3
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed: browsers draw nothing of a broken one
    assert "Quality vs staleness" in page and "vs CPU ms per 1,000 requests" in page
    sentences = conclusion(doc)
    late = next(s for s in sentences if s.startswith("A session signal 30 min late"))
    change = _rows(doc)["session 30 min late"]["metrics"]["MRR@20"]["change"]
    assert f"{abs(change):.1%}" in late
    assert all(s in page for s in sentences[:3])
    assert (out / "tradeoffs.log").read_text().count("\n") > 10
