"""Load the latest feature rows into Redis in exactly Feast's online format (`recsys materialize`).

Stock `feast materialize` builds one protobuf object per value in Python (about 6k rows/s for
20 features here, see BENCHMARKS.md). The fast engine writes the same bytes column-wise:
DuckDB picks the latest row per entity, numpy and Arrow encode whole columns, and each batch's
Redis commands go out as one buffer. What Feast 0.67 writes, and so what we write
(feast/infra/online_stores/redis.py and feast/infra/key_encoding_utils.py):

    key                         serialize_entity_key(v3) + project
    mmh3("<view>:<feature>")    Value protobuf bytes (b"" when the value is null or NaN)
    "_ts:<view>"                google.protobuf.Timestamp bytes of the row's event_timestamp

As in Feast, a row is written only when it is newer than the `_ts` already stored for its key,
so the engines and pushes can follow each other in any order. The interval is recorded in the
registry, so `feast materialize-incremental` continues from ours and the other way round.
On a Redis Cluster (`redis_type: redis_cluster`) each batch is split by key slot and every
primary gets its own pipelines (recsys/pipeline/online_nodes.py); the bytes are the same.

Nothing passes silently: the registry's source paths are first brought to the current
RECSYS_DATA_DIR (`feast_ops.sync_sources`), a view's interval is recorded only once its rows are
all acknowledged by Redis, and at the end every entity the source has in the materialized
interval must be in Redis (`MaterializeError` says which view is short, by how much, and how
to fix it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.pipeline.online_format import (
    DUCKDB_TYPES,
    BatchWriter,
    encode_entity_keys,
    encode_timestamps,
    encode_values,
    field_name,
    newer_than_stored,
    read_timestamps_command,
    resp_commands,
    timestamp_field,
)
from recsys.pipeline.online_nodes import NodeRouter, per_key_replies, take

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView, FileSource

ENGINES = ("fast", "feast")
DEFAULT_BATCH_ROWS = 20_000


@dataclass(frozen=True)
class ViewResult:
    """What materializing one feature view did."""

    view: str
    rows: int = 0
    seconds: float = 0.0
    start: datetime | None = None
    end: datetime | None = None
    unchanged: int = 0
    skipped: str | None = None
    # The end-state check: entities the source has in [checked_from, end], and how many of
    # them Redis holds (None when not checked).
    expected: int | None = None
    present: int | None = None
    checked_from: datetime | None = None

    @property
    def missing(self) -> int:
        return max((self.expected or 0) - (self.present or 0), 0)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class MaterializeSummary:
    """Per-view results of one `materialize` call."""

    engine: str
    views: list[ViewResult]
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)

    def counts(self) -> dict[str, int]:
        """Rows read per view (written or already as new in Redis); skipped views count 0."""
        return {v.view: v.rows for v in self.views}


class MaterializeError(RuntimeError):
    """Materialization ended with source entities missing from Redis; `summary` says where."""

    def __init__(self, message: str, summary: MaterializeSummary) -> None:
        super().__init__(message)
        self.summary = summary


def materialize(
    *,
    start: datetime | None,
    end: datetime | None,
    incremental: bool,
    views: list[str] | None,
    engine: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    store: FeatureStore | None = None,
) -> MaterializeSummary:
    """Load each view's latest row per entity with start <= event_timestamp <= end into Redis.

    Args:
        start: Interval start (UTC if naive); default the view's earliest row.
        end: Interval end (UTC if naive); default now.
        incremental: Start each view where its last materialization ended (else now - ttl),
            like `feast materialize-incremental`; `start` must then be None.
        views: Feature view names; default all.
        engine: "fast" (bulk writer, same keys and bytes as Feast) or "feast" (stock path).
        batch_rows: Rows per batch of the fast engine (bounds its memory).
        store: The store to use; default `feast_ops.feature_store()` on feature_repo/.

    Returns:
        Rows, seconds, interval and end-state counts per view; views whose source file is
        missing are skipped.

    Raises:
        ValueError: Unknown engine or view, start after end, or start given with incremental.
        MaterializeError: Redis lacks entities the source has in the materialized interval.
    """
    if engine not in ENGINES:
        raise ValueError(f"materialize engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if incremental and start is not None:
        raise ValueError("materialize: --start and --incremental exclude each other; pass one")
    if store is None:
        from recsys.pipeline import feast_ops

        store = feast_ops.feature_store()
    from recsys.pipeline.feast_ops import sync_sources

    notes = [f"source moved, view re-registered: {line}" for line in sync_sources(store)]
    end = _utc(end) if end else datetime.now(UTC)
    results = []
    for view in _select_views(store, views):
        source = _file_source(view)
        if not Path(source.path).exists():
            results.append(ViewResult(view.name, skipped=f"{source.path} does not exist yet"))
            continue
        view_start = _view_start(view, source, start=start, end=end, incremental=incremental)
        if view_start > end:
            raise ValueError(
                f"materialize {view.name}: start {view_start.isoformat()} is after end "
                f"{end.isoformat()}; pass an --end after the last materialization"
            )
        began = time.perf_counter()
        if engine == "feast":
            rows, unchanged = _count_latest(view, source, view_start, end), 0
            store.materialize(start_date=view_start, end_date=end, feature_views=[view.name])
        else:
            rows, unchanged = write_view(
                store, view, start=view_start, end=end, batch_rows=batch_rows
            )
            store.registry.apply_materialization(view, store.project, view_start, end)
        seconds = time.perf_counter() - began
        results.append(ViewResult(view.name, rows, seconds, view_start, end, unchanged))
    summary = MaterializeSummary(engine=engine, views=results, notes=notes)
    summary = check_online(store, summary, incremental=incremental)  # raises when short
    # Only a complete, checked materialization marks the store as filled.
    _mark_materialized(store, summary)
    return summary


def _mark_materialized(store: FeatureStore, summary: MaterializeSummary) -> None:
    """Write the marker the server checks to tell a filled online store from an empty one."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    from recsys.online_marker import write_marker

    client = RedisOnlineStore()._get_client(store.config.online_store)
    try:
        write_marker(client, summary)
    finally:
        client.close()


