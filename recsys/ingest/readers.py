"""Read CSV and Parquet sources in Arrow batches, with errors that say how to fix the call.

CSV columns are read as text: ids keep their exact spelling (leading zeros, long numbers) and
timestamps keep their raw text, and no type guessed from the first block can fail on a later
one. Parquet columns keep their stored types; loaders convert what they need.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsys.ingest.errors import IngestError

CSV_SUFFIXES: Final = (".csv", ".tsv", ".txt", ".dat")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
COMPRESSION_SUFFIXES: Final = (".gz", ".bz2", ".zst", ".lz4")
# Candidates the header sniffer counts when --delimiter is not given.
DELIMITERS: Final = (",", "\t", ";", "|")
# 16 MiB blocks: large enough for pyarrow's parser to be fast, small enough to bound memory.
CSV_BLOCK_BYTES: Final = 16 << 20
PARQUET_BATCH_ROWS: Final = 1_000_000
# A first line whose every field is a number or a date is data, not a header.
_LOOKS_LIKE_DATA: Final = re.compile(r"^([+-]?[0-9]+([.][0-9]*)?|[0-9]{4}-[0-9]{2}-[0-9]{2}.*)$")


def file_kind(path: Path) -> str:
    """Return 'csv' or 'parquet' from the file's extension (compressed CSV allowed).

    Raises:
        IngestError: The extension is neither.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in PARQUET_SUFFIXES:
        return "parquet"
    if last in CSV_SUFFIXES:
        return "csv"
    raise IngestError(
        f"{path.name}: cannot tell the format from the extension {last or '(none)'!r}; "
        f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} "
        "(CSV may also end in .gz, .bz2, .zst or .lz4); rename the file"
    )


def check_exists(path: Path, *, flag: str) -> None:
    """Stop with a clear message when `path` is not a readable file.

    Raises:
        IngestError: The path does not exist or is a directory.
    """
    if not path.exists():
        raise IngestError(f"{path}: no such file; check the path given to {flag}")
    if path.is_dir():
        raise IngestError(f"{path}: is a directory, expected a file; pass the file to {flag}")


def columns_of(
    path: Path, *, delimiter: str | None = None, names: Sequence[str] | None = None
) -> tuple[list[str], str]:
    """Return the column names of a CSV or Parquet file and the CSV delimiter used.

    Args:
        path: The file.
        delimiter: CSV delimiter; None sniffs it from the first line (`,` tab `;` `|`).
        names: Column names of a CSV without a header row, in order.

    Raises:
        IngestError: The file cannot be opened or parsed, `names` do not fit its first line,
            or its first line looks like data rather than a header.
    """
    if file_kind(path) == "parquet":
        try:
            return list(pq.read_schema(path).names), ""
        except (OSError, pa.ArrowException) as exc:
            raise IngestError(
                f"{path.name}: cannot be read as Parquet ({_first_line(exc)}); "
                "check that the file is complete and really Parquet"
            ) from exc
    header = _header_line(path)
    if delimiter is None:
        delimiter = _sniff_delimiter(header, path)
    fields = next(csv.reader([header], delimiter=delimiter), [])
    if not fields or fields == [""]:
        raise IngestError(f"{path.name}: the first line is empty; expected a header row")
    if names:
        if len(names) != len(fields):
            raise IngestError(
                f"{path.name}: --columns names {len(names)} columns but the first line has "
                f"{len(fields)} fields ({header[:80]!r}); name every column, in order"
            )
        return list(names), delimiter
    if all(_LOOKS_LIKE_DATA.match(field.strip()) for field in fields):
        example = ",".join(f"col{i + 1}" for i in range(len(fields)))
        raise IngestError(
            f"{path.name}: the first line looks like data, not a header ({header[:80]!r}); "
            f"name the columns in order with --columns, e.g. --columns {example}"
        )
    return fields, delimiter


