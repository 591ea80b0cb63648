"""Load-test helpers for `python -m bench.serve`: wrk runs and the server processes they hit.

wrk replays a file of prepared requests (bench/scripts/replay.lua) and its `done()`
prints exact percentiles as JSON; `run_wrk` parses that line into a `LoadResult`. Servers
start in their own process group so `stop` ends the whole tree (uvicorn's and gunicorn's
workers included) and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

REPLAY_SCRIPT = Path(__file__).resolve().parent / "scripts" / "replay.lua"
_JSON_PREFIX = "BENCH_JSON "


class BenchError(RuntimeError):
    """The benchmark cannot go on (missing tool, server that does not start, broken run)."""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, exact latency percentiles and every kind of error."""

    connections: int
    threads: int
    seconds: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int  # connect + read + write + timeout
    marked: int  # responses whose body held the marker (e.g. degraded answers)
    # average cores busy with processes that are not ours (server, Redis, wrk, this one):
    # other jobs on a shared machine, which make the figures of that run pessimistic
    other_cores: float
    # CPU milliseconds the server and Redis spent per answered request: unlike latency, this
    # barely moves with other jobs, and 2 cores / it bounds requests/s on a machine of its own
    cpu_ms_per_request: float

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def wrk_binary() -> str:
    """Return the wrk executable.

    Raises:
        BenchError: wrk is not installed.
    """
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        raise BenchError(
            "wrk not found on PATH or at /usr/bin/wrk; install it with "
            "`sudo apt-get install wrk` (Debian package) and run the benchmark again"
        )
    return found


def write_requests(path: Path, requests: Iterable[tuple[str, str, str | None]]) -> int:
    """Write (method, path, JSON body or None) rows in the format replay.lua reads.

    Returns:
        The number of requests written.

    Raises:
        BenchError: A path or body holds a tab or newline (it would split the line).
    """
    lines = []
    for method, target, body in requests:
        fields = [method, target] if body is None else [method, target, body]
        if any("\t" in f or "\n" in f for f in fields):
            raise BenchError(f"request {method} {target[:60]}: tabs/newlines cannot be replayed")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    connections: int,
    seconds: float,
    threads: int | None = None,
    timeout_s: float = 2.0,
    marker: str | None = None,
    pids: Sequence[int] = (),
) -> LoadResult:
    """Run wrk against `url` replaying `requests_file`; return its exact figures.

    Args:
        url: Base URL of the server (scheme, host, port).
        requests_file: File written by `write_requests`.
        connections: Open connections, each with one request in flight.
        seconds: Duration of the run.
        threads: wrk threads (default: 1 for one connection, else 2).
        timeout_s: A request not answered within this counts as a timeout error.
        marker: Substring counted in response bodies.
        pids: Processes of the system under test (server, Redis), to tell their CPU use from
            other jobs on the machine.

    Raises:
        BenchError: wrk failed or printed no result line.
    """
    threads = threads or (1 if connections == 1 else 2)
    threads = min(threads, connections)  # wrk refuses more threads than connections
    args = [
        wrk_binary(),
        f"--connections={connections}",
        f"--threads={threads}",
        f"--duration={int(seconds)}s",
        f"--timeout={max(1, round(timeout_s))}s",  # wrk takes whole seconds
        "--latency",
        f"--script={REPLAY_SCRIPT}",
        url,
        "--",
        str(requests_file),
        *([marker] if marker else []),
    ]
    before = _cpu_snapshot(pids)
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    after = _cpu_snapshot(pids)
    line = next((x for x in done.stdout.splitlines() if x.startswith(_JSON_PREFIX)), None)
    if done.returncode != 0 or line is None:
        raise BenchError(
            f"wrk against {url} exited with code {done.returncode} and no result line; "
            f"stdout: {done.stdout[-600:]!r} stderr: {done.stderr[-600:]!r}"
        )
    raw = json.loads(line[len(_JSON_PREFIX) :])
    duration_s = raw["duration_us"] / 1e6
    return LoadResult(
        connections=connections,
        threads=threads,
        seconds=round(duration_s, 2),
        requests=raw["requests"],
        requests_per_s=round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non2xx=raw["non2xx"],
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        marked=raw["marked"],
        other_cores=round(max(0.0, after.others - before.others) / max(duration_s, 1e-9), 2),
        cpu_ms_per_request=round(
            (after.server - before.server) * 1000 / max(raw["requests"], 1), 3
        ),
    )


