"""The impression log and the live signals, on real servers, a real Redis and real files.

Each server here runs on a copy of the world's data folder, so its impression files hold only
this module's requests and can be counted exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from recsys.config import Settings
from recsys.contract import session_key
from recsys.monitoring.impressions import (
    FEATURE_GROUPS,
    FIELDS,
    carries_features,
    last_impression_key,
    problems,
    read_impressions,
)
from recsys.redis_runtime import start_redis
from serving.background_priority import NICENESS
from serving.impressions import ImpressionLog
from tests.serving.background import expected_background_slice, slice_ns
from tests.serving.conftest import LiveServer, start_server, world_settings
from tests.serving.copies import copy_world, materialize_into
from tests.serving.workers import worker_server
from tests.world import World


@pytest.fixture(scope="module")
def data_dir(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's files without its served events or impressions: this module's own."""
    return copy_world(world, tmp_path_factory.mktemp("impressions") / "data")


@pytest.fixture
def serve(world: World, data_dir: Path) -> Iterator:
    """Start in-thread servers on the copy (world's Redis) with settings overrides."""
    running = []

    def make(**overrides: object) -> LiveServer:
        # Every line carries vectors unless a test asks otherwise: they check each line.
        overrides = {"impression_features_share": 1.0, **overrides}
        live, server, thread = start_server(world_settings(world, data_dir=data_dir, **overrides))
        running.append((server, thread))
        return live

    def stop_all() -> None:
        while running:
            server, thread = running.pop()
            server.should_exit = True
            thread.join(timeout=60)

    make.stop_all = stop_all  # type: ignore[attr-defined]
    yield make
    stop_all()


def _lines(settings: Settings, prefix: str) -> list[dict]:
    return [
        r
        for r in read_impressions(settings.paths.landing_impressions)
        if r["user_id"].startswith(prefix)
    ]


