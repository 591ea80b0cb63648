"""Real data spanning 22 years: MovieLens ratings as events with no sessions and no prices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import EVENTS_SCHEMA, Built, data_dir_env, write_items

pytestmark = pytest.mark.movielens


def _write_landing(movielens_dir: Path, data_dir: Path) -> int:
    """Map ratings to events (>= 4 stars = purchase) and movies to items (first genre)."""
    ratings = pv.read_csv(movielens_dir / "ratings.csv")
    rows = ratings.num_rows
    user = pc.binary_join_element_wise("u", pc.cast(ratings["userId"], pa.string()), "")
    stamp = pc.multiply(pc.cast(ratings["timestamp"], pa.int64()), 1_000_000)
    events = pa.table(
        {
            "event_id": pa.nulls(rows, pa.string()),
            "user_id": user,
            "session_id": pa.nulls(rows, pa.string()),
            "item_id": pc.cast(ratings["movieId"], pa.string()),
            "event_type": pc.if_else(pc.greater_equal(ratings["rating"], 4.0), "purchase", "view"),
            "event_timestamp": pc.cast(stamp, pa.timestamp("us", tz="UTC")),
            "event_timestamp_raw": pc.cast(ratings["timestamp"], pa.string()),
            "source_file": pa.repeat(pa.scalar("ratings.csv"), rows),
            "source_row": pa.array(range(1, rows + 1), pa.int64()),
        },
        schema=EVENTS_SCHEMA,
    )
    path = data_dir / "landing" / "events" / "movielens.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(events, path)
    movies = pv.read_csv(movielens_dir / "movies.csv").to_pylist()
    write_items(
        data_dir,
        [
            {
                "item_id": str(movie["movieId"]),
                "category": str(movie["genres"]).split("|")[0],
                "title": movie["title"],
            }
            for movie in movies
        ],
    )
    return rows


@pytest.fixture(scope="module")
def built(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    data_dir = tmp_path_factory.mktemp("movielens") / "data"
    _write_landing(movielens_dir, data_dir)
    with data_dir_env(data_dir):
        yield Built(data_dir, dbt_runner.build(quiet=True))


def test_every_rating_reconciles(built: Built) -> None:
    assert [(f.raw_rows, f.clean_rows) for f in built.summary.files] == [(100_836, 100_836)]


def test_twenty_years_of_history_get_windows_and_features(built: Built) -> None:
    first, last = built.rows("select min(starts_at), max(ends_at) from data_windows")[0]
    assert first.year == 1996 and last.year == 2018
    # Users rate in bursts; without session ids every burst becomes a session of its own.
    sessions, users = built.rows(
        "select count(*), count(distinct user_id) from fct_sessions where session_id like 'u%#%'"
    )[0]
    assert users == 610 and sessions > users
    assert built.rows("select count(*), count(avg_price_30d) from user_features")[0][1] == 0
    assert built.rows("select max(len(recent_item_ids)) from user_features") == [(30,)]
