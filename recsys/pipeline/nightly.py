"""The nightly chain's shared parts: the lock, the run record, the step runner, the status.

    data/nightly/nightly.lock         held (fcntl) while a night runs: never two at once
    data/nightly/last.json            the latest run record (rewritten after every step)
    data/nightly/last_success.json    the latest run whose every step succeeded
    data/nightly/runs/<run_id>.json   every run's record; logs/<run_id>.log its full output

The steps themselves (dbt, Feast, training, batch scoring) are wired in ops/nightly.py, which
may import training/ and serving/; this module only runs callables in order, so the server
(`/ready`) and the monitoring report read the record without importing the chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

# Exit codes of `recsys nightly` (cron mails anything non-zero).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2  # the promotion gate refused the new model: no batch scoring
EXIT_LOCKED = 75  # EX_TEMPFAIL: another night holds the lock; try again later


class NightLockedError(RuntimeError):
    """Another nightly run holds the lock."""


class GateRefusedError(RuntimeError):
    """The promotion gate refused the new model; the steps after it must not run."""


@dataclass(frozen=True)
class StepOutput:
    """What a step reports: rows it processed (None when rows mean nothing) and one line."""

    rows: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], StepOutput]
    needs: tuple[str, ...] = ()


@dataclass
class StepRecord:
    name: str
    outcome: str = "pending"  # pending | running | ok | failed | refused | skipped
    started_at: str | None = None
    ended_at: str | None = None
    seconds: float | None = None
    rows: int | None = None
    detail: str = ""


@dataclass
class RunRecord:
    run_id: str
    started_at: str
    pid: int
    log: str
    outcome: str = "running"  # running | ok | failed | refused
    ended_at: str | None = None
    seconds: float | None = None
    steps: list[StepRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "seconds": self.seconds,
            "outcome": self.outcome,
            "pid": self.pid,
            "log": self.log,
            "steps": [vars(s) for s in self.steps],
            **self.extra,
        }

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)


def folder(data_dir: Path) -> Path:
    return data_dir / "nightly"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def night_lock(data_dir: Path) -> Iterator[None]:
    """Hold the nightly lock for a block; raise NightLockedError when another process has it.

    An fcntl lock dies with its process, so a killed night never leaves a stale lock behind.
    """
    path = folder(data_dir) / "nightly.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise NightLockedError(
                f"another nightly run holds {path} (pid {holder}); two nights never run at "
                "once. Wait for it to finish (`recsys nightly --status`), or, if no such "
                "process exists, run again: the lock is released when its process ends."
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_record(data_dir: Path, step_names: list[str]) -> RunRecord:
    run_id = f"n{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    log = folder(data_dir) / "logs" / f"{run_id}.log"
    return RunRecord(
        run_id=run_id,
        started_at=_now(),
        pid=os.getpid(),
        log=str(log),
        steps=[StepRecord(name) for name in step_names],
    )


def write_record(data_dir: Path, record: RunRecord) -> Path:
    """Write the record (atomically) as runs/<id>.json and last.json; on success also
    last_success.json. Returns the run's own file."""
    base = folder(data_dir)
    text = json.dumps(record.as_dict(), indent=1)
    targets = [base / "runs" / f"{record.run_id}.json", base / "last.json"]
    if record.outcome == "ok":
        targets.append(base / "last_success.json")
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text)
        partial.replace(target)
    return targets[0]


def run_steps(
    steps: list[Step],
    *,
    data_dir: Path,
    record: RunRecord,
    say: Callable[[str], None] = print,
    log: IO[str] | None = None,
) -> RunRecord:
    """Run the steps in order; a step whose need did not succeed is skipped, not run.

    Every step's outcome, duration and rows go into the record, which is rewritten after each
    step so a killed night leaves a record saying where it stopped. A step's own output goes
    to `log` (the run's log file), one line per step to `say`.
    """
    started = time.perf_counter()
    write_record(data_dir, record)
    for number, step in enumerate(steps, 1):
        entry = record.step(step.name)
        blocked = [n for n in step.needs if record.step(n).outcome != "ok"]
        prefix = f"[{number}/{len(steps)}] {step.name}"
        if blocked:
            entry.outcome = "skipped"
            entry.detail = f"not run: {', '.join(blocked)} did not succeed"
            say(f"{prefix}: skipped ({entry.detail})")
            write_record(data_dir, record)
            continue
        say(f"{prefix} ...")
        entry.outcome, entry.started_at = "running", _now()
        write_record(data_dir, record)
        began = time.perf_counter()
        try:
            with _to_log(log):
                output = step.run()
            entry.outcome, entry.rows, entry.detail = "ok", output.rows, output.detail
        except GateRefusedError as exc:
            entry.outcome, entry.detail = "refused", str(exc)
        except Exception as exc:  # any failure ends this step, recorded; dependents skip
            entry.outcome, entry.detail = "failed", f"{type(exc).__name__}: {exc}"
            if log is not None:
                import traceback

                traceback.print_exc(file=log)
                log.flush()
        entry.seconds = round(time.perf_counter() - began, 3)
        entry.ended_at = _now()
        rows = f", {entry.rows:,} rows" if entry.rows is not None else ""
        say(f"{prefix}: {entry.outcome} in {entry.seconds:.1f} s{rows}  {entry.detail}".rstrip())
        write_record(data_dir, record)
    outcomes = {s.outcome for s in record.steps}
    record.outcome = (
        "failed" if "failed" in outcomes else "refused" if "refused" in outcomes else "ok"
    )
    record.ended_at = _now()
    record.seconds = round(time.perf_counter() - started, 3)
    write_record(data_dir, record)
    return record


