"""`recsys ingest file`: any CSV or Parquet interaction log, mapped by column flags or names.

This is the bring-your-own-data path. The minimum is an item, a timestamp and either a user or
a session column; a session-only log (`session_id,item_id,timestamp`) makes each session its own
anonymous user, a log without an event-type column is all views, and no item file is needed.
Every row passes through to the landing; dbt quarantines the bad ones with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from recsys.config import Paths
from recsys.ingest.errors import IngestError
from recsys.ingest.event_items import EventItems
from recsys.ingest.item_files import ItemFileOptions, load_item_file
from recsys.ingest.landing import LandingWriter, events_batch
from recsys.ingest.mapping import (
    ITEM_SPELLINGS,
    ColumnRoles,
    guess_column,
    map_event_types,
    parse_type_map,
    resolve_roles,
)
from recsys.ingest.readers import (
    check_exists,
    columns_of,
    file_kind,
    iter_batches,
    missing_column_error,
    to_float_or_null,
    to_text_ids,
)
from recsys.ingest.report import EventStats, IngestReport
from recsys.ingest.timestamps import TIME_FORMATS, parse_timestamps


@dataclass(frozen=True)
class FileOptions:
    """How to read an events file; a None column is guessed from the file's column names."""

    user: str | None = None
    item: str | None = None
    session: str | None = None
    time: str | None = None
    time_format: str = "auto"
    type: str | None = None
    type_map: str | None = None
    event_id: str | None = None
    delimiter: str | None = None
    no_type: bool = False
    column_names: tuple[str, ...] | None = None
    """Names for a CSV without a header row, in order (`--columns`)."""
    category: str | None = None
    """Category column on the event rows (used when there is no item file)."""
    price: str | None = None
    """Price column on the event rows (used when there is no item file)."""


@dataclass(frozen=True)
class _Plan:
    path: Path
    roles: ColumnRoles
    delimiter: str
    source_file: str
    names: tuple[str, ...] | None
    category: str | None
    price: str | None

    def columns(self) -> list[str]:
        extra = [c for c in (self.category, self.price) if c]
        return list(dict.fromkeys([*self.roles.columns(), *extra]))


def load_files(
    paths: Sequence[Path],
    *,
    layout: Paths,
    options: FileOptions,
    items: ItemFileOptions | None = None,
    source: str | None = None,
    append: bool = False,
) -> IngestReport:
    """Load interaction files into `landing/events/<source>.parquet` (and items, if given).

    Every file is checked (readable, columns present) before any row is written, so a typo in
    the last file's flags fails in a second, not after the first file has streamed.

    Args:
        paths: CSV (optionally compressed) or Parquet files, read in the order given; a
            folder stands for the CSV and Parquet files in it.
        layout: Where the landing area is.
        options: Column flags; see FileOptions.
        items: Optional item metadata file and its column flags.
        source: Landing file name; default: the first path's name without extensions.
        append: Keep the other landing event files instead of replacing the dataset.

    Returns:
        What was read and written.

    Raises:
        IngestError: A file cannot be read, a column is missing, or an option is invalid.
    """
    name = source or (default_source_name(paths[0]) if paths else "file")
    paths = _expand(paths)
    if options.time_format not in TIME_FORMATS:
        raise IngestError(
            f"--time-format: expected one of {', '.join(TIME_FORMATS)}, "
            f"found {options.time_format!r}"
        )
    type_map = parse_type_map(options.type_map)
    names = [path.name for path in paths]
    # source_file + source_row is the fallback event id in dbt: it must be unique per file.
    plans = [
        _plan(
            path,
            options,
            source_file=path.name if names.count(path.name) == 1 else str(path),
            item_metadata=items is None,
        )
        for path in paths
    ]
    item_table = load_item_file(items, events_item_column=plans[0].roles.item) if items else None
    notes = [f"{plan.source_file}: using {_describe(plan)}" for plan in plans]
    wants_items = any(plan.category or plan.price for plan in plans)
    if options.type_map and not any(plan.roles.type for plan in plans):
        notes.append("note: --type-map ignored: no event-type column, every row is a view")
    stats = EventStats()
    rows_read: dict[str, int] = {}
    try:
        writer = LandingWriter(layout, source=name, append=append)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc
    with writer, EventItems(layout.landing) as from_events:
        for plan in plans:
            rows_read[plan.source_file] = _stream_file(
                plan,
                writer=writer,
                stats=stats,
                options=options,
                type_map=type_map,
                items=from_events if wants_items else None,
            )
        if item_table is not None:
            writer.write_items(item_table)
        elif wants_items:
            writer.write_items(from_events.table())
            notes.append("items: latest category/price per item, from the event rows")
        result = writer.commit()
    report = IngestReport(
        source=name, rows_read=rows_read, landing=result, stats=stats, notes=notes
    )
    report.check_reconciled()
    return report


