"""Whether the next `recsys build` may be incremental, and from which day (dbt/README.md).

$RECSYS_DATA_DIR/dbt/build_state.json records what the last complete build was made from:

    {"definition": "<sha256>", "watermark_day": 19876, "mode": "incremental", "built_at": ...}

`definition` hashes the dbt project's model and macro files, dbt_project.yml, the vars the
build passed (except the incremental ones) and the load ids (name, size, modification time)
of the item and user files, which every stored day joins. When it changes, stored rows may
have been computed by other rules, so the next build is a full refresh. `watermark_day` is the
last UTC day with clean events: an incremental build recomputes from watermark_day -
incremental_lookback_days on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from recsys.config import Paths, dbt_project_dir

Mode = Literal["auto", "full", "incremental"]
MODES: Final = ("auto", "full", "incremental")
FILE_NAME: Final = "build_state.json"
# Vars the runner sets per build: they say how to build, not what the rows mean.
RUN_VARS: Final = frozenset({"build_mode", "incremental_since_day", "incremental_tests"})
DEFAULT_LOOKBACK_DAYS: Final = 2


@dataclass(frozen=True)
class Plan:
    """How the next build runs: `mode` is "full" or "incremental", `reason` says why."""

    mode: Literal["full", "incremental"]
    reason: str
    since_day: int | None = None


def state_file(layout: Paths) -> Path:
    return layout.data_dir / "dbt" / FILE_NAME


def definition_hash(layout: Paths, build_vars: dict[str, Any]) -> str:
    """Hash of everything that decides what a stored row contains, besides the events."""
    digest = hashlib.sha256()
    project = dbt_project_dir()
    files = [project / "dbt_project.yml"]
    for folder in ("models", "macros"):
        files += sorted(p for p in (project / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(project)).encode())
        digest.update(path.read_bytes())
    kept = {k: v for k, v in build_vars.items() if k not in RUN_VARS}
    digest.update(json.dumps(kept, sort_keys=True, default=str).encode())
    for path in (layout.landing_items, layout.landing_users):
        if path.exists():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def lookback_days(build_vars: dict[str, Any]) -> int:
    """incremental_lookback_days: the build's vars, else dbt_project.yml, else 2."""
    if "incremental_lookback_days" in build_vars:
        return int(build_vars["incremental_lookback_days"])
    text = (dbt_project_dir() / "dbt_project.yml").read_text()
    found = re.search(r"^\s+incremental_lookback_days:\s*(\d+)\s*$", text, re.MULTILINE)
    return int(found.group(1)) if found else DEFAULT_LOOKBACK_DAYS


def read(layout: Paths) -> dict[str, Any] | None:
    """The last complete build's record, or None (never built, or unreadable: build in full)."""
    try:
        recorded = json.loads(state_file(layout).read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def plan(layout: Paths, mode: Mode, build_vars: dict[str, Any]) -> Plan:
    """Decide full or incremental for `mode` ("auto" decides from the recorded state).

    Raises:
        ValueError: `mode` is "incremental" but nothing was built incrementally-ready before.
    """
    if mode not in MODES:
        raise ValueError(f"build mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "full":
        return Plan("full", "asked for a full refresh")
    recorded = read(layout)
    why_full = None
    if recorded is None or not layout.warehouse.exists():
        why_full = f"no earlier complete build recorded in {state_file(layout)}"
    elif recorded.get("watermark_day") is None:
        why_full = "the last build had no clean events"
    elif recorded.get("definition") != definition_hash(layout, build_vars):
        why_full = "model definitions, vars or the item/user files changed since the last build"
    if why_full is not None or recorded is None:
        why_full = why_full or "no earlier build"
        if mode == "incremental":
            raise ValueError(
                f"cannot build incrementally: {why_full}; run `recsys build --full-refresh` "
                "(or `recsys build`, which decides by itself)"
            )
        return Plan("full", why_full)
    since = int(recorded["watermark_day"]) - lookback_days(build_vars)
    return Plan("incremental", f"new landing files; days from {since} recomputed", since)


def write(
    layout: Paths, build_vars: dict[str, Any], *, mode: str, watermark_day: int | None
) -> None:
    """Record a complete, passed build (atomically: a killed write leaves the old record)."""
    target = state_file(layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "definition": definition_hash(layout, build_vars),
        "watermark_day": watermark_day,
        "mode": mode,
        "built_at": datetime.now(UTC).isoformat(),
    }
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(target)


def forget(layout: Paths) -> None:
    """Drop the record (a failed or partial build: the next one must be full)."""
    state_file(layout).unlink(missing_ok=True)
