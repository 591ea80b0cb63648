from pathlib import Path

import redis

from recsys.redis_runtime import free_port, ping, start_redis


def test_started_redis_is_loopback_and_non_persistent(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        client = redis.Redis.from_url(server.url)
        config: dict[str, str] = client.config_get("*")  # type: ignore[assignment]
        assert config["bind"].startswith("127.0.0.1")
        assert config["save"] == ""
        assert config["appendonly"] == "no"
        assert (tmp_path / "redis.pid").read_text().strip() == str(server.pid)
    finally:
        server.stop()
    assert not ping(server.url)
    assert not (tmp_path / "redis.pid").exists()


def test_ping_is_false_where_nothing_listens() -> None:
    assert not ping(f"redis://127.0.0.1:{free_port()}/0")
