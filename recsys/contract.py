"""Names shared across dbt, Feast, training and serving: defined here once, imported elsewhere.

Feature view and service names, the session rules (inactivity gap, events kept per session
state) and the Redis key prefixes of the project's own keys. dbt reads the session rules
through vars (`dbt_runner` passes them on every build; a test checks `dbt_project.yml`'s
defaults agree) and the Feast repo imports the view and service names.
"""

from __future__ import annotations

# Feast feature views (feature_repo/feature_views.py) and the service the ranker reads.
USER_VIEW = "user_features"
ITEM_VIEW = "item_features"
ITEM_NEIGHBORS_VIEW = "item_neighbors"
SESSION_VIEW = "session_state"
BATCH_VIEW = "user_batch_recommendations"
FEATURE_SERVICE = "ranker_v1"

# A user's rolling session ends after this much inactivity (dbt var session_gap_minutes).
SESSION_GAP_MINUTES = 30
# Events kept per session state, online and in the session_state mart; older ones fall off.
MAX_SESSION_EVENTS = 50

# The project's own Redis keys (Feast's keys are Feast's format, see recsys/pipeline). Keys
# that one request reads or writes together carry the session key as a hash tag ({...}), so
# on a Redis Cluster they share a slot: one node, one round trip (docs/contracts.md).
EVENT_KEY_PREFIX = "recsys:event:"
# Written by every materialization (views, row counts, build id, time); the server checks it
# cheaply to tell an online store that was never filled, or restarted empty, from a healthy one.
MATERIALIZED_MARKER_KEY = "recsys:meta:materialized"
# The online session entity of a request without a session id: the user's rolling session.
ROLLING_SESSION_PREFIX = "user:"


def session_key(user_id: str, session_id: str | None) -> str:
    """The online session entity: the given session, else the user's rolling session."""
    return session_id if session_id is not None else f"{ROLLING_SESSION_PREFIX}{user_id}"


def event_claim_key(session: str, event_id: str) -> str:
    """`recsys:event:{<session key>}:<event_id>`: the claim of an event applied to a session.

    Tagged with the session so a batch's claims and the session's last impression share a
    cluster slot. A claim holds within its session: the session row's applied-id list makes
    the update idempotent there too, and dbt deduplicates event ids globally.
    """
    return f"{EVENT_KEY_PREFIX}{{{session}}}:{event_id}"
