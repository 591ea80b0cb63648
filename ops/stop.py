"""`recsys stop`: stop what this project started (its server, its own Redis), nothing else."""

from __future__ import annotations

from recsys import redis_runtime
from recsys.config import paths
from recsys.processes import command_line, terminate


def stop_server() -> str:
    """Stop the `recsys serve` recorded in data/run/server.pid; say what happened."""
    pid_file = paths().server_pid
    if not pid_file.exists():
        return "no server is recorded; nothing to stop"
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink(missing_ok=True)
        return f"{pid_file} held no PID; removed it"
    # The PID may have been reused by an unrelated process since the server died.
    if b"serve" not in command_line(pid):
        pid_file.unlink(missing_ok=True)
        return f"recorded server (pid {pid}) is no longer running; removed {pid_file}"
    terminate(pid, timeout_s=15.0)
    pid_file.unlink(missing_ok=True)
    return f"stopped the server (pid {pid})"


def stop() -> None:
    """Stop the server `recsys serve` started and the Redis the project started itself."""
    print(stop_server())
    print(redis_runtime.stop_own_redis())