def format_summary(summary: MaterializeSummary) -> str:
    """Render a summary as one line per view."""
    lines = [f"materialize ({summary.engine} engine):", *(f"  {n}" for n in summary.notes)]
    for r in summary.views:
        if r.skipped:
            lines.append(f"  {r.view:<27} skipped: {r.skipped}; nothing to load")
            continue
        assert r.start is not None and r.end is not None
        kept = f"  ({r.unchanged:,} not newer than Redis, left as they were)" if r.unchanged else ""
        lines.append(
            f"  {r.view:<27} {r.rows:>10,} rows {r.seconds:8.2f} s {r.rows_per_s:>9,.0f} rows/s"
            f"  [{r.start:%Y-%m-%d %H:%M:%S} .. {r.end:%Y-%m-%d %H:%M:%S}]{kept}"
        )
        if r.expected is not None:
            short = f", {r.missing:,} MISSING" if r.missing else ""
            lines.append(
                f"  {'':<27} Redis holds {r.present:,} of the source's {r.expected:,} entities"
                f" since {r.checked_from:%Y-%m-%d %H:%M:%S}{short}"
            )
    lines.append(f"  total {summary.rows:,} rows")
    return "\n".join(lines)


def write_view(
    store: FeatureStore,
    view: FeatureView,
    *,
    start: datetime,
    end: datetime,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> tuple[int, int]:
    """Write a view's latest row per entity in [start, end] to Redis as Feast would.

    Does not touch the registry (`materialize` records the interval).

    Returns:
        (rows loaded, rows left alone because Redis already held a newer or equal timestamp)

    Raises:
        ValueError: A column is missing, a join key is null, or the online store is not a
            Redis server or Redis Cluster with entity keys of version 3.
    """
    from feast.infra.online_stores.redis import RedisOnlineStore, _versioned_fv_name

    online = _redis_config(store)
    name = _versioned_fv_name(view, store.config)
    ts_field = timestamp_field(name)
    fields = [field_name(name, f.name) for f in view.features]
    key_types = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    value_types = [f.dtype.to_value_type() for f in view.features]
    expire = str(online.key_ttl_seconds).encode() if online.key_ttl_seconds else None
    client = RedisOnlineStore()._get_client(online)
    rows = unchanged = 0
    try:
        # Two connections per node: timestamp reads get answered while Redis still works
        # through earlier HSETs, which a thread sends so that the next batch is encoded
        # meanwhile. A cluster gets a pair per primary, each fed the rows of its slots.
        router = NodeRouter(client)
        reads = router.pipes()
        writers = [BatchWriter(pipe) for pipe in router.pipes()]
        try:
            for batch in _latest_batches(view, _file_source(view), start, end, batch_rows):
                keys = encode_entity_keys(batch, key_types, project=store.project, view=view.name)
                ts_us = batch.column("__ts_us").to_numpy(zero_copy_only=False).astype(np.int64)
                newer = np.ones(len(ts_us), bool)
                slots = router.slots(keys)
                if not online.skip_dedup and router.cluster:
                    # a script may not touch keys of several slots: one HGET per key
                    stored = per_key_replies(router, reads, keys, [b"HGET", ts_field], slots)
                    newer = newer_than_stored(ts_us, stored)
                elif not online.skip_dedup:  # Feast's check, unless the store says to skip it
                    reads[0].send(read_timestamps_command(keys, ts_field))
                    newer = newer_than_stored(ts_us, reads[0].replies(1)[0])
                kept = int(newer.sum())
                rows, unchanged = rows + len(ts_us), unchanged + len(ts_us) - kept
                if kept < len(newer):  # encode only what will be written
                    mask = pa.array(newer)
                    batch, keys, ts_us = batch.filter(mask), keys.filter(mask), ts_us[newer]
                    slots = None if slots is None else slots[newer]
                if not kept:
                    continue
                hset: list[pa.Array | bytes] = [b"HSET", keys, ts_field, encode_timestamps(ts_us)]
                for field, feature, kind in zip(fields, view.features, value_types, strict=True):
                    column, label = batch.column(feature.name), f"{view.name}.{feature.name}"
                    hset += [field, encode_values(column, kind, label=label)]
                commands = resp_commands([hset, [b"EXPIRE", keys, expire]] if expire else [hset])
                for node, chosen in router.groups(keys, slots):
                    count = kept if chosen is None else len(chosen)
                    writers[node].put(take(commands, chosen), replies=count * (2 if expire else 1))
        finally:
            errors = []
            for writer in writers:  # each waits until its queued batches are acknowledged
                try:
                    writer.close()
                except BaseException as exc:  # close the others before raising
                    errors.append(exc)
            for pipe in reads:
                pipe.close()
            if errors:
                raise errors[0]
    finally:
        client.close()
    return rows, unchanged


def _redis_config(store: FeatureStore) -> Any:
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

    online = store.config.online_store
    supported = (RedisType.redis, RedisType.redis_cluster)
    if not isinstance(online, RedisOnlineStoreConfig) or online.redis_type not in supported:
        kind = getattr(online, "redis_type", getattr(online, "type", online))
        raise ValueError(
            f"fast materialize writes to a Redis server or a Redis Cluster; the online store "
            f"is {kind!r}; use --engine feast"
        )
    if store.config.entity_key_serialization_version != 3:
        raise ValueError(
            "fast materialize writes entity keys of serialization version 3; "
            f"feature_store.yaml has {store.config.entity_key_serialization_version}; "
            "set it to 3 or use --engine feast"
        )
    return online


# --- reading: the latest row per entity, like Feast's pull + dedup (DuckDB, in batches) ------


def _latest_batches(
    view: FeatureView, source: FileSource, start: datetime, end: datetime, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    keys, features = _source_columns(view, source)
    ts = _quote(source.timestamp_field)
    select = [_select(out, src, kind) for out, src, kind in keys + features]
    order = f"{ts} DESC"
    if source.created_timestamp_column:
        order += f", {_quote(source.created_timestamp_column)} DESC"
    partition = ", ".join(_quote(src) for _, src, _ in keys)
    sql = (
        f"SELECT {', '.join(select)}, epoch_us({ts}) AS __ts_us FROM read_parquet($path) "
        f"WHERE CAST({ts} AS TIMESTAMP) BETWEEN $start AND $end "
        f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order}) = 1"
    )
    with _duckdb() as con:
        for batch in con.execute(sql, _params(source, start, end)).to_arrow_reader(batch_rows):
            if batch.num_rows:
                yield batch


