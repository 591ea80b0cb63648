"""Feast on the real marts (the world built by dbt), not hand-made exports.

Online/offline consistency: after `recsys materialize`, what `get_online_features` returns
for a sample of users and items equals the latest row of the Parquet export dbt wrote; and
the server's in-memory item features (loaded from the same export) equal Redis too.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from recsys.contract import FEATURE_SERVICE
from recsys.pipeline.feast_ops import feature_store
from recsys.ranking.inputs import ranker_inputs
from recsys.ranking.loading import load_catalog
from tests.feast_refs import feature_refs
from tests.world import World, environment

SAMPLE = 25


def _latest(world: World, mart: str, key: str) -> dict[str, dict]:
    path = world.exports / f"{mart}.parquet"
    with duckdb.connect() as con:
        frame = con.execute(
            f"select * from read_parquet('{path}') "
            f"qualify row_number() over (partition by {key} order by event_timestamp desc) = 1 "
            f"order by hash({key}) limit {SAMPLE}"
        ).fetch_df()
    return {row[key]: row for row in frame.to_dict("records")}


def _same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if hasattr(a, "tolist"):
        a = a.tolist()
    if isinstance(a, list):
        return (
            list(b or []) == pytest.approx(a)  # type: ignore[call-overload]
            if a and isinstance(a[0], float)
            else (list(b or []) == a)  # type: ignore[call-overload]
        )
    if isinstance(a, float):
        return b == pytest.approx(a)
    return a == b


@pytest.mark.parametrize(
    ("view", "key"), [("user_features", "user_id"), ("item_features", "item_id")]
)
def test_online_values_equal_the_latest_offline_row(world: World, view: str, key: str) -> None:
    offline = _latest(world, view, key)
    with environment(world.env):
        store = feature_store()
        refs = feature_refs(FEATURE_SERVICE, view, store=store)
        online = store.get_online_features(
            features=refs, entity_rows=[{key: k} for k in offline]
        ).to_dict()
    names = [r.split(":", 1)[1] for r in refs]
    mismatches = [
        (entity, name, offline[entity][name], online[name][n])
        for n, entity in enumerate(online[key])
        for name in names
        if not _same(offline[entity][name], online[name][n])
    ]
    assert len(online[key]) == SAMPLE
    assert not mismatches, mismatches[:5]


def test_server_item_cache_equals_redis(world: World) -> None:
    with environment(world.env):
        store = feature_store()
        inputs = ranker_inputs(store, FEATURE_SERVICE)
        catalog = load_catalog(
            world.exports, snapshot="serving", item_feature_names=list(inputs.layout.item_features)
        )
        items = [str(i) for i in catalog.item_ids[catalog.popular[:SAMPLE]]]
        online = store.get_online_features(
            features=[f"item_features:{f}" for f in inputs.layout.item_features],
            entity_rows=[{"item_id": i} for i in items],
        ).to_dict()
    for n, item in enumerate(items):
        row = catalog.item_features[catalog.index_of(item)]
        for j, name in enumerate(inputs.layout.item_features):
            value = online[name][n]
            assert _same(float(value) if value is not None else None, float(row[j])), (item, name)
