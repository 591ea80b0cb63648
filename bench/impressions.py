"""What the impression log costs: the same API with RECSYS_LOG_IMPRESSIONS on and off.

Part of `make bench-serve` (bench/serve.py). Four servers (`recsys serve --workers 2`: on, off,
an identical twin of off, every vector) on the same world, Redis and live sessions run side by
side; wrk alternates between them in short runs, each round in another order, each run after
every server is idle. The servers are restarted for each of four blocks in another start order,
because in an A/A check the server started first ran about 6% slower than its identical twin
for its whole life. The twin's change against off is the resolution of the run. "Off" still
runs the live Prometheus signals, the hand-over to the writer process and the last-impression
key (those are not switched by RECSYS_LOG_IMPRESSIONS); what it leaves out is the JSON lines.
"On" is the default (a tenth of the lines carry feature vectors); "every vector" logs the
vectors of every answer (RECSYS_IMPRESSION_FEATURES_SHARE=1), shown for what that costs.
"""

from __future__ import annotations

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
# "off, twin" is a second server set up exactly like "off": its change against "off" is what
# two identical servers differ by in this run, the resolution the other figures have.
VARIANT_ENV = {
    "on": {"RECSYS_LOG_IMPRESSIONS": "true"},
    "off": {"RECSYS_LOG_IMPRESSIONS": "false"},
    "off, twin": {"RECSYS_LOG_IMPRESSIONS": "false"},
    "every vector": {"RECSYS_LOG_IMPRESSIONS": "true", "RECSYS_IMPRESSION_FEATURES_SHARE": "1"},
}
VARIANTS = tuple(VARIANT_ENV)


@dataclass(frozen=True)
class CostOptions:
    rounds: int = 8  # per block; a multiple of 8 runs every order of _orders() equally often
    seconds: int = 2
    connections: int = 16