def _count_latest(view: FeatureView, source: FileSource, start: datetime, end: datetime) -> int:
    keys = ", ".join(_quote(src) for _, src, _ in _source_columns(view, source)[0])
    ts = _quote(source.timestamp_field)
    sql = (
        f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM read_parquet($path) "
        f"WHERE CAST({ts} AS TIMESTAMP) BETWEEN $start AND $end)"
    )
    with _duckdb() as con:
        row = con.execute(sql, _params(source, start, end)).fetchone()
    return int(row[0]) if row else 0


def _earliest(source: FileSource) -> datetime | None:
    sql = (
        f"SELECT min(CAST({_quote(source.timestamp_field)} AS TIMESTAMP)) FROM read_parquet($path)"
    )
    with _duckdb() as con:
        row = con.execute(sql, {"path": source.path}).fetchone()
    return row[0].replace(tzinfo=UTC) if row and row[0] else None


def _source_columns(view: FeatureView, source: FileSource) -> tuple[list[Any], list[Any]]:
    """Map the view's keys and features to Parquet columns; fail on any that are missing."""
    to_source = {v: k for k, v in (source.field_mapping or {}).items()}
    keys, features = (
        [(c.name, to_source.get(c.name, c.name), c.dtype.to_value_type().name) for c in columns]
        for columns in (view.entity_columns, view.features)
    )
    found = pq.read_schema(source.path).names
    wanted = [src for _, src, _ in keys + features] + [source.timestamp_field]
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ValueError(
            f"{source.path}: columns {missing} of feature view {view.name!r} are missing; found "
            f"{found}; rebuild the export (`recsys build`) or fix feature_repo/feature_views.py"
        )
    return keys, features


