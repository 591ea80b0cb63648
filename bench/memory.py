"""`make bench-memory`: memory per server worker with and without the shared catalog.

    .venv/bin/python -m bench.memory [--world-dir DIR] [--workers 1 2 4] [--no-record]

1. A Redis of our own on a free port; two generated worlds built by the CLI (15k and 200k
   items; `--world-dir` keeps them for later runs, which only re-materialize). The model is
   trained on the small world and copied to the large one (the feature service is the same),
   so the large world costs a build, not a training run.
2. For each world, worker count and `RECSYS_SHARED_CATALOG` off / on: start
   `uvicorn serving.main:create_app --workers N` with a fresh catalog folder (a shared start
   includes writing the version), time it until every worker finished its start-up, replay
   GET /recommendations with wrk for a few seconds so every worker touches the catalog, then
   read each worker's /proc/<pid>/smaps_rollup: RSS (pages it maps, shared ones counted in
   full) and PSS (each shared page divided by the processes that map it: what a worker
   really costs the host).
3. Results into benchmarks.json / BENCHMARKS.md, section "memory".
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import (
    BenchError,
    ServerProcess,
    plan_traffic,
    run_wrk,
    start_server,
    write_requests,
)
from bench.world import WORLD_MARKER, WorldError, cli_env, run_cli
from recsys.config import REPO_ROOT
from recsys.redis_runtime import free_port, start_redis

# items, events (enough that most items have neighbours and sessions), generator seed
WORLDS = {"15k": (15_000, 300_000, 21), "200k": (200_000, 1_200_000, 22)}
TRAIN = ["--max-train-queries", "4000", "--max-test-queries", "1500"]
COLUMNS = [
    "items",
    "workers",
    "shared catalog",
    "catalog MiB",
    "RSS / worker MiB",
    "PSS / worker MiB",
    "PSS all workers MiB",
    "start-up to ready s",
    "start-up CPU s",
    "load req/s",
]
MIB = 2**20


@dataclass(frozen=True)
class Memory:
    """One process's memory from /proc/<pid>/smaps_rollup, in bytes."""

    rss: int
    pss: int
    pss_anon: int
    pss_file: int


def parse_smaps_rollup(text: str) -> Memory:
    """Read RSS and PSS (and PSS's anonymous / file parts) from smaps_rollup text.

    Raises:
        ValueError: A field is missing (a kernel without smaps_rollup's PSS lines).
    """
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name.strip()] = int(parts[0]) * 1024
    missing = [n for n in ("Rss", "Pss") if n not in fields]
    if missing:
        raise ValueError(f"smaps_rollup: expected fields Rss and Pss, missing {missing}")
    return Memory(
        rss=fields["Rss"],
        pss=fields["Pss"],
        pss_anon=fields.get("Pss_Anon", 0),
        pss_file=fields.get("Pss_File", 0),
    )


def worker_pids(server: ServerProcess, workers: int) -> list[int]:
    """The processes that serve requests: uvicorn's spawned workers, or the leader alone."""
    if workers == 1:
        return [server.process.pid]
    found = []
    for pid in server.pids(alive=True):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return sorted(found)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime + stime, plus the children it reaped (a catalog built in a child process)
        total += sum(int(stat[i]) for i in (11, 12, 13, 14))  # clock ticks
    return total / 100


# -- worlds -------------------------------------------------------------------------------


def prepare_worlds(root: Path, redis_url: str, log: Path) -> dict[str, Path]:
    """Build (or re-materialize) the two worlds under `root`; return their data dirs."""
    dirs = {}
    small: Path | None = None
    for name, (items, events, seed) in WORLDS.items():
        data_dir = root / name
        env = cli_env(world_redis(redis_url, name), data_dir)
        spec = {"items": items, "events": events, "seed": seed}
        marker = data_dir / WORLD_MARKER
        if marker.exists() and json.loads(marker.read_text()) == spec:
            print(f"reusing the {name}-item world in {data_dir}", flush=True)
            run_cli(["materialize"], env, log)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            print(f"building a world of {items:,} items, {events:,} events", flush=True)
            generate = ["ingest", "generate", "--events", str(events), "--items", str(items)]
            run_cli([*generate, "--seed", str(seed)], env, log)
            run_cli(["features"], env, log)
            if small is None:
                run_cli(["train", *TRAIN], env, log)
            else:  # same feature service, so the small world's model serves here too
                shutil.copytree(small / "models", data_dir / "models", symlinks=True)
            marker.write_text(json.dumps(spec))
        small = small or data_dir
        dirs[name] = data_dir
    return dirs


def world_redis(redis_url: str, name: str) -> str:
    """Each world in a Redis database of its own (their generated ids overlap)."""
    return f"{redis_url.rsplit('/', 1)[0]}/{list(WORLDS).index(name) + 1}"


# -- one server ---------------------------------------------------------------------------