@dataclass(frozen=True)
class _CpuSnapshot:
    others: float  # machine-wide busy CPU seconds minus those of our processes
    server: float  # CPU seconds of the processes under test (`pids`)


def _cpu_snapshot(pids: Sequence[int]) -> _CpuSnapshot:
    """Busy CPU seconds of the machine not spent by `pids`, wrk (a child) or this process."""
    hz = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    busy = (user + nice + system + irq + softirq + steal) / hz
    server = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited: its CPU is lost from the count, which errs towards "others"
        server += (int(stat[11]) + int(stat[12])) / hz  # utime, stime
    children, me = (
        resource.getrusage(resource.RUSAGE_CHILDREN),
        resource.getrusage(resource.RUSAGE_SELF),
    )
    ours = server + children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
    return _CpuSnapshot(others=busy - ours, server=server)


def wait_quiet(
    pids: Sequence[int], *, cores: float = 0.05, window_s: float = 0.25, timeout_s: float = 10.0
) -> float:
    """Wait until `pids` use less than `cores` over a `window_s` window (a writer finishing the
    previous run's backlog would otherwise land on the next run); the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        before = _cpu_snapshot(pids).server
        time.sleep(window_s)
        if (_cpu_snapshot(pids).server - before) / window_s < cores:
            break
    return time.perf_counter() - started


def best_under(results: Sequence[LoadResult], *, p99_ms: float) -> LoadResult | None:
    """The run with the most requests/s among those with p99 <= `p99_ms` and no errors."""
    fit = [r for r in results if r.p99_ms <= p99_ms and r.errors == 0]
    return max(fit, key=lambda r: r.requests_per_s, default=None)


@dataclass
class ServerProcess:
    """A server started in its own process group, with its log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False

    def pids(self, *, alive: bool = False) -> list[int]:
        """The processes of this server's group (leader and workers); `alive` skips zombies."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == self.process.pid and not (alive and stat[0] == "Z"):  # pgrp
                members.append(int(entry.name))
        return members

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, path: str, *, timeout_s: float = 240.0) -> None:
        """Poll `path` until it answers 200.

        Raises:
            BenchError: The process exited or did not answer in time (message has its log).
        """
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.process.returncode} before {path} "
                    f"answered; its log ({self.log}) ends with:\n{self.log_tail()}"
                )
            try:
                answer = httpx.get(self.url + path, timeout=5)
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}: {answer.text[:300]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise BenchError(
            f"{self.name} did not answer 200 on {path} within {timeout_s:.0f} s (last: {last}); "
            f"its log ({self.log}) ends with:\n{self.log_tail()}"
        )

    def stop(self, *, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL whatever of it lingers; later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        # the leader is reaped only at the end, so the group id cannot be reused before then
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.pids(alive=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pids(alive=True):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_server(
    name: str, args: list[str], *, port: int, env: dict[str, str], cwd: Path, log: Path
) -> ServerProcess:
    """Start `args` in a new process group, output to `log`; does not wait for readiness."""
    with log.open("ab") as handle:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stop() ends every worker it forks
        )
    return ServerProcess(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)


# -- traffic: who asks for what -------------------------------------------------------------

DEGRADED_MARKER = '"degraded":true'  # in our compact JSON answers, counted by replay.lua
COLD_SHARE = 0.1  # sessions of users the warehouse has never seen (cold-start path)
POPULAR_ITEMS = 200  # session views are drawn from this many most popular items
PEER_ITEMS = 300  # items per peer request: what our ranker scores per request


@dataclass(frozen=True)
class Session:
    user_id: str
    session_id: str
    item_ids: tuple[str, ...]


@dataclass(frozen=True)
class Traffic:
    """The live sessions to create and the requests replayed against both servers."""

    sessions: list[Session]  # in replay order (shuffled)
    users: list[str]  # known users (the warehouse has their features)
    popular: list[str]  # most popular items first
    seed: int

    def recommendation_requests(self) -> list[tuple[str, str, str | None]]:
        """GET /recommendations/{user}?k=20&session_id=..., one per live session."""
        return [
            (
                "GET",
                f"/recommendations/{quote(s.user_id, safe='')}?k=20"
                f"&session_id={quote(s.session_id, safe='')}",
                None,
            )
            for s in self.sessions
        ]

    def event_requests(self, count: int = 5_000) -> list[tuple[str, str, str | None]]:
        """POST /events, one view each, on sessions of their own (the measured ones stay put)."""
        rng = np.random.default_rng(self.seed + 1)
        out: list[tuple[str, str, str | None]] = []
        for i in range(count):
            event = {
                "user_id": self.users[int(rng.integers(len(self.users)))],
                "session_id": f"bench-events-{i % 1_000:04d}",
                "item_id": self.popular[int(rng.integers(len(self.popular)))],
                "event_type": "view",
            }
            out.append(("POST", "/events", json.dumps(event, separators=(",", ":"))))
        return out


def plan_traffic(exports: Path, *, sessions: int, seed: int) -> Traffic:
    """Draw `sessions` live sessions: mostly known users, 1-5 views of popular items each.

    Raises:
        BenchError: The exports hold no users or no popular items.
    """
    import duckdb

    with duckdb.connect() as con:
        users = [
            str(u)
            for (u,) in con.execute(
                "select distinct user_id from read_parquet(?) order by user_id",
                [str(exports / "user_features.parquet")],
            ).fetchall()
        ]
        popular = [
            str(i)
            for (i,) in con.execute(
                "select item_id from read_parquet(?) where snapshot_name = 'serving' "
                "order by decayed_score desc, item_id limit ?",
                [str(exports / "item_popularity.parquet"), POPULAR_ITEMS],
            ).fetchall()
        ]
    if not users or not popular:
        raise BenchError(
            f"{exports}: expected users in user_features.parquet and serving-snapshot items "
            f"in item_popularity.parquet, found {len(users)} users and {len(popular)} items; "
            "the world build did not finish"
        )
    rng = np.random.default_rng(seed)
    cold = int(sessions * COLD_SHARE)
    known = rng.choice(len(users), size=sessions - cold, replace=sessions - cold > len(users))
    owners = [users[int(i)] for i in known] + [f"bench-cold-{i:05d}" for i in range(cold)]
    planned = [
        Session(
            user_id=owner,
            session_id=f"bench-{n:05d}",
            item_ids=tuple(popular[int(i)] for i in rng.choice(len(popular), rng.integers(1, 6))),
        )
        for n, owner in enumerate(owners)
    ]
    order = rng.permutation(len(planned))
    return Traffic([planned[int(i)] for i in order], users, popular, seed)


def create_sessions(url: str, traffic: Traffic, *, sample: int = 100) -> dict[str, Any]:
    """POST each session's views (30 s apart, ending now), then check a sample of answers.

    Returns:
        What the sampled recommendation answers looked like (candidates, session events).

    Raises:
        BenchError: An event was not accepted, or a sampled answer was degraded.
    """
    now = time.time()

    def post(client: httpx.Client, session: Session) -> None:
        views = len(session.item_ids)
        events = [
            {
                "user_id": session.user_id,
                "session_id": session.session_id,
                "item_id": item,
                "event_type": "view",
                "event_timestamp": now - 30.0 * (views - 1 - j),
            }
            for j, item in enumerate(session.item_ids)
        ]
        answer = client.post("/events", json=events)
        body = answer.json() if answer.status_code == 200 else {}
        if body.get("accepted") != views or body.get("degraded"):
            raise BenchError(
                f"POST /events for session {session.session_id}: expected {views} accepted "
                f"events, found HTTP {answer.status_code} {answer.text[:300]}"
            )

    with (
        httpx.Client(base_url=url, timeout=30) as client,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        list(pool.map(lambda s: post(client, s), traffic.sessions))
        texts = [client.get(path).text for _, path, _ in traffic.recommendation_requests()[:sample]]
    if DEGRADED_MARKER.replace("true", "false") not in texts[0]:
        raise BenchError(
            f"our answers do not spell the degraded flag as {DEGRADED_MARKER!r} (the marker "
            f"replay.lua counts); found {texts[0][:200]!r}; update DEGRADED_MARKER"
        )
    answers = [json.loads(t) for t in texts]
    degraded = [a for a in answers if a.get("degraded")]
    if degraded:
        raise BenchError(
            f"{len(degraded)} of {len(answers)} sampled recommendations were degraded "
            f"(first reason: {degraded[0].get('reason')}); the model path is not running"
        )
    candidates = sorted(int(a["candidates"]) for a in answers)
    return {
        "answers": len(answers),
        "candidates_min": candidates[0],
        "candidates_median": candidates[len(candidates) // 2],
        "session_events_max": max(int(a["session_events"]) for a in answers),
        "session_events_min": min(int(a["session_events"]) for a in answers),
    }


@dataclass(frozen=True)
class PeerLoad:
    """The peer's requests: one user's and 300 items' features per request."""

    requests: list[tuple[str, str, str | None]]
    refs: list[str]
    items_per_request: int

    @property
    def describe(self) -> str:
        views = sorted({r.split(":", 1)[0] for r in self.refs})
        return (
            f"POST /get-online-features with {len(self.refs)} feature refs "
            f"({', '.join(views)}; full_feature_names=true) and entities "
            f"user_id x {self.items_per_request} (one user repeated) + item_id x "
            f"{self.items_per_request} (the candidates our ranker scored for that user and "
            f"session, padded with popular items)"
        )

    def check(self, url: str) -> str:
        """Send one request and count the item values found.

        Raises:
            BenchError: The peer did not answer 200 or found none of the items.
        """
        _, path, body = self.requests[0]
        answer = httpx.post(
            url + path, content=body, headers={"Content-Type": "application/json"}, timeout=60
        )
        if answer.status_code != 200:
            raise BenchError(f"feast serve {path}: HTTP {answer.status_code} {answer.text[:500]}")
        payload = answer.json()
        names = payload["metadata"]["feature_names"]
        column = next(i for i, n in enumerate(names) if n.startswith("item_features__"))
        statuses = payload["results"][column]["statuses"]
        present = sum(s == "PRESENT" for s in statuses)
        if present == 0:
            raise BenchError(f"feast serve found none of the {len(statuses)} items' features")
        return f"peer answered {len(statuses)} rows, {present} with item features present"


def peer_requests(
    candidates: list[tuple[str, list[str]]], *, refs: list[str], fill: list[str]
) -> PeerLoad:
    """One get-online-features request per (user, candidate items) pair.

    Args:
        candidates: The user and the items our ranker scored for one of their requests.
        refs: Feature refs to read (ranker_v1's user_features and item_features).
        fill: Items (most popular first) that pad a short candidate list to PEER_ITEMS.
    """
    requests: list[tuple[str, str, str | None]] = []
    for user_id, items in candidates:
        chosen = list(dict.fromkeys(items))[:PEER_ITEMS]
        taken = set(chosen)
        chosen += [i for i in fill if i not in taken][: PEER_ITEMS - len(chosen)]
        body = {
            "features": refs,
            "entities": {"user_id": [user_id] * len(chosen), "item_id": chosen},
            "full_feature_names": True,
        }
        requests.append(("POST", "/get-online-features", json.dumps(body, separators=(",", ":"))))
    return PeerLoad(requests=requests, refs=refs, items_per_request=PEER_ITEMS)
