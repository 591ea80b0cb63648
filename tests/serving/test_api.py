"""The API against the session's world: real Redis, real Feast, a real trained model."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import LiveServer
from tests.world import World


def _session() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _recs(client: httpx.Client, user: str, **params: str | int | bool) -> dict:
    response = client.get(f"/recommendations/{user}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _landed(world: World) -> list[str]:
    folder = world.data_dir / "landing" / "served"
    return [line for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_health_ready_and_openapi(live_server: LiveServer, world: World) -> None:
    with live_server.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_version"] == world.model_version
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/recommendations/{user_id}", "/events", "/health", "/ready"} <= set(paths)


def test_known_user_gets_ranked_items_with_details(live_server: LiveServer, world: World) -> None:
    with live_server.client() as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
        body = _recs(client, user, k=7)
    assert not body["degraded"] and body["model_version"] == world.model_version
    items = body["items"]
    assert [i["rank"] for i in items] == list(range(1, 8))
    assert len({i["item_id"] for i in items}) == 7
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(items))
    assert all(i["category"] and i["title"] for i in items)


def test_unknown_user_gets_a_cold_start_answer(live_server: LiveServer) -> None:
    with live_server.client() as client:
        body = _recs(client, f"never-seen-{uuid.uuid4().hex}", k=10)
    assert not body["degraded"]
    assert len(body["items"]) == 10


def test_clicks_in_one_category_move_that_category_up(live_server: LiveServer) -> None:
    user, session = f"visitor-{uuid.uuid4().hex[:8]}", _session()
    with live_server.client() as client:
        before = _recs(client, user, k=20, session_id=session)
        categories = Counter(i["category"] for i in before["items"])
        # the least represented category among popular items becomes the session's interest
        target = min(categories, key=lambda c: (categories[c], c))
        share_before = categories[target] / 20
        picks = [i["item_id"] for i in before["items"] if i["category"] == target][:1]
        for _ in range(3):
            response = client.post(
                "/events",
                json={
                    "user_id": user,
                    "session_id": session,
                    "item_id": picks[-1],
                    "event_type": "view",
                },
            )
            assert response.status_code == 200 and response.json()["accepted"] == 1
            after = _recs(client, user, k=20, session_id=session, exclude_seen=True)
            picks.append(next(i["item_id"] for i in after["items"] if i["category"] == target))
    share_after = sum(i["category"] == target for i in after["items"]) / 20
    assert after["session_events"] == 3
    assert share_after >= share_before + 0.3, (target, share_before, share_after)
    assert not set(picks[:3]) & {i["item_id"] for i in after["items"]}  # exclude_seen held


def test_events_are_idempotent_on_event_id(live_server: LiveServer, world: World) -> None:
    session, event_id = _session(), f"evt-{uuid.uuid4().hex}"
    event = {
        "event_id": event_id,
        "user_id": "u-idem",
        "session_id": session,
        "item_id": "i1",
        "event_type": "add_to_cart",
    }
    with live_server.client() as client:
        first = client.post("/events", json=event).json()
        second = client.post("/events", json=event).json()
        batch = client.post("/events", json={"events": [event, {**event, "event_id": None}]})
        body = _recs(client, "u-idem", session_id=session)
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 1)
    assert [e["status"] for e in batch.json()["events"]] == ["duplicate", "accepted"]
    assert body["session_events"] == 2  # the repeat was not counted
    assert sum(event_id in line for line in _landed(world)) == 1  # landed exactly once


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("get", "/recommendations/" + "u" * 129, None, 422, "at most 128"),
        ("get", "/recommendations/bad%01id", None, 422, "control character"),
        ("get", "/recommendations/u1?k=0", None, 422, "k"),
        ("get", "/recommendations/u1?k=101", None, 422, "k"),
        ("get", "/recommendations/u1?session_id=s%0Ax", None, 422, "control character"),
        ("get", "/recommendations/u1?categories=no-such-category", None, 422, "unknown"),
        ("post", "/events", b"{not json", 400, "not valid JSON"),
        (
            "post",
            "/events",
            {"user_id": "u", "item_id": "i", "event_type": "clik"},
            422,
            "event_type",
        ),
        ("post", "/events", {"user_id": "u"}, 422, "item_id: Field required"),
        ("post", "/events", {"user_id": "u", "item_id": "i", "colour": "red"}, 422, "colour"),
        (
            "post",
            "/events",
            {"user_id": "u", "item_id": "i", "event_timestamp": 4102444800},
            422,
            "in the future",
        ),
        (
            "post",
            "/events",
            {"events": [{"user_id": "u", "item_id": "i"}] * 1001},
            413,
            "at most 1000",
        ),
        ("post", "/events", {"events": []}, 422, "no events"),
        (
            "post",
            "/events",
            {"events": [{"user_id": "u", "item_id": "i"}], "user_id": "u"},
            422,
            "unknown field(s) 'user_id'",
        ),
        (
            "post",
            "/events",
            [{"user_id": "u", "item_id": "i"}, {"user_id": "u\x00", "item_id": "i"}],
            422,
            "[1].user_id",
        ),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message_and_nothing_written(
    live_server: LiveServer,
    world: World,
    method: str,
    path: str,
    payload: object,
    status: int,
    message: str,
) -> None:
    landed = len(_landed(world))
    with live_server.client() as client:
        if method == "get":
            response = client.get(path)
        elif isinstance(payload, bytes):
            response = client.post(
                path, content=payload, headers={"content-type": "application/json"}
            )
        else:
            response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"], response.json()
    assert len(_landed(world)) == landed


def test_explain_returns_feature_contributions(live_server: LiveServer) -> None:
    with live_server.client() as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
        body = _recs(client, user, k=3, explain=True)
    for item in body["items"]:
        assert 1 <= len(item["explanation"]) <= 5
        assert all(isinstance(c["contribution"], float) for c in item["explanation"])
        # Readable names and the item's own values, not only the model's column names.
        assert all(" " in c["label"] and c["label"] != c["feature"] for c in item["explanation"])
    values = [c["value"] for item in body["items"] for c in item["explanation"]]
    assert any(isinstance(v, float) for v in values), values


def test_filters_restrict_the_answer(live_server: LiveServer) -> None:
    with live_server.client() as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
        top = _recs(client, user, k=10)["items"]
        category = top[0]["category"]
        only = _recs(client, user, k=10, categories=category)["items"]
        excluded = _recs(client, user, k=10, exclude=",".join(i["item_id"] for i in top[:3]))
    assert only and all(i["category"] == category for i in only)
    assert not {i["item_id"] for i in top[:3]} & {i["item_id"] for i in excluded["items"]}


def test_metrics_report_latency_and_fallbacks(live_server: LiveServer) -> None:
    with live_server.client() as client:
        _recs(client, "metrics-user")
        text = client.get("/metrics").text
    assert 'recsys_request_seconds_count{method="GET",route="/recommendations/{user_id}"' in text
    assert 'recsys_stage_seconds_count{stage="rank"}' in text
    assert "recsys_model_info{" in text and "recsys_feature_age_seconds" in text


def test_served_events_flow_back_into_the_landing_area(
    live_server: LiveServer, world: World
) -> None:
    session = _session()
    with live_server.client() as client:
        client.post("/events", json={"user_id": "u-flow", "session_id": session, "item_id": "i2"})
    lines = [line for line in _landed(world) if session in line]
    assert len(lines) == 1
    folder: Path = world.data_dir / "landing" / "served"
    assert all(f.suffix == ".jsonl" for f in folder.iterdir())


def test_events_with_the_same_or_older_timestamp_still_update_the_session(
    live_server: LiveServer,
) -> None:
    """Logs with second precision repeat timestamps; replays can arrive out of order."""
    session = _session()
    base = int(time.time()) - 3600  # recent: the API refuses events older than a year
    with live_server.client() as client:
        for item, ts in (("i1", base), ("i2", base), ("i3", base - 1000)):
            response = client.post(
                "/events",
                json={
                    "user_id": "u-same-second",
                    "session_id": session,
                    "item_id": item,
                    "event_timestamp": ts,
                },
            )
            assert response.json()["accepted"] == 1
        body = _recs(client, "u-same-second", session_id=session)
    assert body["session_events"] == 3