def _select(name: str, column: str, kind: str) -> str:
    # Cast to the declared type, as Feast converts each value to it (int32 Parquet -> Int64).
    if kind in DUCKDB_TYPES:
        return f"CAST({_quote(column)} AS {DUCKDB_TYPES[kind]}) AS {_quote(name)}"
    return f"{_quote(column)} AS {_quote(name)}"


@contextlib.contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    try:
        # Feast compares CAST(ts AS TIMESTAMP) with naive UTC bounds; pin the session zone so a
        # TIMESTAMPTZ column casts to UTC wall time whatever the machine's zone is.
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def _params(source: FileSource, start: datetime, end: datetime) -> dict[str, Any]:
    naive = {k: _utc(v).replace(tzinfo=None) for k, v in (("start", start), ("end", end))}
    return {"path": source.path, **naive}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _file_source(view: FeatureView) -> FileSource:
    from feast import FileSource

    source = view.batch_source
    if not isinstance(source, FileSource):
        raise ValueError(
            f"feature view {view.name!r}: materialize reads Parquet FileSources; its batch "
            f"source is {type(source).__name__}; define it in feature_repo/data_sources.py"
        )
    return source


def _select_views(store: FeatureStore, names: list[str] | None) -> list[FeatureView]:
    registered = {v.name: v for v in store.list_feature_views()}
    if not registered:
        raise ValueError(
            f"no feature views in the registry {store.config.registry.path}; run `recsys apply`"
        )
    unknown = sorted(set(names or []) - set(registered))
    if unknown:
        raise ValueError(
            f"feature view(s) {unknown} are not registered; registered: {sorted(registered)}"
        )
    return [registered[n] for n in (names or sorted(registered))]


def _view_start(
    view: FeatureView,
    source: FileSource,
    *,
    start: datetime | None,
    end: datetime,
    incremental: bool,
) -> datetime:
    """Pick a view's interval start the way Feast's materialize(-incremental) does."""
    if incremental and view.most_recent_end_time is not None:
        return _utc(view.most_recent_end_time)
    # Never (completely) materialized: Feast's incremental would start at now - ttl and so
    # load nothing of a log older than the ttl, leaving a view an interrupted run did not
    # finish empty for good. Load it all instead, as a full run does.
    if start is not None:
        return _utc(start)
    earliest = _earliest(source)
    return min(earliest, end) if earliest else end


