"""`recsys monitor` on written impression traffic: figures, breaches, and the page in Chromium.

The traffic is made so the answers are known: feature f_stable is drawn as in training,
f_shift one standard deviation and a half away (PSI far above 0.25), so the run must exit 1
naming f_shift and only it; every online figure must equal the dbt tables it comes from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from playwright.sync_api import Browser, sync_playwright

from recsys.monitoring import reference
from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import data_dir_env, write_events, write_served
from tests.monitoring.impression_lines import impression, write_impressions
from tests.serving.test_page import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    data_dir: Path
    exit_code: int
    output: str
    doc: dict[str, Any]

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.data_dir / "warehouse.duckdb"), read_only=True) as con:
            cursor = con.execute(sql)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _write_world(data_dir: Path) -> None:
    rng = np.random.default_rng(11)
    history = [
        {"event_id": f"h{u}-{n}", "user_id": f"u{u}", "session_id": f"old{u}",
         "item_id": f"i{(u * 7 + n) % 100}", "event_type": "view",
         "event_timestamp": f"2024-03-01T09:{n:02d}:00"}
        for u in range(50) for n in range(3)
    ]  # fmt: skip
    write_events(data_dir, "history", history, source_file="history.csv")
    trained = reference.Reference(
        features={
            "f_stable": reference.distribution(rng.normal(size=20_000)),
            "f_shift": reference.distribution(rng.normal(size=20_000)),
        },
        score=reference.distribution(rng.normal(size=20_000)),
        top_k=20,
        queries=1_000,
        source="test",
    )
    (data_dir / "models" / "m1").mkdir(parents=True)
    (data_dir / "models" / "m1" / reference.FILE_NAME).write_text(trained.to_json())
    lines, served = [], []
    for n in range(400):
        day = "2024-03-02" if n < 300 else "2024-03-03"
        version = "m1" if n < 300 else "m2"
        at = f"{day}T{10 + n % 10:02d}:{n % 60:02d}:00+00:00"
        user = f"u{n % 60}"  # u50..u59 have no history: cold-start
        items = [f"i{(n * 3 + j) % 100}" for j in range(5)]
        scores = sorted(rng.normal(size=5).tolist(), reverse=True)
        vectors = {item: [float(rng.normal()), float(rng.normal(loc=1.5))] for item in items}
        lines.append(
            impression(f"r{n}", at, user, items, session_id=f"s{n}", model_version=version,
                       degraded=n % 10 == 0, reason="redis unavailable" if n % 10 == 0 else None,
                       timings_ms={"features": 0.5 + n % 3, "rank": 1.0}, scores=scores,
                       feature_names=["f_stable", "f_shift"], vectors=vectors)
        )  # fmt: skip
        if n % 4 == 0:  # a click at rank 1 + n % 5, by request_id
            served.append({"event_id": f"c{n}", "user_id": user, "session_id": f"s{n}",
                           "item_id": items[n % 5], "event_type": "view",
                           "event_timestamp": at.replace(":00+", ":30+"),
                           "request_id": f"r{n}"})  # fmt: skip
        if n % 8 == 0:  # and a purchase of it, without request_id (session window)
            served.append({"event_id": f"p{n}", "user_id": user, "session_id": f"s{n}",
                           "item_id": items[n % 5], "event_type": "purchase",
                           "event_timestamp": at.replace(":00+", ":50+")})  # fmt: skip
    write_impressions(data_dir, "impressions-20240302-host-1.jsonl", lines)
    write_served(data_dir, "served-20240302.jsonl", served)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data_dir = tmp_path_factory.mktemp("monitor") / "data"
    _write_world(data_dir)
    with data_dir_env(data_dir):
        dbt_runner.build(vars={"build_time": "2024-03-04T00:00:00Z"}, quiet=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RECSYS_WAREHOUSE")}
    env["RECSYS_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "ops", "monitor", "--since", "2024-03-01", "--no-build",
         "--skew-sample", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    doc_path = data_dir / "reports" / "monitor" / "monitor.json"
    assert doc_path.exists(), done.stdout + done.stderr
    yield Run(
        data_dir, done.returncode, done.stdout + done.stderr, json.loads(doc_path.read_text())
    )


def test_a_drifted_feature_breaches_and_sets_the_exit_code(run: Run) -> None:
    assert run.exit_code == 1, run.output
    assert run.doc["breaches"] == ["drift: m1: f_shift PSI > 0.25"]
    assert "BREACH drift: m1: f_shift" in run.output
    assert str(run.data_dir / "reports" / "monitor" / "report.html") in run.output
    m1, m2 = run.doc["drift"]
    assert m1["model_version"] == "m1"
    by_name = {c["name"]: c for c in m1["features"]}
    assert by_name["f_shift"]["status"] == "act"
    assert by_name["f_stable"]["status"] == "stable"
    assert by_name["f_stable"]["psi"] < 0.1
    assert m1["score"]["status"] == "stable"
    assert by_name["f_stable"]["rows"] == 270 * 5  # degraded answers are left out
    assert m2["note"].startswith("no reference.json")


def test_online_figures_equal_the_dbt_tables(run: Run) -> None:
    mart = run.rows("select * from mart_online_metrics order by day, model_version")
    daily = run.doc["online"]["daily"]
    assert len(daily) == len(mart) == 2
    for ours, theirs in zip(daily, mart, strict=True):
        for key, value in theirs.items():
            if isinstance(value, float):
                assert ours[key] == pytest.approx(value, abs=1e-6), key
            elif key != "day":
                assert ours[key] == value, key
    totals = run.doc["online"]["totals"]
    assert totals["answers"] == 400
    assert totals["answers_clicked"] == 100  # every fourth answer
    assert totals["ctr_at_k"] == pytest.approx(0.25)
    assert totals["conversion"] == pytest.approx(50 / 400)
    assert totals["degraded_share"] == pytest.approx(0.1)
    # u50..u59 (60 answers) have no history; their own clicks make their later answers warm
    cold = run.rows("select avg(is_cold_start_user::int) as share from fct_recommendation_requests")
    assert totals["cold_start_share"] == pytest.approx(cold[0]["share"])
    assert 0.1 < totals["cold_start_share"] <= 0.15
    ranks = {r["rank"]: r["clicks"] for r in run.doc["online"]["click_ranks"]}
    assert ranks == {1: 20, 2: 20, 3: 20, 4: 20, 5: 20}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run `make browser` to install Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        yield launched
        launched.close()


def test_the_report_opens_offline_in_chromium_with_its_figures(run: Run, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((run.data_dir / "reports" / "monitor" / "report.html").as_uri())
    assert page.locator("#status").inner_text() == "breach"
    assert page.locator("#kpis [data-name='answers'] b").inner_text() == "400"
    assert page.locator("#online table").first.locator("tbody tr").count() == 2
    bars = page.locator("#drift svg rect title").evaluate_all("els => els.map(e => e.textContent)")
    assert any(t.startswith("f_shift: PSI") and t.endswith("(act)") for t in bars), bars
    assert any(t.startswith("f_stable: PSI") and t.endswith("(stable)") for t in bars), bars
    assert page.locator("#online svg").count() >= 4  # CTR, conversion, click ranks, degraded
    assert page.locator("#latency + table tbody tr").count() >= 3
    assert [url for url in requested if not url.startswith("file://")] == []
    assert errors == []
    context.close()
