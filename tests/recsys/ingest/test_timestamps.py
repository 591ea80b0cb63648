from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from recsys.ingest.timestamps import TIMESTAMP_TYPE, parse_cli_datetime, parse_timestamps

NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_iso_text_honours_offsets_and_reads_naive_values_as_utc() -> None:
    values = pa.array(
        [
            "2026-01-01T12:00:00Z",
            "2026-01-01T14:00:00+02:00",
            "2026-01-01 12:00:00",  # naive: UTC
            "2026-01-01T07:00:00-05:00",
            "2026-01-01T12:00Z",
            " 2026-01-01T12:00:00.000Z ",
            "20260101T120000Z",
        ]
    )
    parsed = parse_timestamps(values, time_format="iso")
    assert parsed.timestamps.type == TIMESTAMP_TYPE
    assert parsed.timestamps.to_pylist() == [NOON] * len(values)
    assert parse_timestamps(pa.array(["2026-01-01"])).timestamps.to_pylist() == [
        datetime(2026, 1, 1, tzinfo=UTC)
    ]


def test_naive_value_after_an_offset_value_is_still_utc() -> None:
    # pandas' ISO parser gets this wrong (it carries the +02:00 over); ours must not.
    parsed = parse_timestamps(pa.array(["2026-01-01T14:00:00+02:00", "2026-01-01 12:00:00"]))
    assert parsed.timestamps.to_pylist() == [NOON, NOON]


def test_unix_seconds_and_milliseconds_as_numbers_and_text() -> None:
    seconds = int(NOON.timestamp())
    for values, fmt in [
        (pa.array([seconds]), "s"),
        (pa.array([seconds * 1000]), "ms"),
        (pa.array([str(seconds)]), "s"),
        (pa.array([str(seconds * 1000)]), "ms"),
        (pa.array([float(seconds)]), "s"),
    ]:
        assert parse_timestamps(values, time_format=fmt).timestamps.to_pylist() == [NOON]
        assert parse_timestamps(values).timestamps.to_pylist() == [NOON], "auto"


def test_auto_picks_the_unit_by_magnitude() -> None:
    seconds = int(NOON.timestamp())
    assert parse_timestamps(pa.array([seconds, seconds + 1])).epoch_unit == "s"
    assert parse_timestamps(pa.array([seconds * 1000])).epoch_unit == "ms"
    assert parse_timestamps(pa.array([str(seconds * 10**6)])).epoch_unit == "us"
    nanos = parse_timestamps(pa.array([str(seconds * 10**9 + 123_456_789)]))
    assert nanos.epoch_unit == "ns"
    assert nanos.timestamps.to_pylist() == [NOON.replace(microsecond=123_456)]


def test_auto_keeps_the_unit_decided_on_an_earlier_chunk() -> None:
    # A later chunk of a seconds file that happens to hold small numbers stays in seconds.
    parsed = parse_timestamps(pa.array(["86400"]), epoch_unit="s")
    assert parsed.timestamps.to_pylist() == [datetime(1970, 1, 2, tzinfo=UTC)]
    assert parse_timestamps(pa.array(["86400"]), epoch_unit="ms").timestamps.to_pylist() == [
        datetime(1970, 1, 1, 0, 1, 26, 400000, tzinfo=UTC)
    ]


def test_unparseable_values_become_null_and_keep_their_raw_text() -> None:
    raw = ["garbage", "", "2026-13-45T25:61:00Z", "epoch", None, "2026-01-01T12:00:00Z"]
    parsed = parse_timestamps(pa.array(raw))
    assert parsed.timestamps.to_pylist() == [None, None, None, None, None, NOON]
    assert parsed.raw.to_pylist() == raw


def test_a_number_is_not_iso_and_iso_is_not_a_number() -> None:
    assert parse_timestamps(pa.array(["1767268800"]), time_format="iso").timestamps.to_pylist() == [
        None
    ]
    assert parse_timestamps(pa.array(["2026-01-01"]), time_format="s").timestamps.to_pylist() == [
        None
    ]


def test_typed_timestamp_and_date_columns_pass_through() -> None:
    naive = pa.array([np.datetime64("2026-01-01T12:00:00", "ns")])
    berlin = pa.array([NOON], type=pa.timestamp("ms", tz="Europe/Berlin"))
    dates = pa.array([NOON.date()], type=pa.date32())
    assert parse_timestamps(naive).timestamps.to_pylist() == [NOON]
    assert parse_timestamps(berlin).timestamps.to_pylist() == [NOON]
    assert parse_timestamps(dates).timestamps.to_pylist() == [datetime(2026, 1, 1, tzinfo=UTC)]
    assert parse_timestamps(naive).raw.to_pylist() == ["2026-01-01 12:00:00.000000000"]


def test_parse_cli_datetime_accepts_dates_and_full_iso() -> None:
    assert parse_cli_datetime("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_cli_datetime("2026-01-01T14:00:00+02:00") == NOON
    assert parse_cli_datetime("2026-01-01T12:00:00Z") == NOON
    assert parse_cli_datetime("2026-01-01T12:00").tzinfo == UTC


def test_parse_cli_datetime_says_what_it_expected_and_found() -> None:
    with pytest.raises(ValueError, match=r"expected an ISO-8601 date.*found 'next tuesday'"):
        parse_cli_datetime("next tuesday")


def test_auto_decides_the_unit_per_value_when_a_column_mixes_them() -> None:
    # The old failure: mostly milliseconds, so the whole column was read as ms and the
    # seconds rows landed in 1970.
    seconds = int(NOON.timestamp())
    values = [seconds, seconds * 1000, seconds * 1000 + 1, str(seconds * 10**6)]
    for column in (pa.array(values[:3]), pa.array([str(v) for v in values])):
        parsed = parse_timestamps(column)
        assert {t.year for t in parsed.timestamps.to_pylist()} == {2026}
        assert parsed.epoch_unit == "mixed"
