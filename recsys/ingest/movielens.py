"""`recsys ingest movielens`: GroupLens MovieLens ratings as implicit-feedback events.

Every rating is an interaction: a rating of 4.0 or more is the strong signal (`purchase`),
anything lower a `view`. MovieLens has no sessions: users rate in bursts, so the session id
stays null and dbt sessionizes by the inactivity gap. Items come from movies.csv: the first
genre is the category, the full genre list goes into the attributes, and there are no prices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.config import REPO_ROOT, Paths
from recsys.ingest.landing import (
    ITEMS_SCHEMA,
    LandingWriter,
    attributes_json,
    conform,
    events_batch,
)
from recsys.ingest.readers import (
    check_exists,
    iter_batches,
    read_table,
    require_layout,
    to_float_or_null,
)
from recsys.ingest.report import EventStats, IngestReport
from recsys.ingest.timestamps import parse_timestamps

DEFAULT_PATH: Final = REPO_ROOT.parent / "shared" / "data" / "movielens-small"
STRONG_RATING: Final = 4.0
_RATINGS_COLUMNS: Final = ("userId", "movieId", "rating", "timestamp")
_MOVIES_COLUMNS: Final = ("movieId", "title", "genres")
_NO_GENRE: Final = "(no genres listed)"


def load_movielens(
    path: Path, *, layout: Paths, append: bool = False, source: str = "movielens"
) -> IngestReport:
    """Load ratings.csv (events) and movies.csv (items) from a MovieLens folder.

    Args:
        path: Folder holding ratings.csv and movies.csv (the ml-latest-small layout).
        layout: Where the landing area is.
        append: Keep the other landing event files instead of replacing the dataset.
        source: Landing file name.

    Returns:
        What was read and written.

    Raises:
        IngestError: The folder or a file is missing, unreadable, or lacks a column.
    """
    ratings, movies = path / "ratings.csv", path / "movies.csv"
    for file in (ratings, movies):
        check_exists(file, flag="--path (a folder holding ratings.csv and movies.csv)")
        _require(file, _RATINGS_COLUMNS if file is ratings else _MOVIES_COLUMNS)
    items = _movies(movies)
    stats = EventStats()
    rows = 0
    with LandingWriter(layout, source=source, append=append) as writer:
        for batch in iter_batches(ratings, columns=_RATINGS_COLUMNS):
            rating = to_float_or_null(batch.column("rating"))
            # An unparseable rating has no type: dbt quarantines it as `missing event_type`.
            event_type = pc.if_else(pc.greater_equal(rating, STRONG_RATING), "purchase", "view")
            parsed = parse_timestamps(batch.column("timestamp"), time_format="s")
            events = events_batch(
                user_id=batch.column("userId"),
                item_id=batch.column("movieId"),
                event_type=event_type,
                event_timestamp=parsed.timestamps,
                event_timestamp_raw=parsed.raw,
                source_file=ratings.name,
                first_row=rows + 1,
            )
            writer.write_events(events)
            stats.add(events)
            rows += batch.num_rows
        writer.write_items(items)
        result = writer.commit()
    report = IngestReport(
        source=source,
        rows_read={ratings.name: rows},
        landing=result,
        stats=stats,
        notes=[
            f"MovieLens at {path}: rating >= {STRONG_RATING} -> purchase, else view; "
            "no session ids (dbt splits sessions by inactivity)"
        ],
        flag_hints=False,
    )
    report.check_reconciled()
    return report


def _movies(movies: Path) -> pa.Table:
    table = read_table(movies, columns=_MOVIES_COLUMNS)
    genres = pc.split_pattern(table.column("genres"), "|")
    first = pc.list_element(pc.fill_null(genres, pa.scalar([""], pa.list_(pa.string()))), 0)
    category = pc.if_else(pc.is_in(first, pa.array(["", _NO_GENRE])), None, first)
    no_genres = pa.scalar([], pa.list_(pa.string()))
    listed = pc.if_else(pc.equal(table.column("genres"), _NO_GENRE), no_genres, genres)
    rows = table.num_rows
    items = pa.table(
        {
            "item_id": table.column("movieId"),
            "category": category,
            "price": pa.nulls(rows, pa.float64()),
            "title": table.column("title"),
            "attributes": attributes_json(pa.table({"genres": listed})),
            "source_file": pa.repeat(pa.scalar(movies.name), rows),
            "source_row": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        }
    )
    return conform(items, ITEMS_SCHEMA)


def _require(file: Path, columns: tuple[str, ...]) -> None:
    require_layout(file, columns, layout="MovieLens ml-latest", hint="pass --path to such a folder")
