"""`recsys tradeoffs` on real data: MovieLens (../shared), ingested, built, trained small.

The generated world shows the session signal beating the batch list by construction; here
the same report runs on public ratings the project did not make, and its figures must
still hang together (every variant scored with intervals, costs split, storage counted).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recsys.config import paths
from recsys.ingest.movielens import load_movielens
from recsys.redis_runtime import RedisServer
from tests.world import SMALL_TRAIN, batch_score_users, environment, train_model

QUERIES = 200


@pytest.fixture(scope="module")
def report(
    movielens_dir: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    from ops.tradeoffs.cli import tradeoffs
    from recsys.pipeline import dbt_runner, feast_ops
    from recsys.pipeline.materialize import materialize
    from recsys.redis_runtime import export_redis_env

    root = tmp_path_factory.mktemp("movielens-tradeoffs")
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/3"  # a database of its own
    with environment({"RECSYS_DATA_DIR": str(root / "data"), "REDIS_URL": redis_url}):
        export_redis_env(redis_url)
        load_movielens(movielens_dir, layout=paths())
        dbt_runner.build(quiet=True)
        feast_ops.ensure_batch_source(paths().export("batch_recommendations"))
        feast_ops.apply()
        materialize(start=None, end=None, incremental=False, views=None, engine="fast")
        train_model(
            replace(SMALL_TRAIN, max_train_queries=2_000, max_valid_queries=800,
                    max_test_queries=800)
        )  # fmt: skip
        batch_score_users()
        out = root / "tradeoffs"
        tradeoffs(max_queries=QUERIES, resamples=100, seed=5, out=out)
    return json.loads((out / "tradeoffs.json").read_text())


def test_every_variant_of_movielens_is_scored_with_costs_and_storage(
    report: dict[str, Any],
) -> None:
    rows = {row["variant"]: row for row in report["variants"]}
    assert len(rows) == 11 and report["reference"] in rows
    assert 0 < report["test_window"]["queries"] <= QUERIES
    for name, row in rows.items():
        assert row["queries"] == report["test_window"]["queries"], name
        for metric in ("HR@20", "MRR@20", "NDCG@10"):
            value = row["metrics"][metric]
            low, high = value["ci95"]
            assert 0 <= low <= value["value"] <= high <= 1, (name, metric, value)
        cost = row["cpu_ms_per_1000"]
        assert cost["total"] == pytest.approx(cost["request_path"] + cost["batch_job"], abs=1e-2)
        assert row["redis_bytes_per_user"] > 0
    # rating sessions are ordered too: the session's items point at the next ones
    mrr = {name: row["metrics"]["MRR@20"]["value"] for name, row in rows.items()}
    assert mrr[report["reference"]] > mrr["batch only"]
    hr = {name: row["metrics"]["HR@20"]["value"] for name, row in rows.items()}
    assert hr["hybrid: batch list re-ranked by the session"] == pytest.approx(hr["batch only"])
