"""Feast's online format, written in bulk: Value / EntityKey / Timestamp bytes and RESP.

`materialize.py` decides what to write; this module turns whole Arrow columns into the exact
bytes Feast 0.67's Redis online store writes and reads (see materialize.py's docstring), and
sends them over raw RESP pipelines. Everything here works column-wise: no per-value protobuf
objects, which is where stock materialize spends most of its time.
"""

from __future__ import annotations

import queue
import struct
import threading
from typing import TYPE_CHECKING, Any

import hiredis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.redis_runtime import RedisRefusedError

if TYPE_CHECKING:
    from feast.value_type import ValueType


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
SCALAR_DUCKDB_TYPES = {
    "BYTES": "BLOB",
    "STRING": "VARCHAR",
    "INT32": "INTEGER",
    "INT64": "BIGINT",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "BOOL": "BOOLEAN",
}
DUCKDB_TYPES = SCALAR_DUCKDB_TYPES | {f"{k}_LIST": f"{v}[]" for k, v in SCALAR_DUCKDB_TYPES.items()}
_KEY_TYPES = {"STRING": 2, "INT32": 3, "INT64": 4}  # feast ValueType numbers
_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_EMPTY = pa.scalar(b"", pa.binary())
_READ_TS = (
    b"local out = {} for i, key in ipairs(KEYS) do "
    b"out[i] = redis.call('HGET', key, ARGV[1]) end return out"
)

Columns = list[tuple[np.ndarray, np.ndarray]]  # (n, width) uint8 bytes and their keep-mask


def field_name(view: str, feature: str) -> bytes:
    """The hash field of one feature: Feast's mmh3 of "<view>:<feature>" (readers use it too)."""
    from feast.infra.online_stores.helpers import _mmh3

    return bytes(_mmh3(f"{view}:{feature}"))


def timestamp_field(view: str) -> bytes:
    """The hash field holding a view's row timestamp (a protobuf Timestamp)."""
    return f"_ts:{view}".encode()


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


def read_timestamps_command(keys: pa.BinaryArray, ts_field: bytes) -> pa.BinaryArray:
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
    groups[:, :-1] |= keep[:, 1:].astype(np.uint8) << np.uint8(7)  # continuation: more bytes
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


def newer_than_stored(ts_us: np.ndarray, replies: list[Any]) -> np.ndarray:
    """Feast's rule: write a row unless Redis holds a timestamp at or after the row's."""
    from google.protobuf.timestamp_pb2 import Timestamp

    stored = np.zeros(len(ts_us), dtype=np.int64)
    for i, reply in enumerate(replies):
        if reply:
            previous = Timestamp.FromString(reply)
            stored[i] = previous.seconds * 1_000_000_000 + previous.nanos
    return (stored == 0) | (ts_us.astype(np.int64) * 1000 > stored)


class RespPipe:
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
                raise RedisRefusedError(str(reply))
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
                raise RedisRefusedError(error[1:].decode(errors="replace"))
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


class BatchWriter:
    """Send command buffers from a thread, reading each batch's replies after the next is sent.

    Redis always has the next batch queued while its replies are read, and the main thread
    encodes meanwhile (numpy, Arrow and socket calls release the GIL). At most two batches
    wait in the queue, which bounds memory.
    """

    def __init__(self, pipe: RespPipe) -> None:
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
        closed = False  # close()'s None taken: nothing more will come
        try:
            while (item := self._queue.get()) is not None:
                self._pipe.send(item[0])
                self._pipe.skip_integer_replies(pending)
                pending = item[1]
            closed = True
            self._pipe.skip_integer_replies(pending)  # the last batch's replies
        except BaseException as exc:  # handed to the main thread by put()/close()
            self._error = exc
            # Keep taking batches so the main thread never blocks on a full queue, until
            # close(); waiting for a None already taken would hang close() for ever.
            while not closed and self._queue.get() is not None:
                pass
