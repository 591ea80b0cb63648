"""`recsys ingest ...`: one command per source of events.

Each command writes the canonical landing files (docs/contracts.md) under RECSYS_DATA_DIR and
prints rows read and rows written. Bad input stops with one message naming the file, the
column and the flag that fixes it (exit code 2, no traceback); bad rows are not dropped here
but pass through for dbt to quarantine with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from recsys.ingest.errors import IngestError

app = typer.Typer(help="Load events into the landing area (data/landing).", no_args_is_help=True)

T = TypeVar("T")
_APPEND_HELP = "Keep the other landing/events files (default: a new ingest replaces the dataset)."


def _run(step: Callable[[], T]) -> T:
    """Run a loader; turn bad input into one clear line on stderr and exit code 2."""
    try:
        return step()
    # ValueError: option values the loaders validate themselves (sizes, dates, names).
    except (IngestError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _print(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


@app.command("generate")
def generate(
    events: int = typer.Option(100_000, "--events", help="Number of events (10k to 10M+)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, identical files."),
    users: int | None = typer.Option(None, "--users", help="Default: events / 25."),
    items: int | None = typer.Option(None, "--items", help="Default: events / 30."),
    categories: int | None = typer.Option(
        None, "--categories", help="Default: sqrt(items) / 4, between 8 and 200."
    ),
    days: float = typer.Option(60, "--days", help="Length of the window, in days."),
    end_date: str = typer.Option(
        "2026-11-01T00:00:00Z", "--end-date", help="End of the window (ISO-8601, UTC)."
    ),
    no_session_ids: bool = typer.Option(
        False, "--no-session-ids", help="Omit session_id: dbt sessionizes by the 30-minute gap."
    ),
    dirty_fraction: float = typer.Option(
        0.0,
        "--dirty-fraction",
        help="Share of junk rows (null user, unknown type, bad timestamp, duplicate id) "
        "for the quarantine demo.",
    ),
    append: bool = typer.Option(False, "--append", help=_APPEND_HELP),
) -> None:
    """Generate realistic synthetic sessions (deterministic per seed): the demo's data."""
    from recsys.config import paths
    from recsys.ingest.generator import GeneratorConfig
    from recsys.ingest.generator import generate as run
    from recsys.ingest.timestamps import parse_cli_datetime

    def step() -> list[str]:
        try:
            end = parse_cli_datetime(end_date)
        except ValueError as exc:
            raise IngestError(f"--end-date: {exc}") from exc
        config = GeneratorConfig(
            events=events,
            seed=seed,
            users=users,
            items=items,
            categories=categories,
            days=days,
            end=end,
            session_ids=not no_session_ids,
            dirty_fraction=dirty_fraction,
        )
        report, _ = run(config, layout=paths(), append=append)
        return report.lines()

    _print(_run(step))


@app.command("movielens")
def movielens(
    path: Path | None = typer.Option(
        None,
        "--path",
        help="Folder with ratings.csv and movies.csv (default: ../shared/data/movielens-small).",
    ),
    append: bool = typer.Option(False, "--append", help=_APPEND_HELP),
) -> None:
    """Load MovieLens ratings (>= 4.0 -> purchase, else view) and movies (first genre)."""
    from recsys.config import paths
    from recsys.ingest.movielens import DEFAULT_PATH, load_movielens

    folder = path or DEFAULT_PATH
    _print(_run(lambda: load_movielens(folder, layout=paths(), append=append).lines()))


@app.command("retailrocket")
def retailrocket(
    path: Path = typer.Option(
        ..., "--path", help="Folder with events.csv, item_properties_part*.csv, category_tree.csv."
    ),
    append: bool = typer.Option(False, "--append", help=_APPEND_HELP),
) -> None:
    """Load the RetailRocket release (events, latest category per item, parent category)."""
    from recsys.config import paths
    from recsys.ingest.retailrocket import load_retailrocket

    _print(_run(lambda: load_retailrocket(path, layout=paths(), append=append).lines()))


@app.command("file")
def file(
    paths_: list[Path] = typer.Argument(
        ...,
        metavar="PATH",
        help="CSV (also .tsv, .gz) or Parquet files, or folders of them.",
        show_default=False,
    ),
    user: str | None = typer.Option(None, "--user", help="User column (none: user = session)."),
    item: str | None = typer.Option(None, "--item", help="Item column."),
    session: str | None = typer.Option(
        None, "--session", help="Session column (none: dbt splits by the 30-minute gap)."
    ),
    time: str | None = typer.Option(None, "--time", help="Timestamp column."),
    time_format: str = typer.Option(
        "auto", "--time-format", help="auto | iso | s | ms | us | ns (auto: values decide)."
    ),
    type_: str | None = typer.Option(
        None, "--type", help="Event-type column (none: every row is a view)."
    ),
    no_type: bool = typer.Option(
        False, "--no-type", help="Ignore any event-type column: every row is a view."
    ),
    type_map: str | None = typer.Option(
        None, "--type-map", help="Map source types, e.g. 'clicked=view,bought=purchase'."
    ),
    event_id: str | None = typer.Option(None, "--event-id", help="Event id column."),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="CSV delimiter (default: sniffed from the header)."
    ),
    columns: str | None = typer.Option(
        None,
        "--columns",
        help="Names for a CSV without a header row, in order, e.g. 'session_id,timestamp,item_id'.",
    ),
    items_path: Path | None = typer.Option(None, "--items", help="Optional item metadata file."),
    item_id: str | None = typer.Option(None, "--item-id", help="Item id column of --items."),
    category: str | None = typer.Option(
        None, "--category", help="Category column of --items (or of the events, without --items)."
    ),
    price: str | None = typer.Option(
        None, "--price", help="Price column of --items (or of the events, without --items)."
    ),
    title: str | None = typer.Option(None, "--title", help="Title column of --items."),
    source: str | None = typer.Option(
        None, "--source", help="Landing file name (default: the first file's name)."
    ),
    append: bool = typer.Option(False, "--append", help=_APPEND_HELP),
) -> None:
    """Load any interaction log; columns are guessed from common names unless flags say.

    The minimum is an item, a timestamp, and a user or a session column: a plain
    `session_id,item_id,timestamp` log needs no flags.
    """
    from recsys.config import paths
    from recsys.ingest.files import FileOptions, load_files
    from recsys.ingest.item_files import ItemFileOptions

    options = FileOptions(
        user=user,
        item=item,
        session=session,
        time=time,
        time_format=time_format,
        type=type_,
        type_map=type_map,
        event_id=event_id,
        delimiter=_unescape(delimiter),
        no_type=no_type,
        column_names=tuple(c.strip() for c in columns.split(",")) if columns else None,
        category=category if items_path is None else None,
        price=price if items_path is None else None,
    )
    items = None
    if items_path is not None:
        items = ItemFileOptions(
            path=items_path,
            item_id=item_id,
            category=category,
            price=price,
            title=title,
            delimiter=_unescape(delimiter),
        )
    elif item_id is not None or title is not None:
        typer.echo("error: --item-id and --title describe --items; pass --items PATH", err=True)
        raise typer.Exit(2)
    report = _run(
        lambda: load_files(
            paths_, layout=paths(), options=options, items=items, source=source, append=append
        )
    )
    _print(report.lines())


def _unescape(delimiter: str | None) -> str | None:
    """Let `--delimiter '\\t'` mean a tab, as people type it in a shell."""
    if delimiter is None:
        return None
    return {"\\t": "\t", "tab": "\t", "\\|": "|"}.get(delimiter, delimiter)
