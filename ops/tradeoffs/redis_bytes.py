"""Redis bytes per user of what each variant stores, and what reading them costs.

Feast keeps one hash per entity (recsys/pipeline/online_read.py): the user's features and
batch list share the user's hash, the session state has a hash of its own. Per view we sum
field name and value lengths (HSTRLEN) over a sample of users and sessions: the payload a
variant needs, without Redis's own per-key overhead (given separately as MEMORY USAGE).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from recsys.contract import BATCH_VIEW, SESSION_VIEW, USER_VIEW
from recsys.pipeline.online_read import EntityReader, ViewFields

SAMPLE = 200


def view_bytes(
    store: Any, redis_url: str, user_ids: Sequence[str], session_ids: Sequence[str]
) -> dict[str, Any]:
    """Mean payload bytes per stored user (or session) of each per-user view."""
    from recsys.redis_runtime import client_from_url

    client: Any = client_from_url(redis_url, timeout_s=5)
    version = store.config.entity_key_serialization_version
    out: dict[str, Any] = {"sampled_users": 0, "sampled_sessions": 0}
    for view, join_key, ids in (
        (USER_VIEW, "user_id", user_ids),
        (BATCH_VIEW, "user_id", user_ids),
        (SESSION_VIEW, "session_id", session_ids),
    ):
        names = [f.name for f in store.get_feature_view(view).features]
        fields = ViewFields.of(view, names)
        reader = EntityReader(
            project=store.project, join_key=join_key, views=[fields], serialization_version=version
        )
        sizes, totals = [], []
        for entity in list(dict.fromkeys(ids))[:SAMPLE]:
            key = reader.key(str(entity))
            pipe = client.pipeline(transaction=False)
            for name in fields.fields:
                pipe.hstrlen(key, name)
            pipe.memory_usage(key)
            *lengths, whole = pipe.execute()
            if any(lengths):
                sizes.append(sum(n + len(f) for n, f in zip(lengths, fields.fields, strict=True)))
                totals.append(whole or 0)
        out[view] = float(np.mean(sizes)) if sizes else None
        out[f"{view}_key_memory"] = float(np.mean(totals)) if totals else None
        out[f"{view}_found"] = len(sizes)
    out["sampled_users"] = min(len(set(user_ids)), SAMPLE)
    out["sampled_sessions"] = min(len(set(session_ids)), SAMPLE)
    return out


def per_variant(mode: str, sizes: dict[str, Any]) -> float | None:
    """Bytes per user a variant needs in Redis: its views' payloads summed."""
    views = {
        "batch": (BATCH_VIEW,),
        "online": (USER_VIEW, SESSION_VIEW),
        "hybrid": (USER_VIEW, BATCH_VIEW, SESSION_VIEW),
        "rerank": (USER_VIEW, BATCH_VIEW, SESSION_VIEW),
    }[mode]
    values = [sizes.get(v) for v in views]
    if any(v is None for v in values):
        return None
    return float(sum(values))  # type: ignore[arg-type]


def read_latency(
    store: Any, redis_url: str, user_ids: Sequence[str], session_ids: Sequence[str]
) -> dict[str, Any]:
    """Wall ms of the reads a request makes, p50 / p99 over a sample, one at a time.

    Online and hybrid: the user's features and batch list plus the session, in one pipelined
    round trip (serving/online.py does the same); batch only: the batch list alone.
    """
    from recsys.redis_runtime import client_from_url

    client: Any = client_from_url(redis_url, timeout_s=5)
    version = store.config.entity_key_serialization_version

    def reader(view: str, join_key: str) -> tuple[EntityReader, list[bytes]]:
        names = [f.name for f in store.get_feature_view(view).features]
        fields = ViewFields.of(view, names)
        entity = EntityReader(
            project=store.project, join_key=join_key, views=[fields], serialization_version=version
        )
        return entity, list(fields.fields)

    users, user_fields = reader(USER_VIEW, "user_id")
    batch, batch_fields = reader(BATCH_VIEW, "user_id")
    sessions, session_fields = reader(SESSION_VIEW, "session_id")
    full, lists = [], []
    pairs = list(dict.fromkeys(zip(user_ids, session_ids, strict=True)))[:SAMPLE]
    for user, session in pairs:
        t0 = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        pipe.hmget(users.key(str(user)), [*user_fields, *batch_fields])
        pipe.hmget(sessions.key(str(session)), session_fields)
        pipe.execute()
        full.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        client.hmget(batch.key(str(user)), batch_fields)
        lists.append((time.perf_counter() - t0) * 1000)
    return {
        "reads": len(pairs),
        "user_session_and_batch": _percentiles(full),
        "batch_list_only": _percentiles(lists),
    }


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "p50": round(float(np.percentile(values, 50)), 4),
        "p99": round(float(np.percentile(values, 99)), 4),
    }
