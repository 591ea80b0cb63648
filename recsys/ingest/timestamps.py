"""Parse event timestamps column-wise: ISO-8601 text, unix seconds or milliseconds, or `auto`.

In `auto` mode each epoch number's unit is decided by its own magnitude (a column may mix
seconds and milliseconds: reading it all in one unit put 2,000 rows in 1970); values that
land outside a plausible range are quarantined by dbt (`min_event_timestamp`, future skew).

Every value keeps its raw text (the landing's `event_timestamp_raw`); a value that cannot be
parsed becomes a null timestamp so dbt can quarantine the row with the raw text as its reason.
Parsing is vectorized: numbers with numpy, text with DuckDB's timestamp cast, because pandas'
ISO-8601 parser applies one row's UTC offset to later naive rows when a column mixes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import duckdb

TIMESTAMP_TYPE: Final = pa.timestamp("us", tz="UTC")
TIME_FORMATS: Final = ("auto", "iso", "s", "ms", "us", "ns")
EPOCH_UNITS: Final = ("s", "ms", "us", "ns")

# Microseconds per unit, as the exact integer multiplier (s, ms, us) or divisor (ns).
_US_PER_UNIT: Final = {"s": 1_000_000, "ms": 1_000, "us": 1}
# `auto` picks, per value, the unit whose reading of its magnitude lands between 1973 and 5138:
# 1e11 s is the year 5138 while 1e11 ms is 1973, so the ranges never overlap in practice.
_AUTO_UNIT_LIMITS: Final = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
MIXED: Final = "mixed"
# Text that starts like a date (`2026-01-01`, `20260101`, `2026/1/1`); guards DuckDB's cast,
# which would otherwise accept words such as 'epoch' and 'infinity'.
_DATE_START: Final = r"^[0-9]{4}[-/]?[0-9]{1,2}"
_NUMBER: Final = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
# Tried after DuckDB's own cast fails: ISO forms it does not accept (minutes with an offset,
# a space before the offset, the basic format without dashes). `Z` is rewritten to +00:00 first.
_ISO_FALLBACK_FORMATS: Final = [
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
    "%Y-%m-%dT%H%z",
    "%Y-%m-%dT%H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S.%f %z",
    "%Y%m%dT%H%M%S%z",
    "%Y%m%dT%H%M%S",
    "%Y%m%dT%H%M%z",
    "%Y%m%dT%H%M",
    "%Y%m%d",
]


@dataclass(frozen=True)
class ParsedTimestamps:
    """One column of parsed timestamps and the text they came from."""

    timestamps: pa.Array
    """timestamp[us, tz=UTC]; null where the raw value could not be parsed."""
    raw: pa.Array
    """string: the value as found in the source (numbers as their decimal text)."""
    epoch_unit: str | None
    """The unit numbers were read in (s, ms, us, ns), `mixed` when `auto` read the values of
    one column in different units, or None when the column held no numbers."""


def parse_timestamps(
    values: pa.Array | pa.ChunkedArray,
    *,
    time_format: str = "auto",
    epoch_unit: str | None = None,
) -> ParsedTimestamps:
    """Parse one column of timestamps without a Python loop over its rows.

    Args:
        values: Text, numbers, dates or timestamps, as read from the source.
        time_format: `iso` (ISO-8601 text; naive means UTC), `s`/`ms`/`us`/`ns` (unix epoch
            numbers, also as text), or `auto`: numbers (and numeric text) are epoch values
            whose unit each value's magnitude decides, other text is ISO-8601.
        epoch_unit: In `auto` mode, read every number in this unit instead of deciding per
            value.

    Returns:
        The timestamps, the raw text, and the epoch unit used (pass it to the next chunk).

    Raises:
        ValueError: `time_format` or `epoch_unit` is not one of the known values.
    """
    if time_format not in TIME_FORMATS:
        raise ValueError(
            f"time format {time_format!r} is not one of {', '.join(TIME_FORMATS)}; "
            "pass --time-format auto to let the values decide"
        )
    if epoch_unit is not None and epoch_unit not in EPOCH_UNITS:
        raise ValueError(f"epoch unit {epoch_unit!r} is not one of {', '.join(EPOCH_UNITS)}")
    array = _as_array(values)
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _from_temporal(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        raw = pc.cast(array, pa.string())
        if time_format == "iso":
            return ParsedTimestamps(pa.nulls(len(array), TIMESTAMP_TYPE), raw, None)
        unit = time_format if time_format in EPOCH_UNITS else epoch_unit
        timestamps, used = _from_numbers(array, unit=unit)
        return ParsedTimestamps(timestamps, raw, used)
    if pa.types.is_null(kind):
        return ParsedTimestamps(
            pa.nulls(len(array), TIMESTAMP_TYPE), pa.nulls(len(array), pa.string()), None
        )
    raw = pc.cast(array, pa.string())
    return _from_text(raw, time_format=time_format, epoch_unit=epoch_unit)


def parse_cli_datetime(value: str) -> datetime:
    """Parse a command-line date or date-time into an aware UTC datetime.

    Args:
        value: `2026-01-01`, `2026-01-01T12:00`, `2026-01-01T12:00:00Z` or any ISO-8601
            date-time with an offset; a value without an offset is read as UTC.

    Returns:
        The instant, with tzinfo=UTC.

    Raises:
        ValueError: The text is not an ISO-8601 date or date-time.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO-8601 date or date-time such as 2026-01-01 or "
            f"2026-01-01T12:00:00Z (no offset means UTC), found {value!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = pc.cast(array, pa.string())
    return array


