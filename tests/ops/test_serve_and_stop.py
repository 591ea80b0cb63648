"""`recsys serve` records its PID and says "Serving on" once it answers; `recsys stop` stops it."""

from __future__ import annotations

import os
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


def test_serve_announces_when_up_and_stop_stops_it(world: World) -> None:
    port = free_port()
    data_dir = Path(world.data_dir)
    env = _env(data_dir, world.redis_url)
    server = subprocess.Popen(
        [str(RECSYS), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 180
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line, f"serve exited early: {''.join(lines)}"
            lines.append(line)
            if line.startswith("Serving on"):
                break
        # Said only when true: the port answers at the moment the line appears.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
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
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            raise AssertionError("the server still answers after `recsys stop`")
        except httpx.TransportError:
            pass
    finally:
        if server.poll() is None:
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