def measure(
    data_dir: Path,
    redis_url: str,
    *,
    workers: int,
    shared: bool,
    requests_file: Path,
    load_seconds: int,
    scratch: Path,
) -> dict[str, Any]:
    """Start one server, time its start-up, load it, read its workers' memory, stop it."""
    catalog_dir = scratch / f"catalog-{workers}-{int(shared)}"
    shutil.rmtree(catalog_dir, ignore_errors=True)
    env = cli_env(redis_url, data_dir)
    env.update(
        RECSYS_SHARED_CATALOG="true" if shared else "false",
        RECSYS_CATALOG_DIR=str(catalog_dir),
        RECSYS_LOG_IMPRESSIONS="false",  # the impression writer is another process per worker
    )
    port = free_port()
    log = scratch / f"server-{workers}-{int(shared)}.log"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "uvicorn", "serving.main:create_app", "--factory"]
    command += ["--workers", str(workers), "--port", str(port), "--log-level", "info"]
    started = time.perf_counter()
    server = start_server("server", command, port=port, env=env, cwd=REPO_ROOT, log=log)
    try:
        deadline = time.monotonic() + 900
        while log.read_text(errors="replace").count("Application startup complete") < workers:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"server did not start; its log ends with:\n{server.log_tail()}")
            time.sleep(0.2)
        ready_s = time.perf_counter() - started
        pids = worker_pids(server, workers)
        startup_cpu = _cpu_seconds(pids)
        load = run_wrk(server.url, requests_file, connections=4, seconds=load_seconds, pids=pids)
        memory = [parse_smaps_rollup(Path(f"/proc/{p}/smaps_rollup").read_text()) for p in pids]
    finally:
        server.stop()
    versions = list(catalog_dir.glob("v-*"))
    return {
        "workers": workers,
        "shared catalog": "on" if shared else "off",
        "catalog MiB": (
            round(sum(f.stat().st_size for f in versions[0].glob("*.npy")) / MIB, 1)
            if versions
            else None
        ),
        "RSS / worker MiB": round(statistics.mean(m.rss for m in memory) / MIB, 1),
        "PSS / worker MiB": round(statistics.mean(m.pss for m in memory) / MIB, 1),
        "PSS all workers MiB": round(sum(m.pss for m in memory) / MIB, 1),
        "PSS file / worker MiB": round(statistics.mean(m.pss_file for m in memory) / MIB, 1),
        "start-up to ready s": round(ready_s, 1),
        "start-up CPU s": round(startup_cpu, 1),
        "load req/s": load.requests_per_s,
        "load errors": load.errors,
        "other jobs cores": load.other_cores,
    }


def notes(rows: list[dict[str, Any]]) -> str:
    """How to read the table, and the saving per worker count in this run."""
    lines = [
        "RSS counts every page a worker maps, shared ones in full; PSS divides each shared "
        "page by the processes mapping it (what a worker costs the host). Read after a few "
        "seconds of GET /recommendations (wrk, 4 connections) so every worker touched the "
        "catalog; impression logging off (its writer is a process of its own). A shared start "
        "includes writing the catalog version (fresh folder per run). Machine shared with "
        "other jobs: start-up seconds are wall time under load, CPU seconds are the workers'.",
    ]
    for items in sorted({r["items"] for r in rows}):
        for workers in sorted({r["workers"] for r in rows}):
            pair = {
                r["shared catalog"]: r
                for r in rows
                if (r["items"], r["workers"]) == (items, workers)
            }
            if {"on", "off"} <= pair.keys():
                off, on = pair["off"], pair["on"]
                lines.append(
                    f"{items} items, {workers} worker(s): PSS/worker {off['PSS / worker MiB']} -> "
                    f"{on['PSS / worker MiB']} MiB, all workers {off['PSS all workers MiB']} -> "
                    f"{on['PSS all workers MiB']} MiB, start-up {off['start-up to ready s']} -> "
                    f"{on['start-up to ready s']} s."
                )
    return "\n\n".join(lines)  # one paragraph each in BENCHMARKS.md


def main() -> None:
    """Build the worlds, measure every configuration, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-dir", type=Path, help="keep the worlds here, reuse them after")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    parser.add_argument("--load-seconds", type=int, default=8)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="recsys-bench-memory-") as tmp:
        scratch = Path(tmp)
        world_root = args.world_dir.resolve() if args.world_dir else scratch / "worlds"
        redis = start_redis(scratch / "redis")
        rows = []
        try:
            worlds = prepare_worlds(world_root, redis.url, scratch / "build.log")
            for name in args.worlds:
                traffic = plan_traffic(worlds[name] / "exports", sessions=2_000, seed=3)
                requests = scratch / f"requests-{name}.tsv"
                write_requests(requests, traffic.recommendation_requests())
                for workers in args.workers:
                    for shared in (False, True):
                        row = {"items": name}
                        row |= measure(
                            worlds[name],
                            world_redis(redis.url, name),
                            workers=workers,
                            shared=shared,
                            requests_file=requests,
                            load_seconds=args.load_seconds,
                            scratch=scratch,
                        )
                        print("  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
                        rows.append(row)
        except (BenchError, WorldError) as exc:
            print(f"bench-memory failed: {exc}", file=sys.stderr)
            raise SystemExit(1) from exc
        finally:
            redis.stop()
    print(notes(rows))
    if not args.no_record:
        from bench.results import record

        record(
            "memory",
            title="Memory per server worker: shared (memory-mapped) catalog off vs on",
            command="make bench-memory  (python -m bench.memory)",
            columns=COLUMNS,
            rows=rows,
            notes=notes(rows),
        )
        print("recorded section 'memory' in BENCHMARKS.md and benchmarks.json")


if __name__ == "__main__":
    main()
