"""`recsys serve` records its PID and says "Serving on" once it answers; `recsys stop` stops it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from recsys.processes import command_line
from recsys.redis_runtime import RedisServer, free_port
from tests.world import World

RECSYS = Path(sys.executable).parent / "recsys"


def _env(data_dir: Path, redis_url: str) -> dict[str, str]:
    return {**os.environ, "RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}


def _start(data_dir: Path, redis_url: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    server = subprocess.Popen(
        [str(RECSYS), "serve", "--port", str(port), "--workers", "2"],
        env=_env(data_dir, redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, f"http://127.0.0.1:{port}"


def _wait_announced(server: subprocess.Popen[str]) -> list[str]:
    """The server's output up to its "Serving on" line (its own /health polls are over)."""
    assert server.stdout is not None
    deadline = time.monotonic() + 180
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        assert line, f"serve exited early: {''.join(lines)}"
        lines.append(line)
        if line.startswith("Serving on"):
            return lines
    raise AssertionError(f"serve did not announce itself in 180 s: {''.join(lines)}")


def test_serve_announces_when_up_and_stop_stops_it(world: World) -> None:
    data_dir = Path(world.data_dir)
    env = _env(data_dir, world.redis_url)
    server, url = _start(data_dir, world.redis_url)
    try:
        lines = _wait_announced(server)
        # Said only when true: the port answers at the moment the line appears.
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        assert lines[0].startswith("Starting the API")
        pid_file = data_dir / "run" / "server.pid"
        assert int(pid_file.read_text()) == server.pid

        stopped = subprocess.run(
            [str(RECSYS), "stop"], env=env, capture_output=True, text=True, timeout=60
        )
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped the server (pid {server.pid})" in stopped.stdout
        assert server.wait(timeout=30) is not None
        assert not pid_file.exists()
        try:
            httpx.get(f"{url}/health", timeout=2)
            raise AssertionError("the server still answers after `recsys stop`")
        except httpx.TransportError:
            pass
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _health_count(url: str) -> float:
    """GET /health requests this server's /metrics counts (all workers added up)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'recsys_request_seconds_count\{[^}]*route="/health"[^}]*\} ([0-9.e+]+)'
    return sum(float(value) for value in re.findall(pattern, text))


def _metrics_folder(server_pid: int) -> Path:
    """The multiprocess folder the server's workers were started with."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    for child in children:
        for entry in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(entry.split(b"=", 1)[1].decode())
    raise AssertionError(f"no worker of {server_pid} has PROMETHEUS_MULTIPROC_DIR")


def test_two_servers_on_one_data_folder_keep_their_own_metrics(world: World) -> None:
    """Each server's /metrics counts its own requests; its metric files go when it stops."""
    data_dir = Path(world.data_dir)
    first, first_url = _start(data_dir, world.redis_url)
    second: subprocess.Popen[str] | None = None
    try:
        _wait_announced(first)
        second, second_url = _start(data_dir, world.redis_url)
        _wait_announced(second)
        before = _health_count(second_url)
        for _ in range(7):
            httpx.get(f"{first_url}/health", timeout=5)
        # The first server counts its 7 (plus the readiness polls), the second none of them.
        assert _health_count(first_url) >= 7
        assert _health_count(second_url) == before
        first_folder, second_folder = _metrics_folder(first.pid), _metrics_folder(second.pid)
        assert first_folder != second_folder
        assert first_folder.is_dir() and second_folder.is_dir()
        if Path("/dev/shm").is_dir():  # in memory where there is room (here: always)
            assert first_folder.parent == second_folder.parent == Path("/dev/shm")
        first.terminate()
        first.wait(timeout=60)
        assert not first_folder.exists(), "a stopped server leaves its metric files behind"
        assert second_folder.is_dir()
    finally:
        for server in (first, second):
            if server is not None and server.poll() is None:
                server.kill()
                server.wait()


def test_stop_leaves_a_reused_pid_alone(data_dir: Path, redis_server: RedisServer) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = data_dir / "run" / "server.pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{bystander.pid}\n")
        stopped = subprocess.run(
            [str(RECSYS), "stop"],
            env=_env(data_dir, redis_server.url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stopped.returncode == 0, stopped.stderr
        assert "no longer running" in stopped.stdout
        assert bystander.poll() is None and command_line(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()
