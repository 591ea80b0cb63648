"""Hostile input against a real server: every shape gets a 4xx with a message, never a 500.

Each case was a bare 500 (or silently accepted) before: out-of-range and boolean timestamps,
ids with surrogates or control characters, bodies nested 100,000 deep, bodies of any size
and content type. A client's bad id must also never open the Redis circuit breaker.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest

from serving.online import OnlineStoreUnavailableError
from tests.id_cases import API_ONLY_BAD_IDS, BAD_IDS
from tests.serving.conftest import LiveServer
from tests.world import World

EVENT = {"user_id": "u-hostile", "item_id": "i1"}
_NOW = datetime.now(UTC)

BAD_TIMESTAMPS: dict[str, object] = {
    "1e20": 1e20,
    "-1e20": -1e20,
    "year 1 at +14:00": "0001-01-01T00:00:00+14:00",
    "year 9999 at -14:00": "9999-12-31T23:59:59-14:00",
    "year 1": "0001-01-01T00:00:00Z",
    "1900": "1900-01-01T00:00:00Z",
    "1970 (zero)": 0,
    "negative": -5,
    "true": True,
    "false": False,
    "400 days ago": (_NOW - timedelta(days=400)).isoformat(),
    "a day ahead": (_NOW + timedelta(days=1)).isoformat(),
    "ms far ahead": 1e15,
}


def _raw_post(live: LiveServer, body: bytes, headers: dict[str, str] | None = None) -> tuple:
    with live.client() as client:
        response = client.post(
            "/events",
            content=body,
            headers=headers if headers is not None else {"content-type": "application/json"},
        )
    return response.status_code, response.json()


def _landed(world: World) -> int:
    folder = world.data_dir / "landing" / "served"
    return sum(len(f.read_text().splitlines()) for f in folder.glob("*.jsonl"))


@pytest.mark.parametrize("name", list(BAD_TIMESTAMPS))
def test_timestamps_out_of_range_or_of_the_wrong_kind_get_422(
    live_server: LiveServer, world: World, name: str
) -> None:
    before = _landed(world)
    body = json.dumps({**EVENT, "event_timestamp": BAD_TIMESTAMPS[name]}).encode()
    status, answer = _raw_post(live_server, body)
    assert status == 422, answer
    assert "event_timestamp" in answer["detail"]
    assert _landed(world) == before


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_non_json_numbers_get_400(live_server: LiveServer, constant: str) -> None:
    body = f'{{"user_id": "u", "item_id": "i", "event_timestamp": {constant}}}'.encode()
    status, answer = _raw_post(live_server, body)
    assert status == 400, answer
    assert constant in answer["detail"]


def test_recent_timestamps_in_every_form_are_accepted(live_server: LiveServer) -> None:
    recent = _NOW - timedelta(days=30)
    forms = [
        recent.isoformat(),
        recent.astimezone(__import__("zoneinfo").ZoneInfo("Pacific/Kiritimati")).isoformat(),
        recent.replace(tzinfo=None).isoformat(),
        recent.timestamp(),
        int(recent.timestamp() * 1000),
    ]
    for form in forms:
        event = {**EVENT, "event_id": f"ts-{uuid.uuid4().hex}", "event_timestamp": form}
        status, answer = _raw_post(live_server, json.dumps(event).encode())
        assert (status, answer["accepted"]) == (200, 1), (form, answer)


@pytest.mark.parametrize("field", ["event_id", "user_id", "session_id", "item_id", "request_id"])
@pytest.mark.parametrize("name", [*BAD_IDS, *API_ONLY_BAD_IDS])
def test_bad_ids_get_422_naming_the_field(
    live_server: LiveServer, world: World, field: str, name: str
) -> None:
    value = BAD_IDS[name][0] if name in BAD_IDS else API_ONLY_BAD_IDS[name]
    before = _landed(world)
    # json.dumps writes a lone surrogate as the escape "\ud800", as a hostile client would.
    status, answer = _raw_post(live_server, json.dumps({**EVENT, field: value}).encode())
    assert status == 422, answer
    assert field in answer["detail"]
    assert _landed(world) == before


def test_bodies_nested_100000_deep_get_400_quickly(live_server: LiveServer) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"events":' + b"[" * 100_000):
        started = time.perf_counter()
        status, answer = _raw_post(live_server, body)
        assert status == 400, answer
        assert time.perf_counter() - started < 2.0
    nested_event = json.dumps({"events": [[[[[[EVENT]]]]]]}).encode()
    status, answer = _raw_post(live_server, nested_event)
    assert status == 422, answer


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_writes_need_application_json(live_server: LiveServer, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    status, answer = _raw_post(live_server, json.dumps(EVENT).encode(), headers)
    assert status == 415, answer
    assert "application/json" in answer["detail"]


def test_json_with_a_charset_is_accepted(live_server: LiveServer) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    status, answer = _raw_post(live_server, json.dumps(EVENT).encode(), headers)
    assert status == 200, answer


def _socket_request(live: LiveServer, head: bytes, chunks: int, chunk: bytes) -> bytes:
    """Send a head and up to `chunks` body chunks; return what the server answered."""
    url = urlparse(live.url)
    with socket.create_connection((url.hostname, url.port or 80), timeout=10) as sock:
        sock.sendall(head)
        try:
            for _ in range(chunks):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what this test wants
        sock.settimeout(10)
        answer = b""
        try:
            while part := sock.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
    return answer


def test_a_declared_300_mb_body_gets_413_before_it_is_sent(live_server: LiveServer) -> None:
    limit = live_server.settings.max_body_bytes
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 300000000\r\n\r\n"
    )
    # Only the head is sent: the answer cannot have waited for the body.
    answer = _socket_request(live_server, head, 0, b"")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert f"at most {limit:,}".encode() in answer


def test_a_streamed_body_over_the_limit_gets_413(live_server: LiveServer) -> None:
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"[" + b" " * 65_534 + b"\n"
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = _socket_request(live_server, head, 64, chunk)  # 4 MB offered, 1 MiB allowed
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RECSYS_MAX_BODY_BYTES" in answer


def test_a_bad_content_length_gets_400(live_server: LiveServer) -> None:
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: -5\r\n\r\n"
    )
    answer = _socket_request(live_server, head, 0, b"")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_clients_bad_id_never_opens_the_breaker(live_server: LiveServer) -> None:
    online = live_server.app.state.serving.online  # type: ignore[attr-defined]
    # Repeated hostile ids: each is refused before Redis, so the breaker stays closed.
    for _ in range(20):
        body = json.dumps({"user_id": "x\ud800", "item_id": "i1"}).encode()
        assert _raw_post(live_server, body)[0] == 422
    assert online.breaker.allow()
    # Had one reached Redis anyway, an encoding error is the client's, not Redis's.
    with pytest.raises(OnlineStoreUnavailableError):
        online._call(lambda: "x\ud800".encode())
    assert online.breaker.allow() and online.breaker.last_error is None
    with live_server.client() as client:
        body = client.get("/recommendations/u-after-hostile").json()
    assert body["degraded"] is False, body


def test_every_error_is_one_detail_line(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for response in (
            client.get("/no-such-route"),
            client.delete("/events"),
            client.get("/items/no-such-item"),
            client.get("/recommendations/u1", params={"k": "many"}),
            client.post(
                "/events",
                content=b'{"user_id": "u", "item_id": "i", "\\ud800": 1}',
                headers={"content-type": "application/json"},
            ),
        ):
            assert 400 <= response.status_code < 500, response.text
            body = response.json()
            assert list(body) == ["detail"] and isinstance(body["detail"], str), body
