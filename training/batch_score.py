"""`recsys batch-score`: recommendations for every active user, the batch side of the hybrid.

Same catalog, candidates, features and ranker as the server, with no session: the user's
own recent items are the context. Results go to the warehouse (`batch_recommendations`,
one row per user and rank, for analysts) and to Redis through Feast (the
`user_batch_recommendations` view, a fallback and candidate source for the server).

Scoring fans out over worker processes (fork: the catalog and compiled model are shared
copy-on-write) and scores many users per model call.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training.core.candidates import CandidateConfig, UserContext, generate
from training.core.catalog import Catalog
from training.core.recommend import Scorer
from training.core.session import SessionArrays, session_features
from training.core.users import average_price, user_context
from training.core.vectors import assemble

EMPTY_SESSION = SessionArrays(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0))


@dataclass(frozen=True)
class BatchResult:
    users: int
    rows: int
    seconds: float
    model_version: str
    scored_at: datetime

    @property
    def users_per_second(self) -> float:
        return self.users / self.seconds if self.seconds else float("nan")


def active_users(exports: Path, *, as_of: datetime, active_days: int) -> pd.DataFrame:
    """Latest user_features row (at `as_of`) of users with an event in the last `active_days`."""
    path = exports / "user_features.parquet"
    cutoff = (as_of - timedelta(days=active_days)).timestamp()
    with duckdb.connect() as con:
        return con.execute(
            f"select * exclude (feature_date) from read_parquet('{path}') "
            "where event_timestamp <= ? "
            "qualify row_number() over (partition by user_id order by event_timestamp desc) = 1 "
            "and last_event_epoch_s >= ? order by user_id",
            [as_of, cutoff],
        ).fetch_df()


# Worker-process globals: set before the pool forks, read by _score_chunk in the children.
_CATALOG: Catalog | None = None
_SCORER: Scorer | None = None
_CONFIG = CandidateConfig()
_K = 20
_NOW_S = 0.0


def score_users(
    users: pd.DataFrame,
    *,
    catalog: Catalog,
    scorer: Scorer,
    k: int,
    candidates: int,
    workers: int,
    chunk: int = 256,
    progress: Any = None,
) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """Yield (user ids, item index matrix [users, k], score matrix) chunk by chunk."""
    global _CATALOG, _SCORER, _CONFIG, _K, _NOW_S
    _CATALOG, _SCORER, _K = catalog, scorer, k
    _CONFIG = CandidateConfig(n=candidates)
    _NOW_S = catalog.as_of.timestamp()
    records: list[dict[str, Any]] = users.to_dict("records")  # type: ignore[assignment]
    chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
    if workers <= 1 or len(chunks) <= 1:
        for part in chunks:
            result = _score_chunk(part)
            if progress:
                progress(len(part))
            yield result
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for part, result in zip(chunks, pool.imap(_score_chunk, chunks), strict=True):
            if progress:
                progress(len(part))
            yield result


def _score_chunk(rows: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    catalog, scorer = _CATALOG, _SCORER
    assert catalog is not None and scorer is not None
    session_row = session_features(EMPTY_SESSION)
    blocks, owners, cand_items = [], [], []
    for position, row in enumerate(rows):
        user: UserContext = user_context(row, catalog, scorer.layout.user_features)
        cands = generate(catalog, EMPTY_SESSION, user, config=_CONFIG)
        X = assemble(
            scorer.layout,
            catalog,
            cands,
            item_rows=catalog.item_features[cands.items],
            user=user,
            session=EMPTY_SESSION,
            session_row=session_row,
            now_s=_NOW_S,
            user_avg_price=average_price(row),
        )
        blocks.append(X[:, scorer.columns])
        owners.append(np.full(len(cands), position, np.int32))
        cand_items.append(cands.items)
    ids = [str(r["user_id"]) for r in rows]
    top_items = np.full((len(rows), _K), -1, np.int32)
    top_scores = np.full((len(rows), _K), np.nan)
    if not blocks:
        return ids, top_items, top_scores
    scores = scorer.ranker.score(np.concatenate(blocks))  # one model call for the whole chunk
    owner = np.concatenate(owners)
    items = np.concatenate(cand_items)
    order = np.lexsort((items, -scores, owner))  # by user, best first, ties by item
    owner, items, scores = owner[order], items[order], scores[order]
    starts = np.searchsorted(owner, np.arange(len(rows)))
    ends = np.searchsorted(owner, np.arange(len(rows)), side="right")
    for position, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        take = min(_K, hi - lo)
        top_items[position, :take] = items[lo : lo + take]
        top_scores[position, :take] = scores[lo : lo + take]
    return ids, top_items, top_scores


def write_results(
    chunks: Iterator[tuple[list[str], np.ndarray, np.ndarray]],
    *,
    catalog: Catalog,
    model_version: str,
    scored_at: datetime,
    parquet_path: Path,
    warehouse: Path,
) -> tuple[int, int]:
    """Write the wide Parquet (Feast source) and the long warehouse table; return counts."""
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = parquet_path.with_suffix(f".{os.getpid()}.tmp")
    schema = BATCH_SCHEMA
    users = rows = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for ids, top_items, top_scores in chunks:
            item_lists, score_lists = [], []
            for r in range(len(ids)):
                valid = top_items[r] >= 0
                item_lists.append(catalog.item_ids[top_items[r][valid]].tolist())
                score_lists.append(np.round(top_scores[r][valid], 6).tolist())
                rows += int(valid.sum())
            users += len(ids)
            writer.write_table(
                pa.table(
                    {
                        "user_id": ids,
                        "event_timestamp": pa.array(
                            [scored_at] * len(ids), pa.timestamp("us", tz="UTC")
                        ),
                        "item_ids": item_lists,
                        "scores": score_lists,
                        "model_version": [model_version] * len(ids),
                    },
                    schema=schema,
                )
            )
    tmp.replace(parquet_path)  # readers (Feast, the server) never see a half-written file
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table batch_recommendations as "
            "select user_id, cast(r.rank as integer) as rank, r.item_id, r.score, model_version, "
            "event_timestamp as scored_at "
            "from read_parquet(?) as b, "
            "unnest(list_transform(range(len(item_ids)), i -> {'rank': i + 1, "
            "'item_id': item_ids[i + 1], 'score': scores[i + 1]})) as t(r) "
            "order by user_id, rank",
            [str(parquet_path)],
        )
    return users, rows


BATCH_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("item_ids", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float64())),
        ("model_version", pa.string()),
    ]
)


def ensure_batch_source(path: Path) -> None:
    """Write an empty, typed batch_recommendations file if none exists yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(BATCH_SCHEMA.empty_table(), path)


def scored_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def run_batch(
    *,
    exports: Path,
    warehouse: Path,
    catalog: Catalog,
    scorer: Scorer,
    k: int,
    candidates: int,
    active_days: int,
    workers: int,
    progress_factory: Any = None,
) -> BatchResult:
    """Score every active user and write the results; return counts and throughput."""
    users = active_users(exports, as_of=catalog.as_of, active_days=active_days)
    scored_at = scored_now()
    started = time.perf_counter()
    bar = progress_factory(len(users)) if progress_factory else None
    chunks = score_users(
        users,
        catalog=catalog,
        scorer=scorer,
        k=k,
        candidates=candidates,
        workers=workers,
        progress=bar.update if bar else None,
    )
    n_users, n_rows = write_results(
        chunks,
        catalog=catalog,
        model_version=scorer.ranker.version,
        scored_at=scored_at,
        parquet_path=exports / "batch_recommendations.parquet",
        warehouse=warehouse,
    )
    if bar:
        bar.close()
    return BatchResult(
        n_users, n_rows, time.perf_counter() - started, scorer.ranker.version, scored_at
    )
