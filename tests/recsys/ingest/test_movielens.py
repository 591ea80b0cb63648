"""MovieLens on the real shared copy: every rating lands, typed by its value."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.ingest.errors import IngestError
from recsys.ingest.movielens import load_movielens

pytestmark = pytest.mark.movielens


@pytest.fixture(scope="module")
def landed(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    layout = Paths(tmp_path_factory.mktemp("movielens"))
    load_movielens(movielens_dir, layout=layout)
    return layout


def test_every_rating_becomes_one_event(landed: Paths, movielens_dir: Path) -> None:
    events = pq.read_table(landed.landing_events / "movielens.parquet")
    assert events.num_rows == 100_836
    with (movielens_dir / "ratings.csv").open(newline="") as handle:
        ratings = list(csv.DictReader(handle))
    strong = sum(float(r["rating"]) >= 4.0 for r in ratings)
    types = dict(zip(*pc.value_counts(events.column("event_type")).flatten(), strict=True))
    assert {str(k): v.as_py() for k, v in types.items()} == {
        "purchase": strong,
        "view": len(ratings) - strong,
    }
    first = events.slice(0, 1).to_pylist()[0]
    assert (first["user_id"], first["item_id"]) == (ratings[0]["userId"], ratings[0]["movieId"])
    assert first["event_timestamp"] == datetime.fromtimestamp(int(ratings[0]["timestamp"]), UTC)
    assert first["event_timestamp_raw"] == ratings[0]["timestamp"]
    assert events.column("session_id").null_count == events.num_rows
    assert events.column("event_timestamp").null_count == 0
    assert events.column("source_row").to_pylist()[-1] == 100_836
    assert not any(str(v).endswith("\r") for v in events.column("item_id").to_pylist()[:100])


def test_movies_become_items_with_first_genre_as_category(landed: Paths) -> None:
    items = pq.read_table(landed.landing_items)
    assert items.num_rows == 9_742
    toy_story = items.filter(pc.equal(items.column("item_id"), "1")).to_pylist()[0]
    assert toy_story["category"] == "Adventure"
    assert toy_story["title"] == "Toy Story (1995)"
    assert toy_story["price"] is None
    assert json.loads(toy_story["attributes"])["genres"] == [
        "Adventure",
        "Animation",
        "Children",
        "Comedy",
        "Fantasy",
    ]
    no_genre = items.filter(pc.is_null(items.column("category")))
    assert 0 < no_genre.num_rows < 100, "only '(no genres listed)' movies lack a category"
    assert all(json.loads(a)["genres"] == [] for a in no_genre.column("attributes").to_pylist())


def test_a_folder_without_ratings_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"ratings.csv: no such file; .*--path"):
        load_movielens(tmp_path, layout=Paths(tmp_path / "data"))