def iter_batches(
    path: Path,
    *,
    columns: Sequence[str],
    delimiter: str = ",",
    names: Sequence[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream `columns` of a CSV (as text) or Parquet file in batches.

    `names` are the column names of a CSV without a header row (its first line is data).

    Raises:
        IngestError: The file cannot be parsed (a short row, bad quoting, not UTF-8).
    """
    wanted = list(dict.fromkeys(columns))
    try:
        if file_kind(path) == "parquet":
            yield from pq.ParquetFile(path).iter_batches(
                batch_size=PARQUET_BATCH_ROWS, columns=wanted
            )
            return
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                block_size=CSV_BLOCK_BYTES, column_names=list(names) if names else None
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.string()),
                # Empty fields stay "" (dbt treats empty ids as missing and keeps the text).
                strings_can_be_null=False,
            ),
        )
        yield from reader
    except (OSError, pa.ArrowException) as exc:
        kind = file_kind(path)
        hint = (
            "check --delimiter and quoting, and that the file is UTF-8"
            if kind == "csv"
            else "check that the file is complete and really Parquet"
        )
        raise IngestError(
            f"{path.name}: cannot be read as {kind.upper()} ({_first_line(exc)}); {hint}"
        ) from exc


def read_table(path: Path, *, columns: Sequence[str], delimiter: str = ",") -> pa.Table:
    """Read `columns` of a whole (small) file, e.g. item metadata, into one table."""
    batches = list(iter_batches(path, columns=columns, delimiter=delimiter))
    if not batches:
        return pa.table({name: pa.array([], pa.string()) for name in columns})
    return pa.Table.from_batches(batches).combine_chunks()


def missing_column_error(
    path: Path,
    *,
    column: str,
    found: Sequence[str],
    flag: str,
    role: str | None = None,
    suggestion: str | None = None,
) -> IngestError:
    """Build the error for a column that is not in the file, naming the flag that fixes it.

    Args:
        path: The file.
        column: The column asked for.
        found: The file's columns.
        flag: The flag that names the column.
        role: What the column is for ("user"), shown in the message.
        suggestion: A column that likely plays the role; else the closest spelling is offered.
    """
    shown = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
    guess = suggestion or _closest(column, found)
    fix = f"pass {flag} {guess}" if guess else f"pass {flag} with one of these columns"
    what = f" for the {role}" if role else ""
    return IngestError(f"{path.name}: no column {column!r}{what} (columns: {shown}); {fix}")


def require_layout(file: Path, columns: Sequence[str], *, layout: str, hint: str) -> None:
    """Stop when a file of a known public dataset lacks one of its documented columns.

    Raises:
        IngestError: Names the file, the first missing column, the columns found, and `hint`.
    """
    found, _ = columns_of(file, delimiter=",")
    missing = [column for column in columns if column not in found]
    if missing:
        shown = ", ".join(found[:20])
        raise IngestError(
            f"{file.name}: no column {missing[0]!r} (columns: {shown}); expected the {layout} "
            f"layout ({','.join(columns)}); {hint}, or load other files with `recsys ingest file`"
        )


def to_text_ids(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ids as strings; integral floats (123.0 from a NaN-holding column) lose the '.0'."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_floating(array.type):
        finite = pc.is_finite(array)
        integral = pc.all(pc.equal(pc.floor(pc.filter(array, finite)), pc.filter(array, finite)))
        if integral.as_py() in (True, None) and pc.all(finite).as_py() in (True, None):
            array = pc.cast(array, pa.int64())
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        array = array.cast(pa.string())
    return pc.cast(array, pa.string())


def to_float_or_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return float64 values; text that is not a number (or is empty) becomes null."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return pc.cast(array, pa.float64())
    text = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    numeric = pc.match_substring_regex(
        text, r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
    )
    return pc.cast(pc.if_else(pc.fill_null(numeric, False), text, None), pa.float64())


def _header_line(path: Path) -> str:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 20)
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(
            f"{path.name}: cannot be opened ({_first_line(exc)}); check the path and permissions"
        ) from exc
    if not head:
        raise IngestError(f"{path.name}: the file is empty; expected a header row and data")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # The 1 MiB cut may split a character; only a failure well before it is real.
        if exc.start < len(head) - 4:
            raise IngestError(
                f"{path.name}: not UTF-8 text (byte {exc.start} is {head[exc.start]:#04x}); "
                "convert it, e.g. `iconv -f latin1 -t utf-8`, or pass a CSV or Parquet file"
            ) from exc
        text = head[: exc.start].decode("utf-8-sig")
    return text.splitlines()[0] if text.strip() else ""


def _sniff_delimiter(header: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv" or ".tsv" in [s.lower() for s in path.suffixes]:
        return "\t"
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (comma first)
    return best if counts[best] else ","


def _closest(column: str, found: Sequence[str]) -> str | None:
    import difflib

    lowered = {name.lower(): name for name in found}
    if column.lower() in lowered:
        return lowered[column.lower()]
    matches = difflib.get_close_matches(column.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
