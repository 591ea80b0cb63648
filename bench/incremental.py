"""Benchmark incremental `recsys build`: one new day built incrementally vs a full build.

Usage: python -m bench.incremental [--events 5000000] [--no-record] [--profile FILE]

Generates N events (60 days), holds the last UTC day back, builds the history in full, then
lands the day and builds it incrementally (timed), then builds the same files in full (timed),
in one run and one data folder. The ratio is incremental / full, wall and CPU (user + system).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench.dbt_build import _data_dir
from bench.results import record

COMMAND: Final = "make bench-offline"
TARGET_RATIO: Final = 0.15
COLUMNS: Final = (
    "events",
    "new_day_events",
    "incremental_s",
    "full_s",
    "ratio",
    "incremental_cpu_s",
    "full_cpu_s",
    "cpu_ratio",
    "load_average",
    "slowest_incremental",
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _hold_back_last_day(data_dir: Path) -> tuple[Path, int]:
    """Move the last UTC day's events out of landing/ into a file of their own; return it."""
    import duckdb

    events = data_dir / "landing" / "events"
    held = data_dir / "held-back-day.parquet"
    history = data_dir / "history.parquet"
    day = "cast(event_timestamp at time zone 'UTC' as date)"
    with duckdb.connect() as connection:
        connection.execute(f"create view e as select * from read_parquet('{events}/*.parquet')")
        last = connection.execute(f"select max({day}) from e").fetchone()
        assert last is not None
        connection.execute(f"copy (select * from e where {day} < '{last[0]}') to '{history}'")
        connection.execute(f"copy (select * from e where {day} = '{last[0]}') to '{held}'")
        counted = connection.execute(f"select count(*) from read_parquet('{held}')").fetchone()
    for path in events.glob("*.parquet"):
        path.unlink()
    history.rename(events / "history.parquet")
    return held, int(counted[0]) if counted else 0


def _timed_build(mode: str) -> tuple[Any, float, float]:
    from recsys.pipeline import dbt_runner

    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    summary = dbt_runner.build(quiet=True, mode=mode)  # type: ignore[arg-type]
    return summary, time.perf_counter() - started, _cpu_seconds() - cpu_before


def measure(*, events: int, seed: int = 1, profile: Path | None = None) -> dict[str, Any]:
    """One history build, then the new day incrementally and the same files in full."""
    from recsys.config import Paths
    from recsys.ingest.generator import GeneratorConfig, generate
    from recsys.pipeline import dbt_runner

    with tempfile.TemporaryDirectory(prefix="recsys-bench-inc-") as folder, _data_dir(Path(folder)):
        data_dir = Path(folder)
        generate(GeneratorConfig(events=events, seed=seed), layout=Paths(data_dir))
        held, day_events = _hold_back_last_day(data_dir)
        dbt_runner.parse()
        dbt_runner.build(quiet=True, mode="full")
        held.rename(data_dir / "landing" / "events" / "new-day.parquet")
        incremental, incremental_s, incremental_cpu = _timed_build("auto")
        assert incremental.mode == "incremental", incremental.mode_reason
        full, full_s, full_cpu = _timed_build("full")
    if profile is not None:
        profile.write_text(
            json.dumps(
                {
                    kind: [[n.name, n.resource_type, round(n.seconds, 2)] for n in s.nodes]
                    for kind, s in (("incremental", incremental), ("full", full))
                },
                indent=1,
            )
        )
    return {
        "events": events,
        "new_day_events": day_events,
        "incremental_s": round(incremental_s, 1),
        "full_s": round(full_s, 1),
        "ratio": round(incremental_s / full_s, 2),
        "incremental_cpu_s": round(incremental_cpu, 1),
        "full_cpu_s": round(full_cpu, 1),
        "cpu_ratio": round(incremental_cpu / full_cpu, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "slowest_incremental": ", ".join(
            f"{n.name} {n.seconds:.1f}s" for n in incremental.slowest(3)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="node timings as JSON")
    args = parser.parse_args()
    row = measure(events=args.events, profile=args.profile)
    print(row, flush=True)
    if args.no_record:
        return
    record(
        "offline-incremental",
        title="Incremental dbt build: one new day vs a full build (same files, same run)",
        command=COMMAND,
        columns=list(COLUMNS),
        rows=[row],
        notes=(
            f"Target: the new day (about 1/60 of the history) in at most {TARGET_RATIO:.0%} of "
            "the full build's time. Both builds are `recsys build` (models, tests, exports) in "
            "one data folder: history built in full first (untimed), then the held-back last "
            "day incrementally, then the same files in full. ratio = incremental / full wall "
            "time; cpu_ratio the same for user + system CPU of this process (dbt runs "
            "in-process). On a shared 2-core machine wall times move with the load."
        ),
    )


if __name__ == "__main__":
    main()
