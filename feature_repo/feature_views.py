"""Feature views: typed projections of the exported marts, keyed by the entities.

Field names and types follow the mart columns in docs/contracts.md (counts Int64, rates and
epoch seconds Float64, lists as Array types). `feature_date` is left out: it repeats the
event_timestamp's day. A view's ttl bounds how old a row may be when a point-in-time join
(training) picks it; serving reads whatever was materialized last. Event data can be years
old, so ttls measure staleness relative to the entity row's own timestamp, never to now.
"""

from datetime import timedelta

from data_sources import (
    item_features_source,
    item_neighbors_source,
    session_events_push_source,
    user_batch_recommendations_source,
    user_features_source,
)
from entities import item_entity, session_entity, user_entity
from feast import FeatureView, Field
from feast.types import Array, Float64, Int64, String

from recsys.contract import (
    BATCH_VIEW,
    ITEM_NEIGHBORS_VIEW,
    ITEM_VIEW,
    SESSION_VIEW,
    USER_VIEW,
)

_DAILY_COUNTS = [
    f"{kind}_{window}" for window in ("1d", "7d", "30d") for kind in ("views", "carts", "purchases")
]

user_features_fv = FeatureView(
    name=USER_VIEW,
    entities=[user_entity],
    # Rows exist only for days a user was active; a returning user keeps the totals and recent
    # items of the last active day. Half a year bounds how stale that history may be.
    ttl=timedelta(days=180),
    schema=[
        Field(name="user_id", dtype=String),
        *[Field(name=name, dtype=Int64) for name in _DAILY_COUNTS],
        Field(name="events_total", dtype=Int64),
        Field(name="sessions_total", dtype=Int64),
        Field(name="distinct_items_total", dtype=Int64),
        Field(name="active_days_30d", dtype=Int64),
        Field(name="first_event_epoch_s", dtype=Float64),
        Field(name="last_event_epoch_s", dtype=Float64),
        Field(name="conversion_rate_30d", dtype=Float64),
        Field(name="cart_rate_30d", dtype=Float64),
        Field(name="avg_price_30d", dtype=Float64),
        Field(name="top_categories", dtype=Array(String)),
        Field(name="top_category_shares", dtype=Array(Float64)),
        Field(name="recent_item_ids", dtype=Array(String)),
    ],
    source=user_features_source,
    online=True,
    tags={"dbt_model": "user_features"},
)

item_features_fv = FeatureView(
    name=ITEM_VIEW,
    entities=[item_entity],
    # Same daily grain as users: an item with no events for half a year counts as cold.
    ttl=timedelta(days=180),
    schema=[
        Field(name="item_id", dtype=String),
        *[Field(name=name, dtype=Int64) for name in _DAILY_COUNTS],
        Field(name="events_total", dtype=Int64),
        Field(name="users_total", dtype=Int64),
        Field(name="cart_rate_30d", dtype=Float64),
        Field(name="purchase_rate_30d", dtype=Float64),
        Field(name="trend_7d", dtype=Float64),
        Field(name="category", dtype=String),
        Field(name="price", dtype=Float64),
        Field(name="first_seen_epoch_s", dtype=Float64),
        Field(name="last_event_epoch_s", dtype=Float64),
    ],
    source=item_features_source,
    online=True,
    tags={"dbt_model": "item_features"},
)

item_neighbors_fv = FeatureView(
    name=ITEM_NEIGHBORS_VIEW,
    entities=[item_entity],
    # Rows exist only at snapshot starts (train/valid/test/serving), so a row must stay valid
    # for a whole window, whose length follows the data's time span. A year covers the
    # windows of the session logs we target without reusing lists from another era.
    ttl=timedelta(days=365),
    schema=[
        Field(name="item_id", dtype=String),
        Field(name="snapshot_name", dtype=String),
        Field(name="covis_item_ids", dtype=Array(String)),
        Field(name="covis_scores", dtype=Array(Float64)),
        Field(name="seq_item_ids", dtype=Array(String)),
        Field(name="seq_scores", dtype=Array(Float64)),
    ],
    source=item_neighbors_source,
    online=True,
    tags={"dbt_model": "item_neighbors"},
)

session_state_fv = FeatureView(
    name=SESSION_VIEW,
    entities=[session_entity],
    # Sessions end after 30 minutes of inactivity; a day leaves room for long sessions and
    # clock skew while keeping yesterday's session from joining today's events.
    ttl=timedelta(days=1),
    # user_id is in the mart and the push payload but is not a feature: the caller already
    # knows the user, and a feature named user_id would collide with the user join key.
    schema=[
        Field(name="session_id", dtype=String),
        Field(name="item_ids", dtype=Array(String)),
        Field(name="event_types", dtype=Array(String)),
        Field(name="event_times_ms", dtype=Array(Int64)),
        Field(name="event_count", dtype=Int64),
    ],
    source=session_events_push_source,
    online=True,
    tags={"dbt_model": "session_state"},
)

user_batch_recommendations_fv = FeatureView(
    name=BATCH_VIEW,
    entities=[user_entity],
    # Batch scoring reruns at least weekly in practice; a month-old list is better than none
    # for a returning user but should not outlive a model generation by much.
    ttl=timedelta(days=30),
    schema=[
        Field(name="user_id", dtype=String),
        Field(name="item_ids", dtype=Array(String)),
        Field(name="scores", dtype=Array(Float64)),
        Field(name="model_version", dtype=String),
    ],
    source=user_batch_recommendations_source,
    online=True,
    tags={"written_by": "recsys batch-score"},
)
