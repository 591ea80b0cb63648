from pathlib import Path

import pytest
import redis

from recsys.redis_runtime import (
    RedisConfigError,
    ensure_redis,
    free_port,
    ping,
    start_redis,
    stop_own_redis,
)


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


def test_a_configured_redis_that_does_not_answer_fails_and_nothing_starts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://bob:hunter%402@127.0.0.1:{port}/3")
    with pytest.raises(RedisConfigError) as failure:
        ensure_redis()
    message = str(failure.value)
    assert f"127.0.0.1:{port}" in message and "user 'bob'" in message and "Fix:" in message
    assert "hunter" not in message
    assert not (data_dir / "run" / "redis.pid").exists()


def test_without_redis_url_or_when_asked_the_project_starts_its_own(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RECSYS_START_REDIS", raising=False)
    monkeypatch.delenv("FEAST_REDIS_CONNECTION", raising=False)
    try:
        url = ensure_redis(quiet=True)
        assert not url.endswith(":6379/0") and ping(url)
        assert (data_dir / "run" / "redis.url").read_text().strip() == url
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # dead
        assert ensure_redis(start=True, quiet=True) == url  # --start-redis: ours, reused
    finally:
        stop_own_redis()
