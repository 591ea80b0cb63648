"""A small but complete world for end-to-end tests: generated events -> dbt -> Feast -> model.

Built once per test session (about a minute on 2 cores) into a temporary data dir with its
own Redis database, then shared read-only by the training and serving tests. Tests that
change state (promote a model, stop Redis) build their own copies or undo what they did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from recsys import registry
from recsys.config import environment, paths
from recsys.contract import FEATURE_SERVICE
from training.params import TrainSettings

# Small caps keep the session fixture fast; the metrics still separate the methods clearly.
SMALL_TRAIN = replace(
    TrainSettings(), max_train_queries=4_000, max_valid_queries=1_500, max_test_queries=2_000
)
# Tests that train again on a copy (a night, the orchestrated graph) only need a model.
TINY_TRAIN = replace(
    SMALL_TRAIN, max_train_queries=1_000, max_valid_queries=500, max_test_queries=500
)
WORLD_EVENTS = 30_000
WORLD_SEED = 11


@dataclass(frozen=True)
class World:
    data_dir: Path
    redis_url: str
    model_version: str

    @property
    def env(self) -> dict[str, str]:
        return {"RECSYS_DATA_DIR": str(self.data_dir), "REDIS_URL": self.redis_url}

    @property
    def exports(self) -> Path:
        return self.data_dir / "exports"

    @property
    def models(self) -> Path:
        return self.data_dir / "models"


def build_features(*, events: int, seed: int, **generator: object) -> None:
    """Generate events and run dbt build + feast apply + materialize in the current env."""
    from recsys.ingest.generator import GeneratorConfig, generate
    from recsys.pipeline import dbt_runner, feast_ops
    from recsys.pipeline.materialize import materialize
    from recsys.redis_runtime import export_redis_env

    export_redis_env(os.environ["REDIS_URL"])
    generate(GeneratorConfig(events=events, seed=seed, **generator), layout=paths())  # type: ignore[arg-type]
    dbt_runner.build()
    feast_ops.ensure_batch_source(paths().export("batch_recommendations"))
    feast_ops.apply()
    materialize(start=None, end=None, incremental=False, views=None, engine="fast")


def train_model(settings: TrainSettings = SMALL_TRAIN) -> str:
    """Train, evaluate and register a model in the current env; return its version."""
    from recsys.pipeline.feast_ops import feature_store
    from recsys.ranking.inputs import ranker_inputs
    from training import train
    from training.features import historical_fetcher

    store = feature_store(connect_redis=False)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    outcome = train.run(
        settings=settings,
        layout=inputs.layout,
        fetch=historical_fetcher(store, inputs),
        feature_refs=inputs.refs,
        log_line=lambda _: None,
    )
    return outcome.version


def batch_score_users() -> None:
    """Batch-score the active users with the current model and load them into Redis."""
    from recsys.pipeline.feast_ops import feature_store
    from recsys.pipeline.materialize import materialize
    from recsys.ranking.inputs import ranker_inputs
    from recsys.ranking.loading import load_catalog
    from recsys.ranking.ranker import load_ranker
    from recsys.ranking.recommend import Scorer
    from serving.batch import run_batch

    layout = paths()
    store = feature_store(connect_redis=False)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    catalog = load_catalog(
        layout.exports, snapshot="serving", item_feature_names=list(inputs.layout.item_features)
    )
    model_dir = registry.current_dir(layout.models)
    assert model_dir is not None, "no promoted model to batch-score with"
    scorer = Scorer.bind(load_ranker(model_dir), inputs.layout)
    run_batch(
        exports=layout.exports,
        warehouse=layout.warehouse,
        catalog=catalog,
        scorer=scorer,
        k=20,
        candidates=300,
        active_days=30,
        workers=1,
    )
    materialize(
        start=None, end=None, incremental=False, views=["user_batch_recommendations"], engine="fast"
    )


def build_world(root: Path, redis_url: str) -> World:
    """Everything from raw events to a promoted model and batch recommendations."""
    world_env = {"RECSYS_DATA_DIR": str(root / "data"), "REDIS_URL": redis_url}
    with environment(world_env):
        build_features(events=WORLD_EVENTS, seed=WORLD_SEED)
        version = train_model()
        batch_score_users()
    return World(data_dir=root / "data", redis_url=redis_url, model_version=version)
