"""`recsys nightly` on a copy of the session world: real dbt, Feast, Redis, LightGBM, lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ops import nightly as night
from recsys import registry
from recsys.config import Settings
from recsys.monitoring import report
from recsys.monitoring.drift import Thresholds
from recsys.pipeline import nightly
from serving.routes.health import nightly_status
from tests.serving.conftest import start_server, world_settings
from tests.serving.copies import night_copy
from tests.world import TINY_TRAIN, WORLD_EVENTS, World, environment

REPO = Path(__file__).resolve().parents[2]


def _copy(world: World, tmp_path: Path, database: int) -> dict[str, str]:
    return night_copy(world, tmp_path / "data", database)


OPTIONS = night.NightOptions(
    max_train_queries=TINY_TRAIN.max_train_queries,
    max_valid_queries=TINY_TRAIN.max_valid_queries,
    max_test_queries=TINY_TRAIN.max_test_queries,
)


def test_a_night_runs_the_whole_chain_and_records_it(world: World, tmp_path: Path) -> None:
    env = _copy(world, tmp_path, 12)
    data_dir = Path(env["RECSYS_DATA_DIR"])
    lines: list[str] = []
    with environment(env):
        record = night.run_night(OPTIONS, say=lines.append)
    assert record.outcome == "ok", json.dumps(record.as_dict(), indent=1)
    assert [s.name for s in record.steps] == list(night.STEP_NAMES)
    assert all(s.outcome == "ok" and s.seconds is not None for s in record.steps)
    on_disk = json.loads((data_dir / "nightly" / "last_success.json").read_text())
    assert on_disk["run_id"] == record.run_id and on_disk["landing"]
    steps = {s["name"]: s for s in on_disk["steps"]}
    # the first night: every landing file is new (events, items, users); dbt read the events
    assert steps["dbt_build"]["rows"] == WORLD_EVENTS
    landing = data_dir / "landing"
    side = pq.read_metadata(landing / "items.parquet").num_rows
    side += pq.read_metadata(landing / "users.parquet").num_rows
    assert steps["ingest"]["rows"] == WORLD_EVENTS + side
    # the new model was promoted and scored every active user with it
    version = registry.current_version(data_dir / "models")
    assert version != world.model_version and version in steps["gate"]["detail"]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "select count(distinct user_id), list(distinct model_version) "
            "from batch_recommendations"
        ).fetchone()
    assert row is not None
    users, versions = row
    assert users == steps["batch_score"]["rows"] > 0 and versions == [version]
    assert Path(record.log).read_text()  # the steps' own output went to the log
    assert any("full log" in line for line in lines)
    status = nightly.status(data_dir, max_age_hours=36)
    assert status["stalled"] is False and status["last_success_at"] == record.ended_at
    # the server's /ready reports the night (informative: readiness is the checks' alone)
    settings = world_settings(world, data_dir=data_dir, redis_url=env["REDIS_URL"])
    live, server, thread = start_server(settings)
    try:
        with live.client() as client:
            body = client.get("/ready").json()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert body["nightly"]["recorded"] and body["nightly"]["stalled"] is False
    assert body["nightly"]["last_outcome"] == "ok"
    assert body["nightly"]["last_success_at"] == record.ended_at
    assert body["ready"] == all(check["ok"] for check in body["checks"].values())
    later = datetime.now(UTC) + timedelta(hours=40)
    assert nightly.status(data_dir, max_age_hours=36, now=later)["stalled"] is True


def test_a_failing_step_stops_its_dependents_and_is_recorded(world: World, tmp_path: Path) -> None:
    env = _copy(world, tmp_path, 13)
    data_dir = Path(env["RECSYS_DATA_DIR"])
    # a landing file that is not Parquet (a real fault): the ingest step names it
    (data_dir / "landing" / "events" / "zz-broken.parquet").write_bytes(b"not parquet at all")
    before = registry.current_version(data_dir / "models")
    with environment(env):
        record = night.run_night(OPTIONS, say=lambda _: None)
    outcomes = {s.name: s.outcome for s in record.steps}
    assert outcomes == {
        "ingest": "failed",
        "dbt_build": "skipped",
        "feast": "skipped",
        "train": "skipped",
        "gate": "skipped",
        "batch_score": "skipped",
    }
    assert record.outcome == "failed" and nightly.exit_code(record) == nightly.EXIT_FAILED
    assert "zz-broken.parquet cannot be read" in record.step("ingest").detail
    assert "feast did not succeed" in record.step("train").detail
    assert registry.current_version(data_dir / "models") == before  # nothing trained
    assert not (data_dir / "nightly" / "last_success.json").exists()
    status = nightly.status(data_dir, max_age_hours=36)
    assert status["stalled"] is True and status["last_run"]["stopped_at"] == "ingest"
    # /ready says so (without failing readiness) and the monitoring report breaches on it
    ready = nightly_status(Settings(data_dir=data_dir, max_night_age_hours=36))
    assert ready.stalled and ready.last_outcome == "failed" and ready.recorded
    doc = report.document(
        since=datetime.now(UTC),
        online={},
        drift=[],
        thresholds=Thresholds(),
        freshness={},
        skew={},
        nightly=status,
    )
    assert doc["status"] == "breach"
    assert doc["breaches"] == [f"nightly: {status['detail']}"]
    assert "id='nightly-status' class='breach'" in report._nightly_section(status)


def test_a_refused_model_stops_batch_scoring(tmp_path: Path) -> None:
    ran: list[str] = []

    def gate() -> nightly.StepOutput:
        raise nightly.GateRefusedError("v2 not promoted: NDCG@10 0.1 < 0.2")

    def step(name: str) -> nightly.StepOutput:
        ran.append(name)
        return nightly.StepOutput(5)

    chain = [
        nightly.Step("train", lambda: step("train")),
        nightly.Step("gate", gate, needs=("train",)),
        nightly.Step("batch_score", lambda: step("batch_score"), ("gate",)),
    ]
    with environment({"RECSYS_DATA_DIR": str(tmp_path)}):
        record = night.run_night(chain=chain, say=lambda _: None)
    assert ran == ["train"]
    assert [s.outcome for s in record.steps] == ["ok", "refused", "skipped"]
    assert record.outcome == "refused" and nightly.exit_code(record) == nightly.EXIT_REFUSED


def test_a_second_concurrent_night_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": "redis://127.0.0.1:1/0"}
    with nightly.night_lock(data_dir):  # this process is the first night
        second = subprocess.run(
            [sys.executable, "-m", "ops", "nightly"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert second.returncode == nightly.EXIT_LOCKED, second.stderr
    assert "another nightly run holds" in second.stderr and str(os.getpid()) in second.stderr
    assert not (data_dir / "nightly" / "last.json").exists()  # it ran nothing
    # released: the lock can be taken again
    with nightly.night_lock(data_dir):
        pass
