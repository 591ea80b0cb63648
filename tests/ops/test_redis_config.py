"""A configured Redis is used or the command fails loudly; no password ever shows.

Real Redis servers with `requirepass` and an ACL user, the real CLI in subprocesses, and a
real 2-worker server whose answers and log are grepped for the password.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast
from urllib.parse import quote

import httpx
import pytest
import redis

from recsys.config import FEAST_ENV_NAMES, feast_connection_string
from recsys.contract import MATERIALIZED_MARKER_KEY
from recsys.redis_runtime import RedisServer, free_port, start_redis
from tests.serving.copies import copy_world
from tests.world import World

# Characters that must survive URL escaping, Feast's "," split, JSON and YAML quoting.
PASSWORD = "s3cr@t:p/w,d'q#%x"
USER_PASSWORD = "u$er@pw,99"
USER = "alice@ops"
JSON = {"content-type": "application/json"}


def _url(server: RedisServer, *, user: str = "", password: str = PASSWORD, db: int = 0) -> str:
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"redis://{auth}127.0.0.1:{port}/{db}"


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis that needs a password for the default user and has an ACL user too."""
    server = start_redis(tmp_path / "redis")
    client = redis.Redis.from_url(server.url)
    client.acl_setuser(
        USER,
        enabled=True,
        passwords=[f"+{USER_PASSWORD}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    client.config_set("requirepass", PASSWORD)
    yield server
    server.stop()


def _recsys(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", *FEAST_ENV_NAMES)}
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _no_secret(text: str) -> None:
    for secret in (
        PASSWORD,
        USER_PASSWORD,
        quote(PASSWORD, safe=""),
        quote(USER_PASSWORD, safe=""),
    ):
        assert secret not in text, (
            f"secret leaked: ...{text[max(0, text.find(secret) - 200) :][:400]}"
        )


def test_connection_string_carries_escaped_passwords_users_and_tls_options() -> None:
    from feast.infra.online_stores.redis import RedisOnlineStore

    url = (
        f"rediss://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@cache.example:6380/2"
        "?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/ca.pem"
    )
    nodes, kwargs = RedisOnlineStore._parse_connection_string(feast_connection_string(url))
    assert nodes == [{"host": "cache.example", "port": "6380"}]
    assert kwargs == {
        "db": 2,
        "username": USER,
        "password": PASSWORD,
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ssl/ca.pem",
    }
    assert feast_connection_string("redis://:123@h/0").endswith('password="123"')  # stays a str


def test_dead_or_wrong_redis_fails_every_command_and_starts_nothing(
    world: World, tmp_path: Path, locked_redis: RedisServer
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    dead_port = free_port()
    cases = {
        "down": f"redis://127.0.0.1:{dead_port}/0",
        "wrong password": _url(locked_redis, password="not-" + PASSWORD),
        "wrong user": _url(locked_redis, user="mallory", password=PASSWORD),
        "tls to a plain server": _url(locked_redis).replace("redis://", "rediss://"),
    }
    every_command = (["materialize"], ["batch-score"], ["serve", "--port", str(free_port())])
    for label, url in cases.items():
        # each command on a Redis that is down; the other faults through materialize
        for command in every_command if label == "down" else every_command[:1]:
            done = _recsys(*command, env={"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": url})
            output = done.stdout + done.stderr
            assert done.returncode != 0, (label, command, output[-2000:])
            port = url.rsplit(":", 1)[1].split("/")[0]
            assert f"127.0.0.1:{port}" in output and "does not answer" in output, output[-2000:]
            assert "Fix:" in output and "Traceback" not in output
            _no_secret(output)
        assert not (data_dir / "run" / "redis.pid").exists(), f"{label}: a Redis was started"


def test_password_user_and_escapes_reach_redis_and_feast_and_never_show(
    world: World, tmp_path: Path, locked_redis: RedisServer
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    url = _url(locked_redis, user=USER, password=USER_PASSWORD)
    env = {"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": url}

    done = _recsys("materialize", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = [done.stdout + done.stderr]
    client = redis.Redis.from_url(url)
    assert cast(int, client.dbsize()) > 1000  # Feast's rows, written through the connection string
    assert client.exists(MATERIALIZED_MARKER_KEY)

    shown = _recsys("env", env=env)
    outputs.append(shown.stdout + shown.stderr)
    evaluated = subprocess.run(
        ["bash", "-c", shown.stdout + '\nprintf "%s" "$FEAST_REDIS_CONNECTION"'],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert evaluated.stdout == feast_connection_string(url)

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "ops", "serve", "--port", str(port), "--workers", "2"],
            env={**{k: v for k, v in os.environ.items() if k not in FEAST_ENV_NAMES}, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 240
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()
                time.sleep(0.3)
            answers = [http.get("/ready"), http.get("/health"), http.get("/recommendations/u1")]
            answers += [
                http.post(
                    "/events", content=b"{not json", headers={"content-type": "application/json"}
                ),
                http.post("/events", json={"user_id": "u1"}),
                http.post("/events", json={"user_id": "u1", "item_id": "i1"}),
            ]
            assert answers[0].status_code == 200, answers[0].text
            locked_redis.stop()  # error paths: Redis gone
            for _ in range(3):
                answers += [http.get("/ready"), http.get("/recommendations/u1")]
                answers.append(http.post("/events", json={"user_id": "u1", "item_id": "i2"}))
            assert answers[-3].status_code == 503
            assert "***" in answers[-3].text  # the URL is named, its password masked
            outputs += [f"{a.status_code} {a.headers} {a.text}" for a in answers]
            outputs.append(http.get("/metrics").text)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    outputs.append(log.read_text())
    for path in (data_dir / "run").rglob("*"):
        if path.is_file() and path.suffix in (".log", ".url", ".txt", ".json"):
            outputs.append(path.read_text(errors="replace"))
    for text in outputs:
        _no_secret(text)


def test_a_full_redis_fails_materialize_with_a_clear_error_not_a_hang(
    world: World, tmp_path: Path
) -> None:
    data_dir = copy_world(world, tmp_path / "data")
    full = start_redis(tmp_path / "full-redis")
    try:
        client = redis.Redis.from_url(full.url)
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1mb")  # far below the world's features
        done = _recsys("materialize", env={"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": full.url})
        output = done.stdout + done.stderr
        assert done.returncode == 1, output[-3000:]
        assert "Redis refused a write while loading features: OOM" in output
        assert "maxmemory: raise it" in output and "Traceback" not in output
    finally:
        full.stop()
