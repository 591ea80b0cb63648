"""Champion/challenger end to end: a popularity-only challenger is found worse on replayed traffic.

A copy of the world gets a second, deliberately worse model version (LightGBM that reads only
the item's popularity), started as the challenger for half the users with
`recsys models challenge`. Test-window sessions are replayed through the live API (a GET
/recommendations before each event, the event posted with the answer's request_id when its
item was shown); `recsys experiment report` then rebuilds the outcome tables and must call
the challenger worse.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb
import numpy as np
import pytest
from typer.testing import CliRunner

from ops.cli import app
from recsys import experiments, model_check, registry
from recsys.monitoring.impressions import problems, read_impressions
from tests.serving.conftest import start_server, world_settings
from tests.serving.replay import replay_sessions
from tests.world import World, environment

REQUESTS = 2000
K = 10
POPULARITY_ONLY = "v99990101-000000-popular"


def popularity_only_version(models: Path, current: Path) -> str:
    """A sealed version scoring items by their popularity alone (every other column constant)."""
    meta = json.loads((current / "metadata.json").read_text())
    features = meta["features"]
    column = features.index("popularity")
    with np.load(current / model_check.PROBE_FILE) as data:
        probe = data["x"]
    x = np.zeros_like(probe)
    x[:, column] = probe[:, column]
    label = np.argsort(np.argsort(np.nan_to_num(probe[:, column], nan=-1.0))).astype(float)
    data_set = lgb.Dataset(x, label=label, feature_name=features, params={"verbose": -1})
    params = {"objective": "regression", "num_leaves": 15, "min_data_in_leaf": 3, "verbose": -1}
    text = lgb.train(params, data_set, num_boost_round=30).model_to_string()
    with model_check.scratch_dir() as scratch:
        files, integrity = model_check.seal(text, probe, Path(scratch))
        metadata = {
            **meta,
            "version": POPULARITY_ONLY,
            "test_metrics": {},
            model_check.INTEGRITY_KEY: integrity,
        }
        registry.write_version(
            models, POPULARITY_ONLY, {**files, "metadata.json": json.dumps(metadata)}
        )
    return POPULARITY_ONLY


def _sessions(world: World) -> list[list[tuple[str, str, str, str, str]]]:
    """Test-window sessions of 2+ events, newest first, about REQUESTS requests in all."""
    with duckdb.connect() as con:
        rows = con.execute(
            f"""
            with sessions as (
                select session_id, max(event_timestamp) as ended_at
                from read_parquet('{world.exports}/fct_events.parquet')
                group by all having count(*) >= 2
            )
            select session_id, user_id, item_id, event_type,
                strftime(event_timestamp at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00')
            from read_parquet('{world.exports}/fct_events.parquet')
            join sessions using (session_id)
            where session_position <= 12
            order by ended_at desc, session_id, session_position
            """
        ).fetchall()
    by_session: dict[str, list[tuple[str, str, str, str, str]]] = {}
    requests = 0
    for row in rows:
        if row[0] not in by_session and requests >= REQUESTS:
            break
        events = by_session.setdefault(row[0], [])
        if events:
            requests += 1  # one request before every event but the first
        events.append(row)
    return list(by_session.values())


def _invoke(env: dict[str, str], *args: str) -> Any:
    with environment(env):
        return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.fixture(scope="module")
def replayed(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = tmp_path_factory.mktemp("experiment") / "data"
    ignore = shutil.ignore_patterns("run", "served", "impressions", "reports")
    shutil.copytree(world.data_dir, data_dir, symlinks=True, ignore=ignore)
    env = {"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": world.redis_url}
    models = data_dir / "models"
    version = popularity_only_version(models, registry.current_dir(models))  # type: ignore[arg-type]
    started = _invoke(env, "models", "challenge", version, "--share", "0.5", "--salt", "e2e")
    assert started.exit_code == 0, started.output
    challenge = experiments.read_challenge(models)
    assert challenge is not None and challenge.version == version
    live, server, thread = start_server(world_settings(world, data_dir=data_dir))
    try:
        with live.client() as client:
            answers, _ = replay_sessions(client, _sessions(world), prefix="exp", k=K)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    report = _invoke(env, "experiment", "report", "--resamples", "400")
    assert report.exit_code == 0, report.output
    doc = json.loads((data_dir / "reports" / "experiment" / "experiment.json").read_text())
    return {
        "env": env,
        "data_dir": data_dir,
        "version": version,
        "challenge": challenge,
        "answers": answers,
        "output": report.output,
        "doc": doc,
    }


def test_each_user_gets_one_arm_and_that_arm_s_model(
    replayed: dict[str, Any], world: World
) -> None:
    challenge = replayed["challenge"]
    answers = replayed["answers"]
    assert len(answers) >= REQUESTS * 0.9
    versions = {
        experiments.CHAMPION: world.model_version,
        experiments.CHALLENGER: replayed["version"],
    }
    arms = {a["arm"] for a in answers}
    assert arms == {experiments.CHAMPION, experiments.CHALLENGER}
    for answer in answers:
        assert answer["arm"] == challenge.arm_of(answer["user_id"])
        if not answer["degraded"]:
            assert answer["model_version"] == versions[answer["arm"]]


def test_the_impression_log_carries_the_arm(replayed: dict[str, Any]) -> None:
    challenge = replayed["challenge"]
    lines = list(read_impressions(replayed["data_dir"] / "landing" / "impressions"))
    assert len(lines) == len(replayed["answers"])
    for line in lines:
        assert problems(line) == []
        assert line["arm"] == challenge.arm_of(line["user_id"])
        assert list(line)[list(line).index("model_version") + 1] == "arm"


def test_the_report_calls_the_popularity_only_challenger_worse(replayed: dict[str, Any]) -> None:
    doc = replayed["doc"]
    champion, challenger = doc["arms"]["champion"], doc["arms"]["challenger"]
    assert champion["impressions"] + challenger["impressions"] == len(replayed["answers"])
    assert champion["ctr"]["value"] > challenger["ctr"]["value"]
    assert doc["difference"]["ctr"]["ci95"][1] < 0
    assert doc["verdict"].startswith("worse"), doc["verdict"]
    assert "verdict (ctr): worse" in replayed["output"]
    assert set(doc["model_versions"]["challenger"]) == {replayed["version"]}


def test_ending_the_experiment_keeps_its_report_and_promotion_goes_through_the_check(
    replayed: dict[str, Any], world: World
) -> None:
    env, models = replayed["env"], replayed["data_dir"] / "models"
    ended = _invoke(env, "models", "end-challenge")
    assert ended.exit_code == 0, ended.output
    assert experiments.read_challenge(models) is None
    again = _invoke(env, "experiment", "report", "--ended", "--no-build", "--resamples", "50")
    assert again.exit_code == 0 and "verdict (ctr): worse" in again.output, again.output
    none = _invoke(env, "experiment", "report", "--no-build")
    assert none.exit_code == 1
    # a challenger whose files changed since it was sealed is refused, and current stays
    _invoke(env, "models", "challenge", replayed["version"], "--share", "0.5")
    (models / replayed["version"] / "model.txt").write_text("tree\n")
    promoted = _invoke(env, "models", "end-challenge", "--promote")
    assert promoted.exit_code == 1 and "Refused" in promoted.output
    assert registry.current_version(models) == world.model_version
