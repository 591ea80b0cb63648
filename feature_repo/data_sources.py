"""Data sources: the Parquet exports of the dbt marts, plus the push source for live sessions.

Paths come from recsys.config (the one definition of the layout), read when Feast imports
this module: `feast apply` must run with RECSYS_DATA_DIR set (`eval "$(recsys env)"`), and
`recsys.pipeline.feast_ops.apply()` re-imports this module so a changed RECSYS_DATA_DIR
takes effect. The registry stores the absolute paths that were current at apply time.
"""

from feast import FileSource, PushSource

from recsys.config import paths
from recsys.contract import MAX_SESSION_EVENTS

_paths = paths()

user_features_source = FileSource(
    name="user_features_source",
    path=str(_paths.export("user_features")),
    timestamp_field="event_timestamp",
    description="One row per user per UTC day with events (point-in-time correct).",
    tags={"dbt_model": "user_features"},
)

item_features_source = FileSource(
    name="item_features_source",
    path=str(_paths.export("item_features")),
    timestamp_field="event_timestamp",
    description="One row per item per UTC day with events (point-in-time correct).",
    tags={"dbt_model": "item_features"},
)

item_neighbors_source = FileSource(
    name="item_neighbors_source",
    path=str(_paths.export("item_neighbors")),
    timestamp_field="event_timestamp",
    description="One row per item per snapshot: co-visitation and sequential neighbours.",
    tags={"dbt_model": "item_neighbors"},
)

session_state_source = FileSource(
    name="session_state_source",
    path=str(_paths.export("session_state")),
    timestamp_field="event_timestamp",
    description=f"One row per session: its last {MAX_SESSION_EVENTS} events, as of its last event.",
    tags={"dbt_model": "session_state"},
)

# The server pushes a session's new state after each event; materialization reads the batch
# source (the dbt export), so both paths write the same session_state view.
session_events_push_source = PushSource(
    name="session_events_push",
    batch_source=session_state_source,
    description="Live session state sent by the API after each accepted event.",
)

# Written by batch scoring, not by dbt: the file is absent until the first `recsys batch-score`.
user_batch_recommendations_source = FileSource(
    name="user_batch_recommendations_source",
    path=str(_paths.export("batch_recommendations")),
    timestamp_field="event_timestamp",
    description="Precomputed top items per user from the latest batch scoring run.",
    tags={"written_by": "recsys batch-score"},
)
