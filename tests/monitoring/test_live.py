"""`recsys monitor` on traffic replayed through the real API of the test world.

Test-window sessions of the world are replayed over HTTP: before each event a
GET /recommendations of the session so far, then the event itself through POST /events,
carrying the answer's request_id when the item was in it. The server writes the impression
log; the monitor then builds the monitoring tables and its report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.serving.conftest import start_server, world_settings
from tests.serving.replay import replay_sessions
from tests.world import World

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 40
EVENTS_PER_SESSION = 6
K = 10


@dataclass
class Replay:
    data_dir: Path
    answers: int
    clicks_with_request_id: int
    exit_code: int
    output: str
    doc: dict[str, Any]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.data_dir / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()


def _sessions(world: World) -> list[list[tuple[str, str, str, str, str]]]:
    """The first events of the last sessions of the log (the test window)."""
    with duckdb.connect() as con:
        rows = con.execute(
            f"""
            with sessions as (
                select session_id, max(event_timestamp) as ended_at, count(*) as events
                from read_parquet('{world.exports}/fct_events.parquet')
                group by all having count(*) >= 3
                order by ended_at desc limit {SESSIONS}
            )
            select session_id, user_id, item_id, event_type,
                strftime(event_timestamp at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00')
            from read_parquet('{world.exports}/fct_events.parquet')
            join sessions using (session_id)
            where session_position <= {EVENTS_PER_SESSION}
            order by session_id, session_position
            """
        ).fetchall()
    by_session: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for row in rows:
        by_session.setdefault(row[0], []).append(row)
    return list(by_session.values())


def run_monitor(
    data_dir: Path, redis_url: str, *args: str, out: str = "monitor"
) -> tuple[int, str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "RECSYS_WAREHOUSE"}
    env.update(RECSYS_DATA_DIR=str(data_dir), REDIS_URL=redis_url)
    done = subprocess.run(
        [sys.executable, "-m", "ops", "monitor", "--since", "1d",
         "--out", str(data_dir / "reports" / out), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    doc_path = data_dir / "reports" / out / "monitor.json"
    assert doc_path.exists(), done.stdout + done.stderr
    return done.returncode, done.stdout + done.stderr, json.loads(doc_path.read_text())


def replay(world: World, data_dir: Path) -> tuple[int, int]:
    """Replay sessions through a live server on `data_dir`; (answers, events with request_id)."""
    settings = world_settings(world, data_dir=data_dir, impression_features_share=1.0)
    live, server, thread = start_server(settings)
    try:
        with live.client() as client:
            answers, clicks = replay_sessions(client, _sessions(world), prefix="web", k=K)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    return len(answers), clicks


@pytest.fixture(scope="module")
def replayed(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    data_dir = tmp_path_factory.mktemp("monitor-live") / "data"
    ignore = shutil.ignore_patterns("run", "served", "impressions", "reports")
    shutil.copytree(world.data_dir, data_dir, symlinks=True, ignore=ignore)
    answers, clicks = replay(world, data_dir)
    code, output, doc = run_monitor(data_dir, world.redis_url)
    yield Replay(data_dir, answers, clicks, code, output, doc)


def test_every_answer_is_in_the_report_and_the_tables(replayed: Replay) -> None:
    totals = replayed.doc["online"]["totals"]
    assert totals["answers"] == replayed.answers
    assert replayed.rows("select count(*) from fct_recommendation_requests") == [
        (replayed.answers,)
    ]
    assert replayed.rows("select count(*) from impressions_quarantine") == [(0,)]
    by_request_id = replayed.rows(
        "select count(*) from fct_recommendation_outcomes where attribution = 'request_id'"
    )[0][0]
    assert by_request_id == replayed.clicks_with_request_id > 0
    mart = replayed.rows("select sum(answers), sum(answers_clicked) from mart_online_metrics")
    assert mart == [(replayed.answers, totals["answers_clicked"])]


def test_drift_judges_every_model_feature_on_the_served_rows(
    replayed: Replay, world: World
) -> None:
    """Every feature of the model and its score, on every shown row, PSI as defined.

    A replay of past sessions against today's features is not the training distribution
    (Redis holds each user's later history, so user_*_days_ago and the user counts move;
    only the first events of recent sessions are replayed), so this run is expected to
    breach on drift, and only on drift: features are fresh and nothing is skewed.
    """
    import json as json_module
    import math

    version = replayed.doc["drift"][0]
    assert version["note"] is None, version["note"]
    metadata = json_module.loads((world.models / "current" / "metadata.json").read_text())
    assert {c["name"] for c in version["features"]} == set(metadata["features"])
    shown = replayed.rows("select count(*) from fct_impressions where not is_degraded")[0][0]
    assert version["score"]["rows"] == shown > 100
    for column in [version["score"], *version["features"]]:
        expected = [s * (1 - column["reference_missing_share"]) for s in column["reference_shares"]]
        actual = [s * (1 - column["missing_share"]) for s in column["served_shares"]]
        expected.append(column["reference_missing_share"])
        actual.append(column["missing_share"])
        psi = sum(
            (max(a, 1e-4) - max(e, 1e-4)) * math.log(max(a, 1e-4) / max(e, 1e-4))
            for e, a in zip(expected, actual, strict=True)
        )
        assert column["psi"] == pytest.approx(psi, abs=1e-3), column["name"]
    breaches = replayed.doc["breaches"]
    assert breaches and all(b.startswith("drift: ") for b in breaches), breaches
    assert replayed.exit_code == 1, replayed.output
    fresh = {view["view"]: view["status"] for view in replayed.doc["freshness"]["views"]}
    assert fresh and set(fresh.values()) == {"fresh"}


def test_a_clean_replay_has_no_training_serving_skew(replayed: Replay) -> None:
    skew = replayed.doc["skew"]
    assert skew["note"] is None, skew
    assert skew["requests"] > 0 and skew["vectors"] > 0
    assert skew["mismatches_total"] == 0, skew["features"]
    assert skew["not_rebuilt"] == {}


def _tamper_user_feature(redis_url: str, user_id: str, names: list[str]) -> str:
    """Add 1000 to one numeric user feature of `user_id` straight in Redis; return its name."""
    import redis as redis_client
    from feast.protos.feast.types.Value_pb2 import Value

    from recsys.contract import USER_VIEW
    from recsys.pipeline.online_format import field_name
    from recsys.pipeline.online_read import EntityReader, ViewFields

    reader = EntityReader(
        project="recsys", join_key="user_id", views=[ViewFields.of(USER_VIEW, [])]
    )
    client: Any = redis_client.Redis.from_url(redis_url)  # Feast keys and fields are bytes
    key = reader.key(user_id)
    for name in names:
        if not name.startswith("user_") or name.endswith("_days_ago"):
            continue
        field = field_name(USER_VIEW, name[len("user_") :])
        raw = client.hget(key, field)
        if not raw:
            continue
        value = Value.FromString(raw)
        kind = value.WhichOneof("val")
        if kind in ("double_val", "float_val", "int64_val", "int32_val"):
            setattr(value, kind, getattr(value, kind) + 1000)
            client.hset(key, field, value.SerializeToString())
            return name
    raise AssertionError(f"user {user_id} has no numeric user feature in Redis among {names}")


def test_a_user_feature_changed_in_redis_is_reported_as_skew(
    world: World, replayed: Replay, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from datetime import UTC, datetime

    from tests.serving.copies import materialize_into

    # a Redis database of its own, filled from the copy, so the world's stays untouched
    url = world.redis_url.rsplit("/", 1)[0] + "/11"
    import redis as redis_client

    redis_client.Redis.from_url(url).flushdb()
    materialize_into(replayed.data_dir, url)
    names = replayed.rows(
        "select feature_names from fct_recommendation_requests where len(feature_names) > 0 limit 1"
    )[0][0]
    events = _sessions(world)[0]
    user = events[0][1]
    changed = _tamper_user_feature(url, user, list(names))
    since = datetime.now(UTC).isoformat()
    live, server, thread = start_server(world_settings(world, data_dir=replayed.data_dir,
                                                      redis_url=url,
                                                      impression_features_share=1.0))  # fmt: skip
    try:
        with live.client() as client:
            for number, (_, _, item, kind, _) in enumerate(events):
                got = client.get(
                    f"/recommendations/{user}", params={"k": K, "session_id": "web-tampered"}
                )
                assert got.status_code == 200 and not got.json()["degraded"], got.text
                posted = client.post("/events", json={
                    "event_id": f"web-tampered-{number}", "user_id": user,
                    "session_id": "web-tampered", "item_id": item, "event_type": kind})  # fmt: skip
                assert posted.status_code == 200, posted.text
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    code, output, doc = run_monitor(replayed.data_dir, url, "--since", since, out="tampered")
    skew = doc["skew"]
    assert skew["mismatched_features"] == [changed], skew["features"]
    assert code == 1
    assert f"BREACH skew: {changed}" in output
    example = skew["examples"][changed]
    assert example["online"] == pytest.approx(example["offline"] + 1000, rel=1e-4)


def test_training_stores_a_reference_for_every_model_feature(world: World) -> None:
    import json as json_module

    from recsys.monitoring import reference

    model_dir = world.models / "current"
    metadata = json_module.loads((model_dir / "metadata.json").read_text())
    stored = reference.load(model_dir)
    assert stored is not None
    assert set(stored.features) == set(metadata["features"])
    assert stored.top_k == reference.DEFAULT_TOP_K and stored.queries > 100
    for distribution in [stored.score, *stored.features.values()]:
        assert len(distribution.shares) == len(distribution.edges) + 1
        assert sum(distribution.shares) == pytest.approx(1.0) or distribution.missing_share == 1
        assert 0 <= distribution.missing_share <= 1
    assert len(stored.score.edges) == 9  # scores are continuous: ten full quantile bins
