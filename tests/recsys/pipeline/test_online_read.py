"""The hot path's direct Redis reader returns exactly what Feast's get_online_features does."""

from __future__ import annotations

import math
import uuid

import duckdb
import pytest

from recsys.contract import FEATURE_SERVICE, SESSION_VIEW
from recsys.pipeline.feast_ops import feature_store
from recsys.session_store import SessionEvent
from serving.online import BATCH_FIELDS, SESSION_FIELDS, OnlineFeatures
from tests.feast_refs import feature_refs
from tests.world import World, environment


@pytest.fixture(scope="module")
def online(world: World):
    with environment(world.env):
        store = feature_store()
        refs = feature_refs(FEATURE_SERVICE, "user_features", store=store)
        reader = OnlineFeatures(
            store,
            redis_url=world.redis_url,
            timeout_s=1.0,
            user_features=[r.split(":", 1)[1] for r in refs],
            retry_seconds=0.1,
        )
        yield store, refs, reader


def _equal(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def test_user_and_batch_rows_match_get_online_features(online, world: World) -> None:
    store, refs, reader = online
    with duckdb.connect() as con:
        users = [
            u
            for (u,) in con.execute(
                "select distinct user_id from read_parquet(?) order by hash(user_id) limit 15",
                [str(world.exports / "user_features.parquet")],
            ).fetchall()
        ]
    sample = [*users, "never-seen"]
    expected = store.get_online_features(
        features=[*refs, *(f"user_batch_recommendations:{f}" for f in BATCH_FIELDS)],
        entity_rows=[{"user_id": u} for u in sample],
        full_feature_names=True,
    ).to_dict()
    for n, user in enumerate(sample):
        row = reader.read(user_id=user, session_key="none")
        for ref in refs:
            name = ref.split(":", 1)[1]
            want = expected[ref.replace(":", "__")][n]
            got = row.user.get(name) if row.user else None
            assert _equal(got, want), (user, name, got, want)
        items = expected["user_batch_recommendations__item_ids"][n]
        assert (row.batch[0] if row.batch else None) == items


def test_session_rows_match_after_an_update(online) -> None:
    """What the session store writes is what Feast's own reader returns."""
    store, _, reader = online
    key = f"read-{uuid.uuid4().hex}"
    events = [
        SessionEvent("e2", "i2", "purchase", 1_790_000_060_000),
        SessionEvent("e1", "i1", "view", 1_790_000_000_000),  # out of order: placed by time
    ]
    reader.apply_session_events(session_key=key, user_id="u1", events=events)
    expected = store.get_online_features(
        features=[f"{SESSION_VIEW}:{f}" for f in SESSION_FIELDS],
        entity_rows=[{"session_id": key}],
    ).to_dict()
    got = reader.read_session(user_id="u1", session_key=key)
    assert got is not None
    assert got.item_ids == expected["item_ids"][0] == ["i1", "i2"]
    assert got.event_types == expected["event_types"][0] == ["view", "purchase"]
    assert got.event_times_ms == expected["event_times_ms"][0]
    assert got.event_count == expected["event_count"][0] == 2
    assert reader.read_session(user_id="u1", session_key=f"{key}-other") is None