def _counter(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_every_answer_is_one_line_with_its_request_id_flushed_at_shutdown(serve) -> None:
    # A flush interval far beyond the test: the lines can only reach the file at shutdown.
    live = serve(impression_flush_seconds=3600)
    prefix = f"imp-{uuid.uuid4().hex[:8]}-"
    answers = []
    with live.client() as client:
        for n in range(25):
            params: dict[str, str | int] = {"k": 5 + n % 3}
            if n % 2:
                params["session_id"] = f"{prefix}s{n}"
            response = client.get(f"/recommendations/{prefix}{n % 7}", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert response.headers["X-Request-ID"] == body["request_id"]
            assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
            answers.append(body)
        time.sleep(0.5)  # the writer process has the lines by now, buffered
    assert _lines(live.settings, prefix) == []
    serve.stop_all()

    lines = _lines(live.settings, prefix)
    assert len(lines) == len(answers) == 25
    by_id = {line["request_id"]: line for line in lines}
    assert set(by_id) == {a["request_id"] for a in answers}
    for answer in answers:
        line = by_id[answer["request_id"]]
        assert tuple(line) == FIELDS and problems(line) == []
        assert line["user_id"] == answer["user_id"]
        assert line["session_id"] == answer["session_id"]
        assert line["model_version"] == answer["model_version"]
        assert line["degraded"] is answer["degraded"] is False
        assert line["candidate_count"] == answer["candidates"] > 0
        assert line["timings_ms"] == answer["timings_ms"]
        assert [(i["item_id"], i["rank"], i["score"]) for i in line["items"]] == [
            (i["item_id"], i["rank"], i["score"]) for i in answer["items"]
        ]
        assert line["k"] == len(answer["items"])
        features = line["features"]
        assert len(features["names"]) > 20
        assert [r["item_id"] for r in features["rows"]] == [i["item_id"] for i in answer["items"]]
        # a vector is the ranker's input: some values vary between the shown items
        columns = list(zip(*(r["values"] for r in features["rows"]), strict=True))
        assert any(len(set(c)) > 1 for c in columns)
    files = sorted(live.settings.paths.landing_impressions.glob("impressions-*.jsonl"))
    assert files and all(re.fullmatch(r"impressions-\d{8}-.+-\d+\.jsonl", f.name) for f in files)


def test_top_n_limits_the_vectors_and_off_writes_no_file(serve) -> None:
    live = serve(impression_features_top_n=2)
    prefix = f"top-{uuid.uuid4().hex[:8]}-"
    with live.client() as client:
        assert client.get(f"/recommendations/{prefix}a", params={"k": 6}).status_code == 200
    off = serve(log_impressions=False)
    with off.client() as client:
        assert client.get(f"/recommendations/{prefix}b", params={"k": 6}).status_code == 200
    serve.stop_all()
    lines = _lines(live.settings, prefix)
    assert [line["user_id"] for line in lines] == [f"{prefix}a"]
    assert len(lines[0]["items"]) == 6 and len(lines[0]["features"]["rows"]) == 2


def test_a_share_of_the_lines_carries_vectors_chosen_by_request_id(serve) -> None:
    live = serve(impression_features_share=0.3)
    prefix = f"share-{uuid.uuid4().hex[:8]}-"
    with live.client() as client:
        for n in range(60):
            response = client.get(f"/recommendations/{prefix}{n % 9}", params={"k": 4})
            assert response.status_code == 200, response.text
    serve.stop_all()
    lines = _lines(live.settings, prefix)
    assert len(lines) == 60
    with_vectors = {r["request_id"] for r in lines if r["features"]["rows"]}
    chosen = {r["request_id"] for r in lines if carries_features(r["request_id"], 0.3)}
    assert with_vectors == chosen
    assert 0 < len(with_vectors) < 60  # 0.3 of 60: all or none has odds below 1e-9
    assert all(len(r["items"]) == 4 and problems(r) == [] for r in lines)


def test_a_full_queue_drops_and_counts_and_never_blocks(serve) -> None:
    live = serve(impression_queue_size=1)
    log: ImpressionLog = live.app.state.impressions  # type: ignore[attr-defined,unused-ignore]
    prefix = f"full-{uuid.uuid4().hex[:8]}-"
    with live.client() as client:
        before = _counter(client.get("/metrics").text, "recsys_impressions_dropped_total")
        with log.paused():  # the forwarder takes nothing: the queue of one fills for real
            for n in range(6):
                started = time.perf_counter()
                response = client.get(f"/recommendations/{prefix}{n}", params={"k": 3})
                assert response.status_code == 200
                assert time.perf_counter() - started < 5  # answered, not waiting for the queue
            dropped = _counter(client.get("/metrics").text, "recsys_impressions_dropped_total")
        assert dropped - before == 5
    serve.stop_all()
    assert [line["user_id"] for line in _lines(live.settings, prefix)] == [f"{prefix}0"]


def test_an_unwritable_log_is_counted_and_answers_go_on(serve, data_dir: Path) -> None:
    # A file where the folder should be: no user, root included, can write lines there.
    folder = data_dir / "landing" / "impressions"
    folder.mkdir(parents=True, exist_ok=True)
    parked = folder.with_name("impressions.parked")
    folder.rename(parked)
    folder.write_text("not a folder\n")
    try:
        live = serve(impression_flush_seconds=0.05)
        with live.client() as client:
            before = _counter(client.get("/metrics").text, "recsys_impression_write_errors_total")
            for n in range(3):
                assert client.get(f"/recommendations/ro-{n}").status_code == 200
            deadline, errors = time.monotonic() + 20, 0.0
            while time.monotonic() < deadline and errors < 3:
                time.sleep(0.1)
                text = client.get("/metrics").text
                errors = _counter(text, "recsys_impression_write_errors_total") - before
        assert errors == 3
    finally:
        serve.stop_all()
        folder.unlink()
        parked.rename(folder)


def test_live_signals_exist_from_the_start_and_count(serve, world: World) -> None:
    live = serve()
    with live.client() as client:
        text = client.get("/metrics").text
        version = world.model_version
        for family in ("recsys_impressions_total", "recsys_recommended_clicks_total"):
            assert f'{family}{{model_version="{version}"}}' in text, family
        assert f'recsys_score_count{{model_version="{version}"}}' in text
        for group in FEATURE_GROUPS:
            assert f'recsys_missing_features_total{{group="{group}"}}' in text
        assert "recsys_impressions_dropped_total " in text
        assert f'recsys_model_info{{version="{version}"}} 1.0' in text
        ages = {
            m.group(1): float(m.group(2))
            for m in re.finditer(r'recsys_feature_age_seconds\{view="([^"]+)"\} (\S+)', text)
        }
        assert {"user_features", "item_features"} <= set(ages)
        assert 0 <= ages["user_features"] < 24 * 3600  # the world materialized just now

        impressions = _counter(text, "recsys_impressions_total", model_version=version)
        scores = _counter(text, "recsys_score_count", model_version=version)
        body = client.get("/recommendations/live-signals", params={"k": 4}).json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            # the request counts the impression; the writer process observes the scores
            if _counter(text, "recsys_score_count", model_version=version) > scores:
                break
            time.sleep(0.05)
    assert _counter(text, "recsys_impressions_total", model_version=version) == impressions + 1
    assert _counter(text, "recsys_score_count", model_version=version) == scores + len(
        body["items"]
    )


def test_events_carry_their_request_id_into_the_landing_area(serve, data_dir: Path) -> None:
    live = serve()
    session = f"rid-{uuid.uuid4().hex}"
    with live.client() as client:
        rid = client.get("/recommendations/u-rid", params={"session_id": session}).json()[
            "request_id"
        ]
        sent = [
            {"user_id": "u-rid", "session_id": session, "item_id": "i1", "request_id": rid},
            {"user_id": "u-rid", "session_id": session, "item_id": "i2"},
        ]
        assert client.post("/events", json=sent).json()["accepted"] == 2
    landed = [
        json.loads(line)
        for path in sorted((data_dir / "landing" / "served").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if session in line
    ]
    assert [r["request_id"] for r in landed] == [rid, None]


def test_two_workers_count_clicks_on_recommended_items_across_workers(
    world: World, tmp_path: Path
) -> None:
    """The impression is recorded by whichever worker answered; the click may reach the other."""
    data_dir = copy_world(world, tmp_path / "data")
    redis_server = start_redis(tmp_path / "redis")
    try:
        materialize_into(data_dir, redis_server.url)
        store = redis.Redis.from_url(redis_server.url)
        sessions = [f"two-{n}" for n in range(16)]
        with worker_server(data_dir, redis_server.url, workers=2) as live, live.client() as client:
            shown: dict[str, list[str]] = {}
            for n, session in enumerate(sessions):
                body = client.get(
                    f"/recommendations/u-{n}", params={"session_id": session, "k": 5}
                ).json()
                shown[session] = [i["item_id"] for i in body["items"]]
            _wait_for_keys(store, [last_impression_key(session_key("x", s)) for s in sessions])
            events = []
            for n, session in enumerate(sessions):
                # two clicks on shown items, one on an item the list did not show
                for item in [*shown[session][:2], "not-shown"]:
                    events.append({"user_id": f"u-{n}", "session_id": session, "item_id": item})
            for event in events:  # one request each: both workers take some
                assert client.post("/events", json=event).json()["accepted"] == 1
            # the same events again: duplicates, not clicks
            repeat = {**events[0], "event_id": "dup-1"}
            client.post("/events", json=repeat)
            client.post("/events", json=repeat)
            text = client.get("/metrics").text
            pids = {line.split("[")[-1].split("]")[0] for line in _startup_lines(live.log)}
        assert len(pids) == 2, "the test needs two worker processes"
        version = world.model_version
        clicks = _counter(text, "recsys_recommended_clicks_total", model_version=version)
        assert clicks == 2 * len(sessions) + 1  # the repeat counted once
    finally:
        redis_server.stop()


def _wait_for_keys(store: redis.Redis, keys: list[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(store.exists(k) for k in keys):
            return
        time.sleep(0.05)
    raise AssertionError("last impressions never reached Redis")


def _startup_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "Started server process" in line]


def test_shown_items_are_recorded_for_the_session_with_a_ttl(serve, world: World) -> None:
    live = serve()
    session = f"ttl-{uuid.uuid4().hex}"
    with live.client() as client:
        items = client.get("/recommendations/u-ttl", params={"session_id": session, "k": 3}).json()[
            "items"
        ]
    store: Any = redis.Redis.from_url(world.redis_url)
    key = last_impression_key(session)
    _wait_for_keys(store, [key])
    assert {k.decode() for k in store.hkeys(key)} == {i["item_id"] for i in items}
    assert 0 < store.ttl(key) <= live.settings.session_gap_minutes * 60
    with httpx.Client(base_url=live.url) as client:
        rolling = client.get("/recommendations/u-rolling", params={"k": 2}).json()
    _wait_for_keys(store, [last_impression_key(session_key("u-rolling", None))])
    assert rolling["session_id"] is None


def test_the_writer_process_runs_at_a_lower_priority_than_the_server(serve) -> None:
    """Background encoding yields the CPU to requests on a busy host, never preempts one when
    a batch wakes it (SCHED_BATCH), and gives way within 0.1 ms when a request wakes."""
    serve()
    wanted = (min(19, os.nice(0) + NICENESS), os.SCHED_BATCH, expected_background_slice())
    deadline = time.monotonic() + 60  # the writer renices itself once it has started up
    while True:
        writers = _writer_priority()
        if (writers and all(w == wanted for w in writers)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert writers and all(w == wanted for w in writers), (writers, wanted)


def _writer_priority() -> list[tuple[int, int, int | None]]:
    """(niceness, scheduling policy, time slice in ns) of this process's impression writers."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (status.parent / "cmdline").read_bytes()
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # the fields after the command name: state ppid ... nice is the 17th of them
        if b"serving.impression_writer" in cmdline and int(fields[1]) == os.getpid():
            with contextlib.suppress(OSError):
                pid = int(status.parent.name)
                found.append((int(fields[16]), os.sched_getscheduler(pid), slice_ns(pid)))
    return found