# --- checking: every entity the source has in the materialized interval is in Redis --------


def check_online(
    store: FeatureStore, summary: MaterializeSummary, *, incremental: bool
) -> MaterializeSummary:
    """Count each loaded view's source entities in Redis; raise when any is missing.

    The interval checked starts where this run started, or for an incremental run where the
    registry's first recorded interval started: the registry says all of it is in Redis, so
    a Redis emptied or replaced since (or a run killed before the registry update) shows up.

    Raises:
        MaterializeError: A view's source has entities in the interval that Redis lacks.
    """
    from feast.infra.online_stores.redis import RedisOnlineStore, _versioned_fv_name

    online = _redis_config(store)
    if online.key_ttl_seconds:  # keys may have expired on purpose: counts would mislead
        note = f"end state not checked: the online store expires keys ({online.key_ttl_seconds} s)"
        return replace(summary, notes=[*summary.notes, note])
    client = RedisOnlineStore()._get_client(online)
    router = NodeRouter(client)
    pipes = router.pipes()  # one HEXISTS per entity: hiredis parses the replies in C
    checked = []
    try:
        for result in summary.views:
            if result.skipped or result.end is None or result.start is None:
                checked.append(result)
                continue
            view = store.get_feature_view(result.view)  # with this run's interval recorded
            since = result.start
            if incremental and view.materialization_intervals:
                since = min(since, *(_utc(a) for a, _ in view.materialization_intervals))
            ts_field = timestamp_field(_versioned_fv_name(view, store.config))
            expected = present = 0
            for keys in _entity_keys(store, view, since, result.end):
                expected += len(keys)
                present += sum(per_key_replies(router, pipes, keys, [b"HEXISTS", ts_field]))
            checked.append(replace(result, expected=expected, present=present, checked_from=since))
    finally:
        for pipe in pipes:
            pipe.close()
        client.close()
    summary = replace(summary, views=checked)
    short = [r for r in checked if r.missing]
    if short:
        raise MaterializeError(_shortfall_message(store, short, incremental=incremental), summary)
    return summary


def _entity_keys(
    store: FeatureStore, view: FeatureView, start: datetime, end: datetime
) -> Iterator[pa.BinaryArray]:
    """The Redis keys of the entities with a row in [start, end], in batches."""
    source = _file_source(view)
    keys, _ = _source_columns(view, source)
    key_types = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    ts = _quote(source.timestamp_field)
    sql = (
        f"SELECT DISTINCT {', '.join(_select(out, src, kind) for out, src, kind in keys)} "
        f"FROM read_parquet($path) WHERE CAST({ts} AS TIMESTAMP) BETWEEN $start AND $end"
    )
    with _duckdb() as con:
        for batch in con.execute(sql, _params(source, start, end)).to_arrow_reader(10_000):
            if batch.num_rows:
                yield encode_entity_keys(batch, key_types, project=store.project, view=view.name)


def _shortfall_message(store: FeatureStore, short: list[ViewResult], *, incremental: bool) -> str:
    lines = ["materialize: Redis lacks entities the sources have:"]
    for r in short:
        source = _file_source(store.get_feature_view(r.view)).path
        lines.append(
            f"  {r.view}: {r.present:,} of {r.expected:,} entities with rows since "
            f"{r.checked_from:%Y-%m-%d %H:%M:%S} in {source} are in Redis ({r.missing:,} "
            f"missing; this run read {r.rows:,} rows)"
        )
    if incremental:
        lines.append(
            "The registry records these intervals as materialized, but Redis does not hold "
            "them (emptied, replaced, or another Redis?). Run `recsys materialize` without "
            "--incremental to load every view again."
        )
    else:
        lines.append(
            "Redis did not keep what was written: check REDIS_URL points at the server the "
            "app reads, that it has memory left (maxmemory/eviction), then run `recsys "
            "materialize` again."
        )
    return "\n".join(lines)