def _from_temporal(array: pa.Array) -> ParsedTimestamps:
    if pa.types.is_date(array.type):
        array = pc.cast(array, pa.timestamp("us"))
    raw = pc.cast(array, pa.string())
    # A naive timestamp is UTC by the landing contract; casting naive to tz=UTC keeps the
    # wall-clock digits, which is exactly that reading.
    if array.type.tz != "UTC":
        array = pc.cast(array, pa.timestamp(array.type.unit, tz="UTC"))
    if array.type.unit == "ns":
        # Sub-microsecond digits are dropped (truncated), not rejected.
        micros = pc.divide(pc.cast(array, pa.int64()), 1000)
        return ParsedTimestamps(pc.cast(micros, TIMESTAMP_TYPE), raw, None)
    return ParsedTimestamps(pc.cast(array, TIMESTAMP_TYPE), raw, None)


def value_units(numbers: np.ndarray) -> np.ndarray:
    """The epoch unit each value's magnitude implies (s, ms, us, ns), as an array of names."""
    magnitude = np.abs(np.nan_to_num(numbers.astype(np.float64), nan=0.0))
    index = np.searchsorted([limit for limit, _ in _AUTO_UNIT_LIMITS], magnitude, side="right")
    return np.asarray(EPOCH_UNITS)[index]


def _from_numbers(array: pa.Array, *, unit: str | None) -> tuple[pa.Array, str | None]:
    """Convert epoch numbers to timestamps; out-of-range and non-finite values become null.

    With `unit` None, each value is read in the unit its magnitude implies.
    """
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    is_int = pa.types.is_integer(array.type)
    if is_int:
        values = pc.fill_null(pc.cast(array, pa.int64()), 0).to_numpy()
    else:
        values = pc.fill_null(pc.cast(array, pa.float64()), np.nan).to_numpy()
    units = np.full(len(values), unit, dtype=object) if unit else value_units(values)
    micros = np.zeros(len(values), dtype=np.int64)
    ok = np.zeros(len(values), dtype=bool)
    for name in np.unique(units[valid]) if valid.any() else []:
        rows = units == name
        scale = _scale_ints if is_int else _scale_floats
        micros[rows], ok[rows] = scale(values[rows], str(name))
    used = set(units[valid].tolist())
    mask = ~(valid & ok)
    reported = None if not used else (used.pop() if len(used) == 1 else MIXED)
    return pa.array(micros, type=TIMESTAMP_TYPE, mask=mask), reported


def _scale_ints(ints: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    if unit == "ns":
        return ints // 1000, np.ones(ints.shape, dtype=bool)
    factor = _US_PER_UNIT[unit]
    limit = np.iinfo(np.int64).max // factor
    ok = np.abs(ints) <= limit
    return np.where(ok, ints, 0) * factor, ok


def _scale_floats(floats: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    factor = 1e-3 if unit == "ns" else float(_US_PER_UNIT[unit])
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.round(floats * factor)
        ok = np.isfinite(scaled) & (np.abs(scaled) < 9.2e18)
    return np.where(ok, scaled, 0).astype(np.int64), ok


def _from_text(raw: pa.Array, *, time_format: str, epoch_unit: str | None) -> ParsedTimestamps:
    trimmed = pc.utf8_trim_whitespace(raw)
    timestamps = pa.nulls(len(raw), TIMESTAMP_TYPE)
    used_unit: str | None = None
    is_number = pa.repeat(False, len(raw))
    if time_format != "iso":
        is_number = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
        if pc.any(is_number).as_py():
            numbers = pc.if_else(is_number, trimmed, None)
            as_int = pc.all(pc.match_substring_regex(numbers, r"^[+-]?[0-9]+$")).as_py()
            # Integers stay exact (ns values exceed float64's 53 bits); anything else is float.
            cast = pc.cast(numbers, pa.int64() if as_int else pa.float64())
            unit = time_format if time_format in EPOCH_UNITS else epoch_unit
            from_numbers, used_unit = _from_numbers(cast, unit=unit)
            timestamps = pc.if_else(is_number, from_numbers, timestamps)
    if time_format in ("auto", "iso"):
        looks_like_date = pc.fill_null(pc.match_substring_regex(trimmed, _DATE_START), False)
        candidates = pc.if_else(pc.and_(looks_like_date, pc.invert(is_number)), trimmed, None)
        if candidates.null_count < len(candidates):
            timestamps = pc.coalesce(timestamps, _parse_iso(candidates))
    return ParsedTimestamps(timestamps, raw, used_unit or epoch_unit)


def _parse_iso(text: pa.Array) -> pa.Array:
    """Parse ISO-8601 text with DuckDB (offsets honoured, naive read as UTC); junk → null.

    DuckDB's cast takes the common forms fast; the few values it rejects get a second pass
    through the fallback formats, which is slow per value and so runs on those alone.
    """
    import duckdb

    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("source", pa.table({"t": text}))
        first = _fetch_column(con, "select try_cast(t as timestamptz) as ts from source")
        failed = pc.and_(pc.is_valid(text), pc.is_null(first))
        if not pc.any(failed).as_py():
            return first
        # strptime's %z does not take a bare `Z`; +00:00 means the same instant.
        retry = pc.replace_substring_regex(
            pc.if_else(failed, text, None), "([0-9])[Zz]$", "\\1+00:00"
        )
        con.register("retry", pa.table({"t": retry}))
        second = _fetch_column(
            con,
            "select try_strptime(t, $formats) as ts from retry",
            {"formats": _ISO_FALLBACK_FORMATS},
        )
    return pc.coalesce(first, second)


def _fetch_column(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> pa.Array:
    result = con.execute(sql, params).to_arrow_table()
    return pc.cast(result.column("ts").combine_chunks(), TIMESTAMP_TYPE)
