"""Load the latest feature rows into Redis in exactly Feast's online format (`recsys materialize`).

Stock `feast materialize` builds one protobuf object per value in Python (about 6k rows/s for
20 features, see PERFORMANCE-NOTES.md). The fast engine writes the same bytes column-wise:
DuckDB picks the latest row per entity, numpy and Arrow encode whole columns, and each batch's
Redis commands go out as one buffer. What Feast 0.67 writes, and so what we write
(feast/infra/online_stores/redis.py and feast/infra/key_encoding_utils.py):

    key                         serialize_entity_key(v3) + project
    mmh3("<view>:<feature>")    Value protobuf bytes (b"" when the value is null or NaN)
    "_ts:<view>"                google.protobuf.Timestamp bytes of the row's event_timestamp

As in Feast, a row is written only when it is newer than the `_ts` already stored for its key,
so the engines and pushes can follow each other in any order. The interval is recorded in the
registry, so `feast materialize-incremental` continues from ours and the other way round.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import hiredis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView, FileSource
    from feast.value_type import ValueType

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

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class MaterializeSummary:
    """Per-view results of one `materialize` call."""

    engine: str
    views: list[ViewResult]

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)


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
        Rows, seconds and interval per view; views whose source file is missing are skipped.

    Raises:
        ValueError: Unknown engine or view, start after end, or start given with incremental.
    """
    if engine not in ENGINES:
        raise ValueError(f"materialize engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if incremental and start is not None:
        raise ValueError("materialize: --start and --incremental exclude each other; pass one")
    if store is None:
        from training.pipeline import feast_ops

        store = feast_ops.feature_store()
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
    return MaterializeSummary(engine=engine, views=results)


def format_summary(summary: MaterializeSummary) -> str:
    """Render a summary as one line per view."""
    lines = [f"materialize ({summary.engine} engine):"]
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
            single Redis server with entity keys of version 3.
    """
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import RedisOnlineStore, _versioned_fv_name

    online = _redis_config(store)
    name = _versioned_fv_name(view, store.config)
    ts_field = f"_ts:{name}".encode()
    fields = [_mmh3(f"{name}:{f.name}") for f in view.features]
    key_types = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    value_types = [f.dtype.to_value_type() for f in view.features]
    expire = str(online.key_ttl_seconds).encode() if online.key_ttl_seconds else None
    client = RedisOnlineStore()._get_client(online)
    rows = unchanged = 0
    try:
        # Two connections: timestamp reads get answered while Redis still works through
        # earlier HSETs, which a thread sends so that the next batch is encoded meanwhile.
        reads, writer = _RespPipe(client), _Writer(_RespPipe(client))
        try:
            for batch in _latest_batches(view, _file_source(view), start, end, batch_rows):
                keys = encode_entity_keys(batch, key_types, project=store.project, view=view.name)
                ts_us = batch.column("__ts_us").to_numpy(zero_copy_only=False).astype(np.int64)
                newer = np.ones(len(ts_us), bool)
                if not online.skip_dedup:  # Feast's check, unless the store says to skip it
                    reads.send(_read_timestamps_command(keys, ts_field))
                    newer = _newer_than_stored(ts_us, reads.replies(1)[0])
                kept = int(newer.sum())
                rows, unchanged = rows + len(ts_us), unchanged + len(ts_us) - kept
                if kept < len(newer):  # encode only what will be written
                    mask = pa.array(newer)
                    batch, keys, ts_us = batch.filter(mask), keys.filter(mask), ts_us[newer]
                if not kept:
                    continue
                hset: list[pa.Array | bytes] = [b"HSET", keys, ts_field, encode_timestamps(ts_us)]
                for field, feature, kind in zip(fields, view.features, value_types, strict=True):
                    column, label = batch.column(feature.name), f"{view.name}.{feature.name}"
                    hset += [field, encode_values(column, kind, label=label)]
                commands = resp_commands([hset, [b"EXPIRE", keys, expire]] if expire else [hset])
                writer.put(commands, replies=kept * (2 if expire else 1))
        finally:
            writer.close()  # waits until every queued batch is acknowledged
    finally:
        client.close()  # disconnects both connections
    return rows, unchanged


def _redis_config(store: FeatureStore) -> Any:
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

    online = store.config.online_store
    if not isinstance(online, RedisOnlineStoreConfig) or online.redis_type != RedisType.redis:
        kind = getattr(online, "redis_type", getattr(online, "type", online))
        raise ValueError(
            f"fast materialize writes to one Redis server; the online store is {kind!r}; "
            "use --engine feast"
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
    if kind in _DUCKDB_TYPES:
        return f"CAST({_quote(column)} AS {_DUCKDB_TYPES[kind]}) AS {_quote(name)}"
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
    if incremental:
        if view.most_recent_end_time is not None:
            return _utc(view.most_recent_end_time)
        if view.ttl is None:
            raise ValueError(f"feature view {view.name!r} has no ttl and was never materialized")
        # Feast: now - ttl, or a year when ttl is 0 ("forever").
        span = view.ttl if view.ttl.total_seconds() > 0 else timedelta(weeks=52)
        return datetime.now(UTC) - span
    if start is not None:
        return _utc(start)
    earliest = _earliest(source)
    return min(earliest, end) if earliest else end


# --- encoding: Feast's Value / EntityKey / Timestamp bytes for whole columns ------------------
# Value.proto field tags (field number << 3 | wire type) for the types encoded natively; any
# other type goes through Feast's own converter, one value at a time.
_SCALAR_TAGS = {"BYTES": b"\x0a", "STRING": b"\x12", "INT32": b"\x18", "INT64": b"\x20"}
_FIXED = {"DOUBLE": (b"\x29", "<f8"), "FLOAT": (b"\x35", "<f4"), "BOOL": (b"\x38", "u1")}
_LIST_TAGS = {
    "BYTES_LIST": b"\x5a",
    "STRING_LIST": b"\x62",
    "INT32_LIST": b"\x6a",
    "INT64_LIST": b"\x72",
    "DOUBLE_LIST": b"\x7a",
    "FLOAT_LIST": b"\x82\x01",
    "BOOL_LIST": b"\x8a\x01",
}
_SCALAR_DUCKDB_TYPES = {
    "BYTES": "BLOB",
    "STRING": "VARCHAR",
    "INT32": "INTEGER",
    "INT64": "BIGINT",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "BOOL": "BOOLEAN",
}
_DUCKDB_TYPES = _SCALAR_DUCKDB_TYPES | {
    f"{k}_LIST": f"{v}[]" for k, v in _SCALAR_DUCKDB_TYPES.items()
}
_KEY_TYPES = {"STRING": 2, "INT32": 3, "INT64": 4}  # feast ValueType numbers
_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_EMPTY = pa.scalar(b"", pa.binary())
_READ_TS = (
    b"local out = {} for i, key in ipairs(KEYS) do "
    b"out[i] = redis.call('HGET', key, ARGV[1]) end return out"
)

Columns = list[tuple[np.ndarray, np.ndarray]]  # (n, width) uint8 bytes and their keep-mask


def encode_values(
    array: pa.Array | pa.ChunkedArray, value_type: ValueType, *, label: str = "column"
) -> pa.BinaryArray:
    """Serialize each value as Feast's Value protobuf (b"" for null, and for NaN like Feast).

    Args:
        array: One feature column.
        value_type: The feature's Feast value type (`field.dtype.to_value_type()`).
        label: Names the column in errors (`view.feature`).

    Raises:
        ValueError: A list holds null elements, which Feast cannot store either.
    """
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    kind = value_type.name
    valid = ~_is_null(array)
    if kind in _FIXED:
        tag, dtype = _FIXED[kind]
        filled = pc.fill_null(array, False if kind == "BOOL" else 0)
        values = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=dtype)
        if kind != "BOOL":
            valid &= ~np.isnan(values)
        return _pack([_const(tag, valid), _fixed(values, valid)])
    if kind in ("INT32", "INT64"):
        values = np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False), np.int64)
        return _pack([_const(_SCALAR_TAGS[kind], valid), _masked(_varint(values), valid)])
    if kind in ("STRING", "BYTES"):
        return _delimited(_SCALAR_TAGS[kind], pc.cast(array, pa.binary()), valid)
    if kind in _LIST_TAGS and pa.types.is_list(array.type):
        return _delimited(_LIST_TAGS[kind], _list_payload(array, kind, label), valid)
    return _feast_encoded(array, value_type)


def encode_timestamps(ts_us: np.ndarray) -> pa.BinaryArray:
    """Serialize epoch microseconds as google.protobuf.Timestamp (Feast's `_ts:<view>` value)."""
    seconds, micros = np.divmod(ts_us.astype(np.int64), 1_000_000)
    nanos = micros * 1000
    has_s, has_n = seconds != 0, nanos != 0
    return _pack(
        [
            _const(b"\x08", has_s),
            _masked(_varint(seconds), has_s),
            _const(b"\x10", has_n),
            _masked(_varint(nanos), has_n),
        ]
    )


def encode_entity_keys(
    batch: pa.RecordBatch, key_types: dict[str, ValueType], *, project: str, view: str = ""
) -> pa.BinaryArray:
    """Build Redis keys: serialize_entity_key (version 3) of the join keys, then the project."""
    names = sorted(key_types)
    header = struct.pack("<I", len(names)) + b"".join(
        struct.pack("<II", 2, len(n.encode())) + n.encode() for n in names
    )
    parts: list[pa.Array | bytes] = [header]
    for name in names:
        column, kind = batch.column(name), key_types[name].name
        if column.null_count:
            raise ValueError(
                f"feature view {view}: {column.null_count} rows have a null {name}; Feast "
                "cannot key them; fix the mart (its key must be not null)"
            )
        if kind not in _KEY_TYPES:
            raise ValueError(f"entity key {name}: type {kind} not supported; use --engine feast")
        if kind == "STRING":
            values = pc.cast(column, pa.binary())
            lengths = np.asarray(pc.binary_length(values), dtype="<u4")
            parts += [struct.pack("<I", 2), _fixed_binary(lengths), values]
        else:
            dtype, width = ("<i4", 4) if kind == "INT32" else ("<i8", 8)
            values_np = np.asarray(column.to_numpy(zero_copy_only=False), dtype=dtype)
            parts += [struct.pack("<II", _KEY_TYPES[kind], width), _fixed_binary(values_np)]
    parts.append(project.encode())
    return _join(parts)


def _read_timestamps_command(keys: pa.BinaryArray, ts_field: bytes) -> pa.BinaryArray:
    """One EVAL returning the stored `_ts` of every key (as Feast's HMGET would, one by one).

    A single reply of n values costs one parse instead of n; the script only reads.
    """
    head = b"*%d\r\n" % (len(keys) + 4) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (b"EVAL", _READ_TS, str(len(keys)).encode())
    )
    tail = b"$%d\r\n%s\r\n" % (len(ts_field), ts_field)
    body = _join([b"$", _decimal_lengths(keys), b"\r\n", keys, b"\r\n"])
    return pa.concat_arrays([pa.array([head], pa.binary()), body, pa.array([tail], pa.binary())])


def resp_commands(commands: list[list[pa.Array | bytes]]) -> pa.BinaryArray:
    """Build one RESP buffer per row holding every command of that row.

    Args:
        commands: Each command is a list of arguments: bytes (same for every row) or a binary
            array (one value per row).
    """
    parts: list[pa.Array | bytes] = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
            else:
                parts += [b"$", _decimal_lengths(arg), b"\r\n", arg, b"\r\n"]
    return _join(parts)


def _decimal_lengths(values: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(pc.binary_length(values), pa.string()), pa.binary())


def _list_payload(array: pa.ListArray, kind: str, label: str) -> pa.BinaryArray:
    """Serialize each list's elements as the body of Feast's <Type>List message."""
    offsets = np.asarray(array.offsets, dtype=np.int64)
    child = array.values
    element = kind.removesuffix("_LIST")
    if child.null_count and element not in ("DOUBLE", "FLOAT"):
        raise ValueError(
            f"{label}: {child.null_count} list elements are null; Feast stores lists of "
            f"{element.lower()} without nulls; drop or fill them in the mart"
        )
    counts = np.diff(offsets)
    if element in ("STRING", "BYTES"):  # repeated, not packed: each element is its own field
        strings = pc.cast(child, pa.binary())
        return _regroup(_delimited(b"\x0a", strings, np.ones(len(child), bool)), offsets)
    if element in _FIXED:
        dtype = _FIXED[element][1]
        raw = np.asarray(pc.fill_null(child, np.nan if element != "BOOL" else False), dtype)
        width = raw.dtype.itemsize
        body = _binary(raw.view(np.uint8), counts * width, offsets[0] * width)
    else:
        raw_ints = np.asarray(child.to_numpy(zero_copy_only=False), np.int64)
        body = _regroup(_pack([_varint(raw_ints)]), offsets)
    return _delimited(b"\x0a", body, counts > 0)  # packed field 1; absent when empty


def _delimited(tag: bytes, payload: pa.Array, valid: np.ndarray) -> pa.BinaryArray:
    """tag + varint(len) + payload where valid, b"" elsewhere."""
    lengths = np.asarray(pc.fill_null(pc.binary_length(payload), 0), dtype=np.int64)
    header = _pack([_const(tag, valid), _masked(_varint(lengths), valid)])
    body = pc.if_else(pa.array(valid), pc.fill_null(payload, b""), _EMPTY)
    return _join([header, body])


def _varint(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of int64 values (negatives take 10 bytes, as protobuf writes them)."""
    unsigned = values.astype(np.int64, copy=False).view(np.uint64)
    groups = ((unsigned[:, None] >> _SHIFTS) & np.uint64(0x7F)).astype(np.uint8)
    nonzero = groups != 0
    used = np.where(nonzero.any(axis=1), 10 - np.argmax(nonzero[:, ::-1], axis=1), 1)
    keep = np.arange(10) < used[:, None]
    groups[:, :-1] |= keep[:, 1:].astype(np.uint8) << 7  # continuation bit: more bytes follow
    return groups, keep


def _const(value: bytes, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.broadcast_to(np.frombuffer(value, np.uint8), (len(valid), len(value)))
    return matrix, np.broadcast_to(valid[:, None], matrix.shape)


def _fixed(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), -1)
    return matrix, np.broadcast_to(valid[:, None], matrix.shape)


def _masked(
    column: tuple[np.ndarray, np.ndarray], valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return column[0], column[1] & valid[:, None]


def _pack(columns: Columns) -> pa.BinaryArray:
    """Concatenate byte columns row by row, keeping only the bytes whose mask is set."""
    matrix = np.concatenate([c for c, _ in columns], axis=1)
    keep = np.concatenate([m for _, m in columns], axis=1)
    return _binary(matrix[keep], keep.sum(axis=1))


def _fixed_binary(values: np.ndarray) -> pa.BinaryArray:
    raw = np.ascontiguousarray(values).view(np.uint8)
    return _binary(raw, np.full(len(values), values.dtype.itemsize))


def _binary(data: np.ndarray, lengths: np.ndarray, first: int = 0) -> pa.BinaryArray:
    offsets = np.empty(len(lengths) + 1, dtype=np.int32)
    offsets[0] = first
    np.cumsum(lengths, out=offsets[1:])
    offsets[1:] += first
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.Array.from_buffers(pa.binary(), len(lengths), buffers)


def _regroup(elements: pa.BinaryArray, list_offsets: np.ndarray) -> pa.BinaryArray:
    """Concatenate consecutive elements into one value per list (no copy: new offsets only)."""
    element_offsets = np.frombuffer(elements.buffers()[1], np.int32)[elements.offset :]
    offsets = element_offsets[list_offsets].astype(np.int32)
    data = elements.buffers()[2] or pa.py_buffer(b"")
    return pa.Array.from_buffers(
        pa.binary(), len(list_offsets) - 1, [None, pa.py_buffer(offsets), data]
    )


def _join(parts: list[pa.Array | bytes]) -> pa.BinaryArray:
    merged: list[pa.Array | bytes] = []
    for part in parts:  # fewer, longer constants make the join cheaper
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    args = [pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in merged]
    return pc.binary_join_element_wise(*args, _EMPTY)


def _is_null(array: pa.Array) -> np.ndarray:
    return np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _feast_encoded(array: pa.Array, value_type: ValueType) -> pa.BinaryArray:
    from feast.type_map import python_values_to_proto_values

    values = array.to_numpy(zero_copy_only=False)  # what Feast's _convert_arrow_to_proto passes
    protos = python_values_to_proto_values(values, value_type)
    return pa.array([p.SerializeToString() for p in protos], pa.binary())


def _newer_than_stored(ts_us: np.ndarray, replies: list[Any]) -> np.ndarray:
    """Feast's rule: write a row unless Redis holds a timestamp at or after the row's."""
    from google.protobuf.timestamp_pb2 import Timestamp

    stored = np.zeros(len(ts_us), dtype=np.int64)
    for i, reply in enumerate(replies):
        if reply:
            previous = Timestamp.FromString(reply)
            stored[i] = previous.seconds * 1_000_000_000 + previous.nanos
    return (stored == 0) | (ts_us.astype(np.int64) * 1000 > stored)


class _RespPipe:
    """Send pre-built RESP buffers and read the replies, on one connection of redis-py's pool.

    redis-py's per-reply read path costs microseconds per command, a large share of the budget
    at 100k keys/s; here hiredis parses the whole reply stream in C from the raw socket.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._conn = client.connection_pool.get_connection()
        self._conn.connect()  # AUTH/SELECT/HELLO happen here, with their replies consumed
        self._sock = self._conn._sock
        self._reader = hiredis.Reader()
        self._unread = b""

    def send(self, payload: pa.BinaryArray) -> None:
        if len(payload) == 0:
            return
        offsets = np.frombuffer(payload.buffers()[1], np.int32)
        first, last = offsets[payload.offset], offsets[payload.offset + len(payload)]
        self._sock.sendall(memoryview(payload.buffers()[2])[first:last])

    def replies(self, count: int) -> list[Any]:
        """Parse the next `count` replies."""
        out: list[Any] = []
        while len(out) < count:
            reply = self._reader.gets()
            if reply is False:
                self._reader.feed(self._recv())
            elif isinstance(reply, hiredis.ReplyError):
                raise RuntimeError(f"Redis refused a materialize command: {reply}")
            else:
                out.append(reply)
        return out

    def skip_integer_replies(self, count: int) -> None:
        """Consume the next `count` one-line replies (HSET and EXPIRE answer with integers).

        Counting line ends is far cheaper than parsing 100k replies one by one; an error reply
        is the only kind that contains "-".
        """
        while count > 0:
            chunk = self._recv()
            lines = chunk.count(b"\n")
            cut = len(chunk)
            if lines > count:
                ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == ord("\n"))
                cut = int(ends[count - 1]) + 1
                self._unread = chunk[cut:]  # replies to later commands
            if b"-" in chunk[:cut]:
                error = next(line for line in chunk[:cut].split(b"\r\n") if line[:1] == b"-")
                raise RuntimeError(f"Redis refused a materialize command: {error.decode()}")
            count -= min(lines, count)

    def _recv(self) -> bytes:
        if self._unread:
            chunk, self._unread = self._unread, b""
            return chunk
        chunk = self._sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("Redis closed the connection during materialize")
        return chunk

    def close(self) -> None:
        self._conn.disconnect()  # never back to the pool: the socket may hold unread replies


class _Writer:
    """Send command buffers from a thread, reading each batch's replies after the next is sent.

    Redis always has the next batch queued while its replies are read, and the main thread
    encodes meanwhile (numpy, Arrow and socket calls release the GIL). At most two batches
    wait in the queue, which bounds memory.
    """

    def __init__(self, pipe: _RespPipe) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[tuple[pa.BinaryArray, int] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="materialize-writer", daemon=True)
        self._thread.start()

    def put(self, commands: pa.BinaryArray, *, replies: int) -> None:
        if self._error:
            raise self._error
        self._queue.put((commands, replies))

    def close(self) -> None:
        """Wait until everything queued is written and acknowledged; raise what went wrong."""
        self._queue.put(None)
        self._thread.join()
        self._pipe.close()
        if self._error:
            raise self._error

    def _run(self) -> None:
        pending = 0
        try:
            while (item := self._queue.get()) is not None:
                self._pipe.send(item[0])
                self._pipe.skip_integer_replies(pending)
                pending = item[1]
            self._pipe.skip_integer_replies(pending)
        except BaseException as exc:  # handed to the main thread by put()/close()
            self._error = exc
            while self._queue.get() is not None:
                pass  # keep taking batches so the main thread never blocks on a full queue