def default_source_name(path: Path) -> str:
    """Return a landing file stem from an input path: `events.csv.gz` -> `events`."""
    stem = path.name.split(".")[0] or "file"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("_.-") or "file"


def _expand(paths: Sequence[Path]) -> list[Path]:
    """Replace each folder by the CSV and Parquet files in it (sorted by name)."""
    if not paths:
        raise IngestError("no input files; pass one or more CSV or Parquet paths")
    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if p.is_file() and _readable_kind(p))
        if not inside:
            raise IngestError(
                f"{path}: a folder with no .csv, .tsv or .parquet files; pass the files instead"
            )
        expanded.extend(inside)
    return expanded


def _readable_kind(path: Path) -> bool:
    if path.name.startswith((".", "_")):  # .crc, _SUCCESS and friends from Spark writers
        return False
    try:
        file_kind(path)
    except IngestError:
        return False
    return True


def _plan(path: Path, options: FileOptions, *, source_file: str, item_metadata: bool) -> _Plan:
    check_exists(path, flag="the PATH argument")
    names = options.column_names if file_kind(path) == "csv" else None
    found, delimiter = columns_of(path, delimiter=options.delimiter, names=names)
    explicit = {
        "user": options.user,
        "session": options.session,
        "item": options.item,
        "time": options.time,
        "type": options.type,
        "event_id": options.event_id,
    }
    if options.no_type and options.type:
        raise IngestError("--type and --no-type contradict each other; pass one of them")
    roles = resolve_roles(path, found, explicit=explicit, no_type=options.no_type)
    category = price = None
    if item_metadata:  # without --items, --category/--price name columns of the events
        taken = set(roles.columns())
        category = _metadata_column(path, found, options.category, "category", taken)
        taken |= {category} if category else set()
        price = _metadata_column(path, found, options.price, "price", taken)
    return _Plan(
        path=path,
        roles=roles,
        delimiter=delimiter,
        source_file=source_file,
        names=names,
        category=category,
        price=price,
    )


def _metadata_column(
    path: Path, found: list[str], explicit: str | None, role: str, taken: set[str]
) -> str | None:
    if explicit:
        if explicit not in found:
            raise missing_column_error(
                path, column=explicit, found=found, flag=f"--{role}", role=f"item {role}"
            )
        return explicit
    return guess_column(found, ITEM_SPELLINGS[role], taken=taken)


def _describe(plan: _Plan) -> str:
    text = plan.roles.describe()
    for role, column in (("category", plan.category), ("price", plan.price)):
        if column:
            text += f", {role}={column}"
    return text


def _stream_file(
    plan: _Plan,
    *,
    writer: LandingWriter,
    stats: EventStats,
    options: FileOptions,
    type_map: dict[str, str],
    items: EventItems | None,
) -> int:
    roles = plan.roles
    rows = 0
    batches = iter_batches(
        plan.path, columns=plan.columns(), delimiter=plan.delimiter, names=plan.names
    )
    for batch in batches:
        # `auto` decides each epoch value's unit by its magnitude, so chunks need no memory
        parsed = parse_timestamps(batch.column(roles.time), time_format=options.time_format)
        session = to_text_ids(batch.column(roles.session)) if roles.session else None
        # No user column: each session is its own anonymous user (docs/contracts.md).
        user = to_text_ids(batch.column(roles.user)) if roles.user else session
        event_type: pa.Array | str = "view"
        if roles.type:
            event_type = map_event_types(batch.column(roles.type), type_map)
        events = events_batch(
            event_id=to_text_ids(batch.column(roles.event_id)) if roles.event_id else None,
            user_id=user,
            session_id=session,
            item_id=to_text_ids(batch.column(roles.item)),
            event_type=event_type,
            event_timestamp=parsed.timestamps,
            event_timestamp_raw=parsed.raw,
            source_file=plan.source_file,
            first_row=rows + 1,
        )
        writer.write_events(events)
        stats.add(events)
        if items is not None and (plan.category or plan.price):
            items.add(
                events=events,
                category=to_text_ids(batch.column(plan.category)) if plan.category else None,
                price=to_float_or_null(batch.column(plan.price)) if plan.price else None,
            )
        rows += batch.num_rows
    return rows
