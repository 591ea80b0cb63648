"""The registered repo matches docs/contracts.md, and point-in-time joins through ranker_v1."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore, FeatureView, FileSource, PushSource

from recsys.pipeline import feast_ops
from tests.feast_refs import feature_refs
from tests.feature_repo.conftest import FeastRepo
from tests.feature_repo.exports import T0

pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")

VIEWS = {  # view -> (entity, export file)
    "user_features": ("user", "user_features"),
    "item_features": ("item", "item_features"),
    "item_neighbors": ("item", "item_neighbors"),
    "session_state": ("session", "session_state"),
    "user_batch_recommendations": ("user", "batch_recommendations"),
}


def _path(view: FeatureView) -> str:
    assert isinstance(view.batch_source, FileSource)
    return view.batch_source.path


@pytest.fixture(scope="module")
def store(feast_repo: FeastRepo) -> FeatureStore:
    return feast_ops.feature_store(connect_redis=False)


def test_entities_views_and_service_are_registered_as_the_contract_says(
    feast_repo: FeastRepo, store: FeatureStore
) -> None:
    entities = {e.name: e.join_key for e in store.list_entities()}
    assert entities == {"user": "user_id", "item": "item_id", "session": "session_id"}
    views = {v.name: v for v in store.list_feature_views()}
    assert set(views) == set(VIEWS)
    exports = feast_repo.data_dir / "exports"
    for name, (entity, export) in VIEWS.items():
        view = views[name]
        assert view.entities == [entity]
        assert view.ttl and view.ttl > timedelta(0)
        assert _path(view) == str(exports / f"{export}.parquet")
        if export != "batch_recommendations":
            assert view.batch_source is not None
            assert view.batch_source.tags == {"dbt_model": export}
    push = views["session_state"].stream_source
    assert isinstance(push, PushSource) and push.name == "session_events_push"
    assert push.batch_source == views["session_state"].batch_source
    service = store.get_feature_service("ranker_v1")
    assert [p.name for p in service.feature_view_projections] == [
        "user_features",
        "item_features",
        "session_state",
    ]
    assert "feature service ranker_v1: user_features, item_features, session_state" in (
        feast_repo.apply_summary
    )


@pytest.mark.parametrize(
    "view_name", ["user_features", "item_features", "item_neighbors", "session_state"]
)
def test_every_feature_is_a_column_of_the_export(
    feast_repo: FeastRepo, store: FeatureStore, view_name: str
) -> None:
    view = store.get_feature_view(view_name)
    schema = pq.read_schema(_path(view))
    for feature in view.features:
        assert feature.name in schema.names, feature.name
        list_type = "Array" in str(feature.dtype)
        assert list_type == str(schema.field(feature.name).type).startswith("list"), feature.name


def test_feature_refs_come_from_the_service_projection(store: FeatureStore) -> None:
    refs = feature_refs("ranker_v1", "session_state", store=store)
    assert refs == [
        "session_state:item_ids",
        "session_state:event_types",
        "session_state:event_times_ms",
        "session_state:event_count",
    ]
    assert len(feature_refs("ranker_v1", "user_features", store=store)) == 21
    with pytest.raises(ValueError, match="has no view 'item_neighbors'"):
        feature_refs("ranker_v1", "item_neighbors", store=store)


def test_apply_again_follows_a_changed_data_dir(
    feast_repo: FeastRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "elsewhere"))
    summary = feast_ops.apply()
    assert str(tmp_path / "elsewhere" / "feast" / "registry.db") in summary
    moved = feast_ops.feature_store(connect_redis=False).get_feature_view("user_features")
    assert _path(moved) == str(tmp_path / "elsewhere" / "exports" / "user_features.parquet")


def test_point_in_time_join_through_ranker_v1_refs(store: FeatureStore) -> None:
    refs = [
        ref
        for view in ("user_features", "item_features", "session_state")
        for ref in feature_refs("ranker_v1", view, store=store)
    ]
    day = timedelta(days=1)
    cases = [  # (at, expected user events_total, item events_total, session event_count)
        (T0 + day, 1001, 11, 3),  # rows stamped exactly at the entity time join
        (T0 + day - timedelta(microseconds=1), None, None, 3),  # a value from the future never does
        (T0 + 1.5 * day, 1001, 11, None),  # session row is 35 h old: past its 1-day ttl
        (T0 + 4 * day, 1002, 14, None),  # the latest row at or before the time wins
        (T0 + 2 * day + 179 * day, 1002, 14, None),  # within the 180-day ttl
        (T0 + 4 * day + 181 * day, None, None, None),  # beyond it: too stale to join
    ]
    entity_df = pd.DataFrame(
        {
            "user_id": "u1",
            "item_id": "i1",
            "session_id": "s1",
            "event_timestamp": [at for at, *_ in cases],
            "case": range(len(cases)),
        }
    )
    joined = (
        store.get_historical_features(entity_df=entity_df, features=refs, full_feature_names=True)
        .to_df()
        .sort_values("case")
    )
    got = joined[
        ["user_features__events_total", "item_features__events_total", "session_state__event_count"]
    ]
    for row, (_, *expected) in zip(got.itertuples(index=False), cases, strict=True):
        assert [None if pd.isna(v) else int(v) for v in row] == expected
