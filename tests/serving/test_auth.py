"""API keys on a real server: off by default, required on writes and operator routes when set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.config import Settings
from serving.auth import ProductionSettingsError
from serving.main import create_app
from tests.serving.conftest import LiveServer, start_server, world_settings
from tests.world import World

WRITE_KEYS = ("write-key-1", "write-key-2")
READ_KEY = "read-key-1"
EVENT = {"user_id": "u-auth", "item_id": "i1"}


def _serve(settings: Settings) -> Iterator[LiveServer]:
    live, server, thread = start_server(settings)
    yield live
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def keyed(world: World) -> Iterator[LiveServer]:
    settings = world_settings(world, api_key=",".join(WRITE_KEYS), read_api_key=READ_KEY)
    yield from _serve(settings)


@pytest.fixture(scope="module")
def production(world: World) -> Iterator[LiveServer]:
    yield from _serve(world_settings(world, api_key=WRITE_KEYS[0], production=True))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_writes_need_one_of_the_keys(keyed: LiveServer) -> None:
    with keyed.client() as client:
        missing = client.post("/events", json=EVENT)
        wrong = client.post("/events", json=EVENT, headers=_bearer("guess"))
        first = client.post("/events", json=EVENT, headers=_bearer(WRITE_KEYS[0]))
        second = client.post("/events", json=EVENT, headers={"X-API-Key": WRITE_KEYS[1]})
        read_only = client.post("/events", json=EVENT, headers=_bearer(READ_KEY))
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert wrong.status_code == 401 and "guess" not in wrong.text
    assert (first.status_code, second.status_code) == (200, 200)
    assert read_only.status_code == 401


def test_operator_routes_need_the_write_key(keyed: LiveServer) -> None:
    with keyed.client() as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=_bearer(READ_KEY)).status_code == 401
        assert client.get("/metrics", headers=_bearer(WRITE_KEYS[1])).status_code == 200
        # Probes stay open: load balancers call them without keys.
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200


def test_read_routes_take_the_read_key_or_a_write_key(keyed: LiveServer) -> None:
    with keyed.client() as client:
        assert client.get("/recommendations/u1").status_code == 401
        assert client.get("/recommendations/u1", headers=_bearer(READ_KEY)).status_code == 200
        assert client.get("/recommendations/u1", headers=_bearer(WRITE_KEYS[0])).status_code == 200
        assert client.get("/users/sample", headers={"X-API-Key": READ_KEY}).status_code == 200


def test_no_key_appears_in_any_answer(keyed: LiveServer) -> None:
    with keyed.client() as client:
        texts = [
            client.post("/events", json=EVENT, headers=_bearer("x" + WRITE_KEYS[0])).text,
            client.get("/ready").text,
            client.get("/openapi.json").text,
            client.get("/metrics", headers=_bearer(WRITE_KEYS[0])).text,
        ]
    for key in (*WRITE_KEYS, READ_KEY):
        assert not any(key in text for text in texts)


def test_the_spec_declares_the_keys_only_when_they_are_checked(
    keyed: LiveServer, live_server: LiveServer
) -> None:
    with keyed.client() as client:
        spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert "401" in spec["paths"]["/events"]["post"]["responses"]
    with live_server.client() as client:
        open_spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in open_spec["components"]
    assert "401" not in open_spec["paths"]["/events"]["post"]["responses"]
    # Without keys (the demo), writes need none.
    with live_server.client() as client:
        assert client.post("/events", json=EVENT).status_code == 200


def test_production_refuses_to_start_without_a_key(world: World) -> None:
    with pytest.raises(ProductionSettingsError, match="RECSYS_API_KEY"):
        create_app(world_settings(world, production=True))


def test_production_puts_user_and_item_browsing_behind_the_key(production: LiveServer) -> None:
    with production.client() as client:
        sample = client.get("/users/sample")
        item = client.get("/items/i1")
        allowed = client.get("/users/sample", headers=_bearer(WRITE_KEYS[0]))
        reads = client.get("/recommendations/u1")  # no read key set: reads stay open
    assert (sample.status_code, item.status_code) == (401, 401)
    assert allowed.status_code == 200
    assert reads.status_code == 200


def test_production_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECSYS_PRODUCTION", "1")
    monkeypatch.delenv("RECSYS_API_KEY", raising=False)
    with pytest.raises(ProductionSettingsError):
        create_app(Settings())
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    assert isinstance(create_app(Settings()).title, str)
