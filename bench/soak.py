"""Soak: mixed traffic on a real 2-worker server while Redis dies and a model is promoted.

    .venv/bin/python -m bench.soak [--seconds 300] [--world DIR] [--no-record]

1. A world built by the CLI (bench/world.py; `--world DIR` builds it once and reuses it) on a
   Redis of our own with an append-only file (fsync always), so that a restart keeps what was
   acknowledged, as a production Redis would.
2. `recsys serve --workers 2`, then client threads at a steady rate: GET /recommendations for
   live sessions (most requests) and POST /events (1-3 new events, unique event ids, each
   session kept under the 50 events a session state holds).
3. At 30% of the run Redis is killed (SIGKILL) and restarted after an outage; at 60% a new
   model version (a copy of the current one) is promoted with `recsys promote`.
4. After the traffic: events accepted vs present in the session state (read back through the
   API) vs landed (landing/served/*.jsonl, each id once), 5xx and transport errors, degraded
   share, p50/p99, and the server's memory growth. Results in benchmarks.json and BENCHMARKS.md
   (section "soak"); a short run is a test (tests/bench/test_soak.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

from bench.load import ServerProcess, start_server
from bench.world import SMALL_WORLD, cli_env, prepare_world, run_cli
from recsys.config import REPO_ROOT
from recsys.redis_runtime import free_port, redis_server_binary

WORLD = SMALL_WORLD
SESSION_EVENT_CAP = 40  # below the 50 a session state keeps, so every event stays countable


class DurableRedis:
    """A redis-server with an append-only file: killed with SIGKILL, restarted with its data."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"]
        args += ["--save", "", "--protected-mode", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if httpx_free_ping(self.port):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {self.port}; see {self.folder}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def httpx_free_ping(port: int) -> bool:
    """PING over a raw socket (redis-py is not needed to know the port answers)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@dataclass
class Tally:
    """What the clients saw; one per thread, merged at the end."""

    requests: int = 0
    status: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    degraded: int = 0
    answers: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # event_id -> session_id
    session_user: dict[str, str] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)  # model_version -> answers
    first_seen: dict[str, float] = field(default_factory=dict)  # model_version -> monotonic
    examples: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        for code, count in other.status.items():
            self.status[code] = self.status.get(code, 0) + count
        self.transport_errors += other.transport_errors
        self.degraded += other.degraded
        self.answers += other.answers
        self.latencies_ms += other.latencies_ms
        self.accepted.update(other.accepted)
        self.session_user.update(other.session_user)
        for version, count in other.models.items():
            self.models[version] = self.models.get(version, 0) + count
        for version, seen in other.first_seen.items():
            self.first_seen[version] = min(seen, self.first_seen.get(version, seen))
        self.examples += other.examples[:5]


def _catalog(data_dir: Path) -> tuple[list[str], list[str]]:
    exports = data_dir / "exports"
    with duckdb.connect() as con:
        users = con.execute(
            "select distinct user_id from read_parquet(?) limit 500",
            [str(exports / "user_features.parquet")],
        ).fetchall()
        items = con.execute(
            "select distinct item_id from read_parquet(?) limit 300",
            [str(exports / "item_features.parquet")],
        ).fetchall()
    return [str(u) for (u,) in users], [str(i) for (i,) in items]


def _client_loop(
    url: str,
    *,
    thread: int,
    run_id: str,
    rate: float,
    stop: threading.Event,
    users: list[str],
    items: list[str],
    tally: Tally,
) -> None:
    rng = random.Random(thread)
    period = 1.0 / rate
    session_n, session_events = 0, 0
    user = rng.choice(users)
    counter = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            session = f"soak-{run_id}-{thread}-{session_n}"
            write = rng.random() < 0.35
            try:
                if write:
                    events = []
                    for _ in range(rng.randint(1, 3)):
                        counter += 1
                        events.append(
                            {
                                "event_id": f"soak-{run_id}-{thread}-{counter}",
                                "user_id": user,
                                "session_id": session,
                                "item_id": rng.choice(items),
                                "event_type": rng.choice(("view", "view", "add_to_cart")),
                            }
                        )
                    tally.session_user[session] = user
                    response = client.post("/events", json={"events": events})
                else:
                    response = client.get(
                        f"/recommendations/{user}", params={"session_id": session, "k": 20}
                    )
            except httpx.HTTPError as exc:
                tally.transport_errors += 1
                tally.examples.append(f"{type(exc).__name__}: {exc}")
                time.sleep(period)
                continue
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            tally.requests += 1
            tally.status[response.status_code] = tally.status.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                tally.examples.append(f"{response.status_code}: {response.text[:200]}")
            elif response.status_code == 200:
                body = response.json()
                tally.answers += 1
                tally.degraded += bool(body.get("degraded"))
                if not write:
                    version = str(body.get("model_version"))
                    tally.models[version] = tally.models.get(version, 0) + 1
                    tally.first_seen.setdefault(version, time.monotonic())
                if write:
                    for status in body["events"]:
                        if status["status"] == "accepted":
                            tally.accepted[status["event_id"]] = session
                    session_events += len(events)
                    if session_events + 3 > SESSION_EVENT_CAP:
                        session_n, session_events = session_n + 1, 0
                        user = rng.choice(users)
            time.sleep(max(0.0, period - (time.perf_counter() - started)))


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _promote_copy(data_dir: Path, env: dict[str, str], log: Path) -> str:
    """Promote a new version: a copy of the current one under a new name."""
    models = data_dir / "models"
    current = (models / "current").resolve()
    version = f"{current.name}-soak{int(time.time())}"
    shutil.copytree(current, models / version)
    # The server reports metadata.json's version: the copy must carry its own name.
    meta_path = models / version / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "version": version}))
    run_cli(["promote", version], env, log)
    return version


def _in_session(url: str, users: dict[str, str]) -> dict[str, int]:
    """Events per session as the API reports them (session_events), read when not degraded."""
    counts = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for session in users:
            for _ in range(50):
                body = client.get(
                    f"/recommendations/{users[session]}", params={"session_id": session, "k": 1}
                ).json()
                if not body.get("degraded"):
                    break
                time.sleep(0.2)
            counts[session] = int(body.get("session_events", 0))
    return counts


def _wait_for_model(
    url: str, version: str, *, since: float, timeout_s: float = 180
) -> float | None:
    """Seconds from the promotion until /ready reports `version` (None: not within timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(f"{url}/ready", timeout=10).json().get("model_version") == version:
                return round(time.monotonic() - since, 1)
        time.sleep(0.5)
    return None


def _landed(data_dir: Path, run_id: str) -> list[str]:
    ids = []
    for path in sorted((data_dir / "landing" / "served").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if f'"soak-{run_id}-' in line:
                ids.append(json.loads(line)["event_id"])
    return ids


def run(
    *,
    data_dir: Path,
    redis: DurableRedis,
    seconds: float,
    root: Path,
    threads: int = 4,
    rate: float = 10.0,
    outage_seconds: float | None = None,
) -> dict[str, Any]:
    """Steps 2-4 of the module docstring on a prepared world; returns the results."""
    env = cli_env(redis.url, data_dir)
    env.update(RECSYS_MODEL_POLL_SECONDS="1", RECSYS_REDIS_RETRY_SECONDS="0.5")
    port = free_port()
    command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
    server: ServerProcess = start_server(
        "soak server", command, port=port, env=env, cwd=REPO_ROOT, log=root / "server.log"
    )
    users, items = _catalog(data_dir)
    run_id = f"{int(time.time())}"
    stop = threading.Event()
    tallies = [Tally() for _ in range(threads)]
    workers: list[threading.Thread] = []
    outage = outage_seconds if outage_seconds is not None else min(10.0, seconds * 0.1)
    timeline: list[str] = []
    try:
        server.wait_ready("/health")
        started = time.monotonic()
        for n in range(threads):
            kwargs = {"thread": n, "run_id": run_id, "rate": rate, "stop": stop}
            worker = threading.Thread(
                target=_client_loop,
                args=(server.url,),
                kwargs={**kwargs, "users": users, "items": items, "tally": tallies[n]},
                daemon=True,
            )
            worker.start()
            workers.append(worker)

        def at(fraction: float) -> None:
            time.sleep(max(0.0, started + seconds * fraction - time.monotonic()))

        at(0.1)  # memory after warm-up: growth from here on is what a long run would see
        rss_start = _rss_mb(server.pids(alive=True))
        at(0.3)
        redis.kill()
        timeline.append(f"{time.monotonic() - started:.0f} s: Redis killed (SIGKILL)")
        time.sleep(outage)
        redis.start()
        timeline.append(f"{time.monotonic() - started:.0f} s: Redis restarted")
        at(0.6)
        promoted_at = time.monotonic()  # from the start of `recsys promote`
        version = _promote_copy(data_dir, env, root / "cli.log")
        timeline.append(f"{time.monotonic() - started:.0f} s: promoted {version}")
        at(1.0)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        elapsed = time.monotonic() - started
        rss_end = _rss_mb(server.pids(alive=True))
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        # Events accepted during the outage are replayed asynchronously: give them a moment.
        deadline = time.monotonic() + 20
        while True:
            in_session = _in_session(server.url, total.session_user)
            if sum(in_session.values()) >= len(total.accepted) or time.monotonic() > deadline:
                break
            time.sleep(2)
        landed = _landed(data_dir, run_id)
        if version in total.first_seen:  # first answer from the new model, during traffic
            promoted_after: float | None = round(total.first_seen[version] - promoted_at, 1)
        else:
            promoted_after = _wait_for_model(server.url, version, since=promoted_at)
    finally:
        stop.set()
        server.stop()
    latencies = np.array(total.latencies_ms or [0.0])
    server_errors = sum(c for code, c in total.status.items() if code >= 500)
    per_session: dict[str, int] = {}
    for session in total.accepted.values():
        per_session[session] = per_session.get(session, 0) + 1
    return {
        "seconds": round(elapsed, 1),
        "requests": total.requests,
        "requests_per_s": round(total.requests / elapsed, 1),
        "status": {str(k): v for k, v in sorted(total.status.items())},
        "server_errors": server_errors,
        "transport_errors": total.transport_errors,
        "degraded_share": round(total.degraded / max(1, total.answers), 4),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "events_accepted": len(total.accepted),
        "events_in_session": sum(in_session.values()),
        "sessions_short": sum(1 for s, n in in_session.items() if n < per_session.get(s, 0)),
        "events_landed": len(set(landed)),
        "events_landed_twice": len(landed) - len(set(landed)),
        "accepted_not_landed": len(set(total.accepted) - set(landed)),
        "server_rss_start_mb": round(rss_start, 1),
        "server_rss_end_mb": round(rss_end, 1),
        "server_rss_growth_mb": round(rss_end - rss_start, 1),
        "promoted_version": version,
        "promoted_served_after_s": promoted_after,
        "answers_by_model": total.models,
        "timeline": timeline,
        "error_examples": total.examples[:5],
    }


def verdicts(results: dict[str, Any]) -> list[tuple[str, bool]]:
    """What must hold after a soak, each with whether it did."""
    return [
        ("no 5xx", results["server_errors"] == 0),
        ("no transport errors", results["transport_errors"] == 0),
        ("accepted == landed", results["events_landed"] == results["events_accepted"]),
        ("no event landed twice", results["events_landed_twice"] == 0),
        ("accepted == in session", results["events_in_session"] == results["events_accepted"]),
        (
            "promoted model served",
            results["promoted_served_after_s"] is not None,
        ),
    ]


COLUMNS = [
    "seconds",
    "requests",
    "requests_per_s",
    "server_errors",
    "transport_errors",
    "degraded_share",
    "p50_ms",
    "p99_ms",
    "events_accepted",
    "events_in_session",
    "events_landed",
    "server_rss_growth_mb",
]


def main() -> None:
    """Build or reuse the world, soak the server, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the traffic")
    parser.add_argument("--world", type=Path, help="build the world here once, reuse it after")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per thread")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recsys-soak-") as tmp:
        root = Path(tmp)
        redis = DurableRedis(root / "redis")
        try:
            world = args.world or root / "world"
            prepare_world(
                WORLD, args.world is not None, cli_env(redis.url, world), root / "cli.log"
            )
            if args.world is not None:
                # A reused world must not carry an earlier soak's landed events or versions.
                shutil.rmtree(world / "landing" / "served", ignore_errors=True)
            results = run(
                data_dir=world,
                redis=redis,
                seconds=args.seconds,
                root=root,
                threads=args.threads,
                rate=args.rate,
            )
        finally:
            redis.kill()
    checks = verdicts(results)
    print(json.dumps(results, indent=2))
    for name, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if not args.no_record:
        from bench.results import record

        record(
            "soak",
            title="Soak: mixed traffic, Redis killed and restarted, a model promoted midway",
            command=f"make soak  (python -m bench.soak --seconds {args.seconds:g})",
            columns=COLUMNS,
            rows=[{k: results[k] for k in COLUMNS}],
            notes=(
                f"2 server workers, {args.threads} client threads at {args.rate:g} requests/s "
                "each (35% POST /events with 1-3 events, 65% GET /recommendations). "
                f"Timeline: {'; '.join(results['timeline'])}. Status codes: {results['status']}. "
                f"Landed twice: {results['events_landed_twice']}; sessions short of their "
                f"accepted events: {results['sessions_short']}. Memory: server RSS (all "
                f"processes) {results['server_rss_start_mb']} -> {results['server_rss_end_mb']}"
                " MB. Checks: "
                + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in checks)
                + "."
            ),
        )
        print("recorded section 'soak' in BENCHMARKS.md and benchmarks.json")
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
