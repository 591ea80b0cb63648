"""`recsys sessions reset` and RECSYS_LAND_EVENTS=false: an evaluation replay can run twice
without inflated scores, and its events never flow into the next build."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from ops.cli import app
from recsys.contract import event_claim_key
from recsys.pipeline.feast_ops import feature_store
from recsys.session_store import SessionEvent, SessionStore
from tests.serving.conftest import LiveServer, start_server, world_settings
from tests.world import World


def _event(session: str, n: int) -> dict[str, str]:
    return {
        "event_id": f"{session}-{n}",
        "user_id": "u-reset",
        "session_id": session,
        "item_id": "i1",
    }


def _reset(world: World, monkeypatch: pytest.MonkeyPatch, *args: str, url: str = "") -> str:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("REDIS_URL", url or world.redis_url)
    result = CliRunner().invoke(app, ["sessions", "reset", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _feature_store(world: World, monkeypatch: pytest.MonkeyPatch, url: str) -> Any:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("REDIS_URL", url)
    return feature_store()


def test_reset_forgets_a_session_and_its_event_ids(
    live_server: LiveServer, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = f"replay-{uuid.uuid4().hex[:8]}"
    with live_server.client() as client:
        posted = client.post("/events", json={"events": [_event(session, n) for n in range(3)]})
        assert posted.json()["accepted"] == 3
        again = client.post("/events", json=_event(session, 0)).json()
        assert again["duplicates"] == 1  # the replay problem: the second run is a duplicate
        out = _reset(world, monkeypatch, "--session", session)
        assert "deleted 1 session rows and 3 remembered event ids" in out
        recs = client.get("/recommendations/u-reset", params={"session_id": session}).json()
        assert recs["session_events"] == 0
        replayed = client.post("/events", json=_event(session, 0)).json()
        assert replayed["accepted"] == 1


def test_reset_all_deletes_only_sessions_and_event_ids(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = world.redis_url.rsplit("/", 1)[0] + "/7"  # a database of its own
    client: Any = redis.Redis.from_url(url)
    client.flushdb()
    store = _feature_store(world, monkeypatch, url)
    sessions = SessionStore(
        client,
        project=store.project,
        serialization_version=store.config.entity_key_serialization_version,
    )
    for name in ("a", "b"):
        sessions.apply(name, "u", [SessionEvent(f"{name}-1", "i1", "view", 1_700_000_000_000)])
    client.set(event_claim_key("a", "a-1"), b"1")
    client.set("someone-elses-key", b"keep")
    client.hset("another-hash", "field", "keep")

    out = _reset(world, monkeypatch, "--all", url=url)

    assert "deleted 2 session rows and 1 remembered event ids" in out
    assert sorted(client.keys()) == [b"another-hash", b"someone-elses-key"]


def test_events_are_not_landed_when_landing_is_off(world: World) -> None:
    live, server, thread = start_server(world_settings(world, land_events=False))
    session = f"noland-{uuid.uuid4().hex[:8]}"
    try:
        with live.client() as client:
            assert client.post("/events", json=_event(session, 0)).json()["accepted"] == 1
            recs = client.get("/recommendations/u-reset", params={"session_id": session}).json()
        assert recs["session_events"] == 1  # the session still follows the events
        folder = world.data_dir / "landing" / "served"
        landed = "".join(f.read_text() for f in folder.glob("*.jsonl")) if folder.exists() else ""
        assert session not in landed
    finally:
        server.should_exit = True
        thread.join(timeout=30)