def _orders(variants: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The rotations of `variants` and their reverses: each variant takes each place equally
    often, and runs right after another as often as right before it."""
    rotations = [variants[i:] + variants[:i] for i in range(len(variants))]
    return rotations + [r[::-1] for r in rotations]


def start_servers(
    env: dict[str, str], root: Path, servers: list[ServerProcess], order: tuple[str, ...]
) -> dict[str, ServerProcess]:
    """Start one server per variant, in `order` (appended to `servers` for cleanup)."""
    started = {}
    for variant in order:
        port = free_port()
        command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
        server = start_server(
            f"our server, impressions {variant}",
            command,
            port=port,
            env={**env, **VARIANT_ENV[variant]},
            cwd=REPO_ROOT,
            log=root / f"impressions-{variant.replace(' ', '-').replace(',', '')}.log",
        )
        servers.append(server)
        server.wait_ready("/ready")
        started[variant] = server
    return started


# runs[variant][case] = one list per block, one result per round
Runs = dict[str, dict[str, list[list[LoadResult]]]]


def measure(
    start: Callable[[tuple[str, ...]], dict[str, ServerProcess]],
    requests_file: Path,
    redis: RedisServer,
    options: CostOptions,
    *,
    say: Callable[[str], None] = print,
) -> Runs:
    """A crossover: one block per start order of the servers (a server started first ran about
    6% slower than its identical twin started later, for the whole life of the process), and
    in each block short runs alternating between the variants, each round in another order.

    `start(order)` starts the servers in that order; each block's servers are stopped after it.
    """
    runs: Runs = {v: {"single": [], "saturation": []} for v in VARIANTS}
    orders = _orders(VARIANTS)
    for block, start_order in enumerate(orders[: len(VARIANTS)]):
        servers = start(start_order)
        try:
            every_pid = [pid for server in servers.values() for pid in server.pids()]
            every_pid.append(redis.pid)
            for variant in VARIANTS:  # warm-up, discarded
                _wrk(servers[variant], requests_file, redis, connections=2, seconds=3)
            for cases in runs.values():
                for results in cases.values():
                    results.append([])
            for n in range(options.rounds):
                for variant in orders[n % len(orders)]:
                    for case, connections in (("single", 1), ("saturation", options.connections)):
                        wait_quiet(every_pid)
                        r = _wrk(
                            servers[variant],
                            requests_file,
                            redis,
                            connections=connections,
                            seconds=options.seconds,
                        )
                        runs[variant][case][-1].append(r)
                say(
                    f"impressions block {block + 1}/{len(VARIANTS)}, round {n + 1}/"
                    f"{options.rounds}: "
                    + ", ".join(
                        f"{v} {runs[v]['saturation'][-1][-1].requests_per_s:,.0f} req/s"
                        for v in VARIANTS
                    )
                )
        finally:
            for server in servers.values():
                server.stop()
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


def summary(runs: Runs) -> dict[str, dict[str, Any]]:
    """Per variant and case: requests/s over all runs, median p50/p99 of the runs, and the
    paired change against "off" in the same round: its median in each block, averaged over
    the blocks (so each start place weighs the same)."""
    out: dict[str, dict[str, Any]] = {}
    for variant, cases in runs.items():
        for case, blocks in cases.items():
            results = [r for block in blocks for r in block]
            seconds = sum(r.seconds for r in results)
            rps_blocks, p99_blocks = [], []
            for block, off in zip(blocks, runs["off"][case], strict=True):
                pairs = list(zip(block, off, strict=True))
                rps_blocks.append(
                    statistics.median(_change(r.requests_per_s, o.requests_per_s) for r, o in pairs)
                )
                p99_blocks.append(statistics.median(_change(r.p99_ms, o.p99_ms) for r, o in pairs))
            out[f"{variant}/{case}"] = {
                "logging": variant,
                "case": case,
                "connections": results[0].connections,
                "blocks": len(blocks),
                "runs": len(results),
                "requests_per_s": round(sum(r.requests for r in results) / seconds, 1),
                "p50_ms": round(statistics.median(r.p50_ms for r in results), 3),
                "p99_ms": round(statistics.median(r.p99_ms for r in results), 3),
                "rps_vs_off": round(statistics.mean(rps_blocks), 4),
                "rps_vs_off_blocks": [round(v, 3) for v in rps_blocks],
                "p99_vs_off": round(statistics.mean(p99_blocks), 4),
                "p99_vs_off_blocks": [round(v, 3) for v in p99_blocks],
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
    """The 5% targets on the paired change against "off" (met or MISSED, never asserted),
    with the twin's change beside them: what identical servers differ by in the same run."""
    lines = []
    for case, label in (("single", "1 client"), ("saturation", "saturation")):
        on, off, twin = (figures[f"{v}/{case}"] for v in ("on", "off", "off, twin"))
        p99, rps = on["p99_vs_off"], on["rps_vs_off"]
        lines.append(
            f"impression logging, {label}: p99 {p99:+.1%} "
            f"({'met' if p99 <= TARGET else 'MISSED'}), requests/s {rps:+.1%} "
            f"({'met' if rps >= -TARGET else 'MISSED'}); identical twin of off: p99 "
            f"{twin['p99_vs_off']:+.1%}, requests/s {twin['rps_vs_off']:+.1%}; pooled p99 "
            f"{on['p99_ms']:.2f} vs {off['p99_ms']:.2f} ms, requests/s "
            f"{on['requests_per_s']:,.0f} vs {off['requests_per_s']:,.0f}"
        )
    return lines


COLUMNS = (
    "logging",
    "case",
    "connections",
    "blocks",
    "runs",
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "rps_vs_off",
    "rps_vs_off_blocks",
    "p99_vs_off",
    "p99_vs_off_blocks",
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
            "rps_vs_off_blocks": " / ".join(f"{v:+.3f}" for v in row["rps_vs_off_blocks"]),
            "p99_vs_off_blocks": " / ".join(f"{v:+.3f}" for v in row["p99_vs_off_blocks"]),
        }
        for row in figures.values()
    ]
    n = len(VARIANTS)
    notes = [
        "Targets (measured, not asserted): " + "; ".join(verdicts(figures)) + ".",
        f"Design: {n} `recsys serve --workers 2` servers on the same world, Redis and live "
        "sessions (on, off, an identical twin of off, every vector). A crossover in "
        f"{n} blocks: each block starts the servers in another order (each variant starts "
        "first once: a server started first ran about 6% slower than its identical twin for "
        "its whole life in an A/A check, as large as the effect measured), then runs "
        f"{options.rounds} rounds of wrk for {options.seconds} s per server at 1 and "
        f"{options.connections} connections, each round in another order (rotations and "
        "their reverses), each run after every server is idle. GET /recommendations k=20 "
        "with session ids. rps_vs_off / p99_vs_off: per block the median over rounds of the "
        "change against off in the same round (seconds apart), then the mean of the blocks "
        "(each block's in *_blocks); the targets are judged on these. requests_per_s: all "
        "runs' requests over their seconds; p50/p99: median of the runs.",
        "The twin is the bench's resolution: two identically configured servers differ by "
        "that much in this run, so a change of on within it is not told from zero.",
        "On (the defaults): every answer becomes a JSON line (items, scores, timings), and "
        "the lines of a tenth of the requests (RECSYS_IMPRESSION_FEATURES_SHARE=0.1, chosen "
        "by request id) also carry the 20 shown items' feature vectors; a writer process per "
        "worker encodes them. Every vector: RECSYS_IMPRESSION_FEATURES_SHARE=1, all lines "
        "carry vectors (not a target; what a full sample costs). Off: no lines; the request "
        "path is the same code (the queue, the hand-over to the writer process, the "
        "Prometheus live signals and the last-impression key in Redis still run), so what "
        "on adds is the writer's encoding and file writes.",
        "Machine caveat: wrk, Redis, the servers' workers and the writers share 2 cores "
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
