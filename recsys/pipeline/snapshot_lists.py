"""When the per-snapshot list models compute their lists, and reusing lists already computed.

Part of the dbt project's dependencies, like item_embeddings and item_rules (which use it): it
imports nothing else of the project.

item_embeddings and item_rules compute every snapshot's lists from all events before it: a
PPMI matrix and its SVD, or a count of every pair. Their cost does not shrink with the new
day, so an incremental night would pay for all four snapshots again. Two rules keep a night
cheap and a full rebuild equal to it:

- `list_refresh_days` (var, default 0): with N > 0, a snapshot's lists are computed from the
  events before the latest UTC midnight on a grid of N days (days since 1970-01-01 divisible
  by N) at or before the snapshot, not before the snapshot itself. The lists are at most N
  days older than the snapshot and still point-in-time correct (nothing at or after the
  snapshot is read); the cut-off then moves only when a snapshot crosses a grid line, so most
  nights compute no new lists. With 0, lists are exact at every snapshot.
- With a grid, a computed list set is stored under $RECSYS_DATA_DIR/list_snapshots/, keyed by
  the rules that made it (the model's parameters and the source of the modules computing it)
  and the cut-off, with a fingerprint of the events before the cut-off (their count and the
  sum of a hash of each event's session, position and item). An incremental build reuses a
  stored set only when all of these match, so a late event before the cut-off, a changed var
  or a changed kernel recomputes it. A full build never reads stored sets (it is the check
  that incremental builds equal it), only writes them. Without a grid nothing is stored:
  the cut-offs move with every build.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import duckdb

DAY_US: Final = 86_400_000_000
FOLDER: Final = "list_snapshots"


def reuses_stored_sets(build_mode_var: object) -> bool:
    """Whether this build may reuse stored list sets: only an incremental one, by dbt var
    build_mode when given, else RECSYS_BUILD_MODE (dbt/macros/build_settings.sql)."""
    mode = str(build_mode_var or "") or os.environ.get("RECSYS_BUILD_MODE", "full")
    return mode == "incremental"


def lists_cutoff(snapshot_at_us: int, refresh_days: int) -> int:
    """The instant before which a snapshot's lists read events (see module docstring)."""
    if refresh_days < 0:
        raise ValueError(
            f"var list_refresh_days: expected a whole number >= 0, found {refresh_days}"
        )
    if refresh_days == 0:
        return snapshot_at_us
    step = refresh_days * DAY_US
    return (snapshot_at_us // step) * step


def event_fingerprints(
    con: duckdb.DuckDBPyConnection, events: duckdb.DuckDBPyRelation, cutoffs: Sequence[int]
) -> dict[int, str]:
    """Per cut-off (epoch us), the count and the wrapping sum of a hash of each event's
    session id, position and item id, over the events before it: one scan of `events`."""
    if not cutoffs:
        return {}
    columns = []
    for i, cutoff in enumerate(cutoffs):
        columns.append(f"count(*) filter (where at_us < {int(cutoff)}) as n{i}")
        columns.append(f"coalesce(sum(h) filter (where at_us < {int(cutoff)}), 0) as s{i}")
    con.register("_fingerprint_events", events)
    try:
        row = con.sql(
            f"select {', '.join(columns)} from (select epoch_us(event_timestamp) as at_us,"
            " hash(session_id, session_position, item_id) as h from _fingerprint_events)"
        ).fetchone()
    finally:
        con.unregister("_fingerprint_events")
    assert row is not None
    return {
        int(cutoff): f"{int(row[2 * i])}-{int(row[2 * i + 1]) % 2**64:016x}"
        for i, cutoff in enumerate(cutoffs)
    }


@dataclass(frozen=True)
class ListStore:
    """Stored list sets of one model under one set of rules; `reuse` False writes only."""

    folder: Path | None
    reuse: bool

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str] | None,
        model: str,
        rules: Mapping[str, object],
        sources: Sequence[Path],
        *,
        reuse: bool,
    ) -> ListStore:
        if not data_dir:
            return cls(None, False)
        digest = hashlib.sha256(json.dumps(rules, sort_keys=True).encode())
        for source in sources:
            digest.update(source.read_bytes())
        return cls(Path(data_dir) / FOLDER / model / digest.hexdigest()[:16], reuse)

    def _path(self, cutoff: int, print_: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{cutoff}-{print_}.parquet"

    def get(self, cutoff: int, print_: str) -> pa.Table | None:
        if self.folder is None or not self.reuse:
            return None
        path = self._path(cutoff, print_)
        try:
            return pq.read_table(path)
        except (FileNotFoundError, OSError, pa.ArrowInvalid):
            return None  # absent or unreadable: compute it again

    def put(self, cutoff: int, print_: str, table: pa.Table) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        os.close(handle)
        temporary = Path(name)
        try:
            pq.write_table(table, temporary)
            temporary.replace(self._path(cutoff, print_))  # readers never see half a file
        finally:
            temporary.unlink(missing_ok=True)

    def prune(self, kept: set[tuple[int, str]], keep_between: tuple[int, int]) -> None:
        """Drop other rules' folders and sets no snapshot can use again.

        Kept: the sets this build used, and the sets whose cut-off lies between this build's
        first and last (an older window will move onto them later).
        """
        if self.folder is None or not self.folder.parent.is_dir():
            return
        for other in self.folder.parent.iterdir():
            if other != self.folder and other.is_dir():
                for path in other.iterdir():
                    path.unlink()
                other.rmdir()
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            cutoff_text, _, print_ = path.name.removesuffix(".parquet").partition("-")
            if not path.name.endswith(".parquet") or not cutoff_text.isdigit():
                path.unlink()  # a temporary file of an interrupted build
                continue
            cutoff = int(cutoff_text)
            if (cutoff, print_) in kept:
                continue
            between = keep_between[0] <= cutoff <= keep_between[1]
            if between and all(cutoff != c for c, _ in kept):  # not a stale set of a used one
                continue
            path.unlink()


def per_snapshot(
    snapshot_rows: Sequence[tuple[str, int]],
    *,
    refresh_days: int,
    store: ListStore,
    fingerprints: Callable[[list[int]], dict[int, str]],
    compute: Callable[[int], pa.Table],
    label: Callable[[pa.Table, str, int], pa.Table],
) -> list[pa.Table]:
    """Each snapshot's rows: `compute(cutoff)` gives the lists (item_id + list columns) of
    the events before `cutoff`; `label(lists, name, snapshot_at)` adds the snapshot's columns.
    `fingerprints(cutoffs)` is asked only with a grid. A cut-off shared by two snapshots is
    computed once."""
    cutoffs = sorted({lists_cutoff(at, refresh_days) for _, at in snapshot_rows})
    prints = fingerprints(cutoffs) if refresh_days > 0 else {}
    done: dict[int, pa.Table] = {}
    for cutoff in cutoffs:
        if refresh_days == 0:  # cut-offs move with every build: storing would not pay
            done[cutoff] = compute(cutoff)
            continue
        lists = store.get(cutoff, prints[cutoff])
        if lists is None:
            lists = compute(cutoff)
            store.put(cutoff, prints[cutoff], lists)
        done[cutoff] = lists
    if prints:
        store.prune(set(prints.items()), (cutoffs[0], cutoffs[-1]))
    return [label(done[lists_cutoff(at, refresh_days)], name, at) for name, at in snapshot_rows]
