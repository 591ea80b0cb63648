"""The fast engine's encoders against Feast's own converters, value by value."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from feast.infra.online_stores.helpers import _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from recsys.pipeline.online_format import (
    encode_entity_keys,
    encode_timestamps,
    encode_values,
    resp_commands,
)

CASES = {
    "double": (pa.array([0.0, -0.0, 1.5, None, math.nan, math.inf, -1e300]), ValueType.DOUBLE),
    "float": (pa.array([0.1, None, -2.5, math.nan], pa.float32()), ValueType.FLOAT),
    "int64": (pa.array([0, -1, 1, 127, 128, 300, 2**62, -(2**63)]), ValueType.INT64),
    "int32": (pa.array([0, -1, 2**31 - 1, -(2**31)], pa.int32()), ValueType.INT32),
    "bool": (pa.array([True, False, None]), ValueType.BOOL),
    "string": (pa.array(["", "a", "Bücher", None, "x" * 300]), ValueType.STRING),
    "bytes": (pa.array([b"", b"\x00\xff\r\n", None]), ValueType.BYTES),
    "string list": (
        pa.array([[], None, ["a", ""], ["é" * 200], ["i1", "i2", "i1"]]),
        ValueType.STRING_LIST,
    ),
    "double list": (
        pa.array([[], None, [0.0, -1.5], [1e-300] * 20, [math.nan]]),
        ValueType.DOUBLE_LIST,
    ),
    "int64 list": (pa.array([[], None, [-1, 0, 2**40], [5] * 40]), ValueType.INT64_LIST),
    "int32 list": (pa.array([[1, -2], []], pa.list_(pa.int32())), ValueType.INT32_LIST),
    "float list": (pa.array([[0.5, -0.25], []], pa.list_(pa.float32())), ValueType.FLOAT_LIST),
    "bool list": (pa.array([[True, False], []]), ValueType.BOOL_LIST),
    "sliced string list": (
        pa.array([["skip"], ["a", "b"], None, ["c"]]).slice(1),
        ValueType.STRING_LIST,
    ),
    "sliced doubles": (pa.array([9.0, 1.0, None, 2.0]).slice(1), ValueType.DOUBLE),
    "timestamp (Feast's converter)": (
        pa.array([datetime(2024, 3, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        ValueType.UNIX_TIMESTAMP,
    ),
}


def _feast_bytes(array: pa.Array, value_type: ValueType) -> list[bytes]:
    # Exactly what feast.utils._convert_arrow_fv_to_proto does with a column.
    values = array.to_numpy(zero_copy_only=False)
    return [v.SerializeToString() for v in python_values_to_proto_values(values, value_type)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_are_the_bytes_feast_writes(case: str) -> None:
    array, value_type = CASES[case]
    assert encode_values(array, value_type).to_pylist() == _feast_bytes(array, value_type)


def test_null_and_nan_values_are_stored_empty() -> None:
    encoded = encode_values(pa.array([None, math.nan, 2.0]), ValueType.DOUBLE).to_pylist()
    assert encoded[:2] == [b"", b""]
    assert Value.FromString(encoded[2]).double_val == 2.0
    ints = encode_values(pa.array([None, 7]), ValueType.INT64).to_pylist()
    assert ints == [b"", Value(int64_val=7).SerializeToString()]


def test_null_list_elements_are_rejected_with_the_column_named() -> None:
    with pytest.raises(ValueError, match=r"user_features\.recent_item_ids: 1 list elements"):
        encode_values(
            pa.array([["a", None]]), ValueType.STRING_LIST, label="user_features.recent_item_ids"
        )


def test_entity_keys_are_feast_redis_keys() -> None:
    ids = ["u1", "", "Ünïcode-user", "x" * 500]
    batch = pa.record_batch({"user_id": pa.array(ids)})
    keys = encode_entity_keys(batch, {"user_id": ValueType.STRING}, project="recsys")
    expected = [
        _redis_key("recsys", EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=v)]))
        for v in ids
    ]
    assert keys.to_pylist() == expected


def test_compound_and_integer_keys_are_sorted_by_name_like_feast() -> None:
    batch = pa.record_batch({"b_id": pa.array([-5, 2**40]), "a_id": pa.array(["x", "y"])})
    keys = encode_entity_keys(
        batch, {"b_id": ValueType.INT64, "a_id": ValueType.STRING}, project="p"
    )
    expected = [
        _redis_key(
            "p",
            EntityKey(
                join_keys=["b_id", "a_id"],
                entity_values=[Value(int64_val=b), Value(string_val=a)],
            ),
        )
        for b, a in ((-5, "x"), (2**40, "y"))
    ]
    assert keys.to_pylist() == expected


def test_null_entity_key_names_the_view_and_column() -> None:
    batch = pa.record_batch({"item_id": pa.array(["i1", None])})
    with pytest.raises(ValueError, match="item_features: 1 rows have a null item_id"):
        encode_entity_keys(
            batch, {"item_id": ValueType.STRING}, project="recsys", view="item_features"
        )


def test_timestamps_are_protobuf_timestamps() -> None:
    moments = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC) + timedelta(microseconds=1),
        datetime(2262, 1, 1, 12, 30, 15, 123_456, tzinfo=UTC),
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = np.array([(m - epoch) // timedelta(microseconds=1) for m in moments], np.int64)
    expected = []
    for moment in moments:
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        expected.append(stamp.SerializeToString())
    assert encode_timestamps(micros).to_pylist() == expected


def test_resp_commands_frame_every_argument() -> None:
    keys = pa.array([b"k1", b"key\r\n2"], pa.binary())
    values = pa.array([b"", b"\x00"], pa.binary())
    commands = resp_commands([[b"HSET", keys, b"f", values], [b"EXPIRE", keys, b"60"]])
    assert commands.to_pylist()[1] == (
        b"*4\r\n$4\r\nHSET\r\n$6\r\nkey\r\n2\r\n$1\r\nf\r\n$1\r\n\x00\r\n"
        b"*3\r\n$6\r\nEXPIRE\r\n$6\r\nkey\r\n2\r\n$2\r\n60\r\n"
    )
