"""What the impression log costs: the same API with RECSYS_LOG_IMPRESSIONS on and off.

Part of `make bench-serve` (bench/serve.py). Three servers (`recsys serve --workers 2`, the same
world, the same Redis, the same live sessions) run side by side, and wrk alternates between them
round by round, each round in another of the six orders of the three variants (so each variant
runs first, second and third equally often; with a fixed middle place the "off" server always
ran after a logging one), and before each run waits until all three servers are idle, so a
writer still finishing one run's backlog never lands on the next. Each round measures 1
connection (latency) and a saturating connection count (requests/s). "Off" still runs the live
Prometheus signals and the last-impression key (those are not switched by
RECSYS_LOG_IMPRESSIONS); what it leaves out is the JSON lines. "On" is the default (a tenth of
the lines carry feature vectors); "every vector" logs the vectors of every answer
(RECSYS_IMPRESSION_FEATURES_SHARE=1), shown for what that costs.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import (
    DEGRADED_MARKER,
    LoadResult,
    ServerProcess,
    run_wrk,
    start_server,
    wait_quiet,
)
from recsys.config import REPO_ROOT
from recsys.redis_runtime import RedisServer, free_port

TARGET = 0.05  # p99 and requests/s within 5% of logging off
# The server settings of each variant; the 5% targets compare "on" (the defaults) with "off".
VARIANT_ENV = {
    "on": {"RECSYS_LOG_IMPRESSIONS": "true"},
    "off": {"RECSYS_LOG_IMPRESSIONS": "false"},
    "every vector": {"RECSYS_LOG_IMPRESSIONS": "true", "RECSYS_IMPRESSION_FEATURES_SHARE": "1"},
}
VARIANTS = tuple(VARIANT_ENV)


@dataclass(frozen=True)
class CostOptions:
    rounds: int = 12  # a multiple of 6: every order of the three variants equally often
    seconds: int = 10
    connections: int = 16


def start_pair(
    env: dict[str, str], root: Path, servers: list[ServerProcess]
) -> dict[str, ServerProcess]:
    """Start the logging-on and logging-off servers (appended to `servers` for cleanup)."""
    pair = {}
    for variant in VARIANTS:
        port = free_port()
        command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
        server = start_server(
            f"our server, impressions {variant}",
            command,
            port=port,
            env={**env, **VARIANT_ENV[variant]},
            cwd=REPO_ROOT,
            log=root / f"impressions-{variant.replace(' ', '-')}.log",
        )
        servers.append(server)
        server.wait_ready("/ready")
        pair[variant] = server
    return pair


def measure(
    pair: dict[str, ServerProcess],
    requests_file: Path,
    redis: RedisServer,
    options: CostOptions,
    *,
    say: Callable[[str], None] = print,
) -> dict[str, dict[str, list[LoadResult]]]:
    """Alternate wrk runs between the two servers; every run of every round, per variant."""
    runs: dict[str, dict[str, list[LoadResult]]] = {
        v: {"single": [], "saturation": []} for v in VARIANTS
    }
    for variant in VARIANTS:  # warm-up, discarded
        _wrk(pair[variant], requests_file, redis, connections=2, seconds=5)
    orders = itertools.cycle(itertools.permutations(VARIANTS))
    every_pid = [pid for server in pair.values() for pid in server.pids()] + [redis.pid]
    for n in range(options.rounds):
        for variant in next(orders):
            for case, connections in (("single", 1), ("saturation", options.connections)):
                wait_quiet(every_pid)
                r = _wrk(
                    pair[variant],
                    requests_file,
                    redis,
                    connections=connections,
                    seconds=options.seconds,
                )
                runs[variant][case].append(r)
                say(
                    f"impressions {variant}, round {n + 1}, {connections} connection(s): "
                    f"{r.requests_per_s:,.0f} req/s, p99 {r.p99_ms:.2f} ms, errors {r.errors}"
                )
    return runs


def _wrk(
    server: ServerProcess,
    requests_file: Path,
    redis: RedisServer,
    *,
    connections: int,
    seconds: int,
) -> LoadResult:
    return run_wrk(
        server.url,
        requests_file,
        connections=connections,
        seconds=seconds,
        marker=DEGRADED_MARKER,
        pids=[*server.pids(), redis.pid],
    )


def summary(runs: dict[str, dict[str, list[LoadResult]]]) -> dict[str, dict[str, Any]]:
    """Per variant and case: requests/s over all rounds, median p50/p99 of the rounds, and the
    median over rounds of the paired change against "off" measured in the same round."""
    out: dict[str, dict[str, Any]] = {}
    for variant, cases in runs.items():
        for case, results in cases.items():
            seconds = sum(r.seconds for r in results)
            off = runs["off"][case]
            pairs = list(zip(results, off, strict=True))
            rps_each = [_change(r.requests_per_s, o.requests_per_s) for r, o in pairs]
            p99_each = [_change(r.p99_ms, o.p99_ms) for r, o in pairs]
            out[f"{variant}/{case}"] = {
                "logging": variant,
                "case": case,
                "connections": results[0].connections,
                "rounds": len(results),
                "requests_per_s": round(sum(r.requests for r in results) / seconds, 1),
                "p50_ms": round(statistics.median(r.p50_ms for r in results), 3),
                "p99_ms": round(statistics.median(r.p99_ms for r in results), 3),
                "p99_ms_each": [round(r.p99_ms, 2) for r in results],
                "rps_vs_off": round(statistics.median(rps_each), 4),
                "p99_vs_off": round(statistics.median(p99_each), 4),
                "p99_vs_off_each": [round(v, 3) for v in p99_each],
                "errors": sum(r.errors for r in results),
                "degraded": sum(r.marked for r in results),
                "cpu_ms_per_req": round(
                    statistics.median(r.cpu_ms_per_request for r in results), 2
                ),
                "other_jobs_cores": round(statistics.mean(r.other_cores for r in results), 2),
            }
    return out


def _change(value: float, base: float) -> float:
    return value / base - 1 if base else float("nan")


def verdicts(figures: dict[str, dict[str, Any]]) -> list[str]:
    """The 5% targets on the median paired change against "off" (met or MISSED, never
    asserted); the pooled figures of all rounds beside them."""
    lines = []
    for case, label in (("single", "1 client"), ("saturation", "saturation")):
        on, off = figures[f"on/{case}"], figures[f"off/{case}"]
        p99, rps = on["p99_vs_off"], on["rps_vs_off"]
        lines.append(
            f"impression logging, {label}: p99 {p99:+.1%} (median of {on['rounds']} paired "
            f"rounds; pooled {on['p99_ms']:.2f} vs {off['p99_ms']:.2f} ms) -> "
            f"{'met' if p99 <= TARGET else 'MISSED'}; requests/s {rps:+.1%} (pooled "
            f"{on['requests_per_s']:,.0f} vs {off['requests_per_s']:,.0f}) -> "
            f"{'met' if rps >= -TARGET else 'MISSED'}"
        )
    return lines


COLUMNS = (
    "logging",
    "case",
    "connections",
    "rounds",
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "p99_ms_each",
    "rps_vs_off",
    "p99_vs_off",
    "p99_vs_off_each",
    "errors",
    "degraded",
    "cpu_ms_per_req",
    "other_jobs_cores",
)


def record_section(figures: dict[str, dict[str, Any]], options: CostOptions) -> None:
    """Write the comparison as its own section of BENCHMARKS.md / benchmarks.json."""
    from bench.results import record

    rows = [
        {
            **row,
            "p99_ms_each": " / ".join(str(v) for v in row["p99_ms_each"]),
            "p99_vs_off_each": " / ".join(f"{v:+.3f}" for v in row["p99_vs_off_each"]),
        }
        for row in figures.values()
    ]
    notes = [
        "Targets (measured, not asserted): " + "; ".join(verdicts(figures)) + ".",
        "Three `recsys serve --workers 2` servers on the same world, Redis and live sessions, "
        "side by side (on, off, every vector); wrk alternates between them, each round in "
        "another of the six orders of the three, each run after all three servers are idle, "
        f"for {options.rounds} rounds of {options.seconds} s at 1 and "
        f"{options.connections} connections, GET /recommendations k=20 with session ids. "
        "requests_per_s: all rounds' requests over their seconds; p50/p99: median of the "
        "rounds (each round's p99 in p99_ms_each). rps_vs_off / p99_vs_off: the median over "
        "rounds of the change against the off server measured in the same round, minutes "
        "apart at most (each round's in p99_vs_off_each); the targets are judged on these, "
        "since a neighbour's job moves whole rounds by more than 5%.",
        "On (the defaults): every answer becomes a JSON line (items, scores, timings), and "
        "the lines of a tenth of the requests (RECSYS_IMPRESSION_FEATURES_SHARE=0.1, chosen "
        "by request id) also carry the 20 shown items' feature vectors; a writer process per "
        "worker encodes them. Every vector: RECSYS_IMPRESSION_FEATURES_SHARE=1, all lines "
        "carry vectors (not a target; what a full sample costs). Off: no lines; the queue, the "
        "writer process, the Prometheus live signals and the last-impression key in Redis "
        "still run.",
        "Machine caveat: wrk, Redis, both servers' workers and the writers share 2 cores "
        "with other people's jobs (other_jobs_cores); at saturation the writer's CPU competes "
        "with the server's, so the throughput gap there is an upper bound for a server with "
        "cores of its own.",
    ]
    record(
        "serve-impressions",
        title="Serving: the impression log's cost (logging on vs off, same run)",
        command="make bench-serve  (python -m bench.serve; --only-impressions for this part)",
        columns=list(COLUMNS),
        rows=rows,
        notes="\n".join(f"- {line}" for line in notes),
    )