@contextlib.contextmanager
def _to_log(log: IO[str] | None) -> Iterator[None]:
    """Send a step's prints (dbt progress, training phases, tqdm) to the run's log file."""
    if log is None:
        yield
        return
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield
    log.flush()


def exit_code(record: RunRecord) -> int:
    return {"ok": EXIT_OK, "refused": EXIT_REFUSED}.get(record.outcome, EXIT_FAILED)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def status(data_dir: Path, *, max_age_hours: float, now: datetime | None = None) -> dict[str, Any]:
    """When the last successful night ended, how the latest went, and whether nights stalled.

    `recorded` is False when no night ever ran here (a hand-run setup): nothing is flagged
    then. Otherwise `stalled` is True when no night succeeded within `max_age_hours`.
    """
    now = now or datetime.now(UTC)
    last = _read(folder(data_dir) / "last.json")
    success = _read(folder(data_dir) / "last_success.json")
    doc: dict[str, Any] = {
        "recorded": last is not None,
        "max_age_hours": max_age_hours,
        "last_run": None,
        "last_success_at": None,
        "age_hours": None,
        "stalled": False,
    }
    if last is None:
        doc["detail"] = "no nightly run recorded (`recsys nightly` writes data/nightly/)"
        return doc
    failed = [s["name"] for s in last.get("steps", []) if s.get("outcome") in {"failed", "refused"}]
    doc["last_run"] = {
        "run_id": last.get("run_id"),
        "outcome": last.get("outcome"),
        "started_at": last.get("started_at"),
        "ended_at": last.get("ended_at"),
        "stopped_at": failed[0] if failed else None,
    }
    if success is None or not success.get("ended_at"):
        doc["stalled"] = True
        doc["detail"] = f"no nightly run ever succeeded; the latest {last.get('outcome')}"
        return doc
    ended = datetime.fromisoformat(success["ended_at"])
    age = (now - ended).total_seconds() / 3600
    doc["last_success_at"] = success["ended_at"]
    doc["age_hours"] = round(age, 3)
    doc["stalled"] = age > max_age_hours
    latest = "" if last.get("outcome") == "ok" else f"; the latest run {last.get('outcome')}"
    if failed:
        latest += f" at {failed[0]}"
    doc["detail"] = (
        f"last successful night ended {age:.1f} h ago"
        + (f" (limit {max_age_hours:g} h): stalled" if doc["stalled"] else "")
        + latest
    )
    return doc


# --- the ingest step: which landing files are new since the last night ---------------------


def landing_inventory(landing: Path) -> dict[str, list[int]]:
    """Every landing file as relative path -> [size, mtime_ns] (what "new" is measured on)."""
    if not landing.exists():
        return {}
    out = {}
    for path in sorted(landing.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            out[str(path.relative_to(landing))] = [stat.st_size, stat.st_mtime_ns]
    return out


def file_rows(path: Path) -> int:
    """Rows of a landing file: Parquet from its footer, JSON lines by counting lines.

    Raises ValueError naming the file when it cannot be read: a night never builds on it.
    """
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(
            f"landing file {path} cannot be read ({type(exc).__name__}: {exc}); expected "
            f"{'Parquet' if path.suffix == '.parquet' else 'JSON lines'}. Remove or replace "
            "it (reload it with `recsys ingest ...`), then run the night again."
        ) from None


def previous_inventory(data_dir: Path) -> dict[str, list[int]]:
    """The landing inventory of the latest night that got past its ingest step."""
    last = _read(folder(data_dir) / "last_success.json") or {}
    return dict(last.get("landing", {}))


def new_landing_files(current: dict[str, list[int]], previous: dict[str, list[int]]) -> list[str]:
    """Files added or changed (size or mtime) since `previous`."""
    return [name for name, stamp in current.items() if previous.get(name) != stamp]
