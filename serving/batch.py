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
from numba import njit

from recsys.pipeline.feast_ops import BATCH_SCHEMA
from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import Moment, Scorer, candidates, features
from recsys.ranking.session import SessionArrays, session_features
from recsys.ranking.users import average_price, user_context

EMPTY_SESSION = SessionArrays.empty()


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


# Worker-process globals: set before the pool forks, read by _score_chunk in the children
# (the rows too: a child reads its slice of them instead of receiving it pickled).
_CATALOG: Catalog | None = None
_SCORER: Scorer | None = None
_CONFIG = CandidateConfig()
_K = 20
_NOW_S = 0.0
_ROWS: list[dict[str, Any]] = []


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
    global _CATALOG, _SCORER, _CONFIG, _K, _NOW_S, _ROWS
    _CATALOG, _SCORER, _K = catalog, scorer, k
    _CONFIG = CandidateConfig(n=candidates)
    _NOW_S = catalog.as_of.timestamp()
    _ROWS = users.to_dict("records")  # type: ignore[assignment]
    spans = [(i, min(i + chunk, len(_ROWS))) for i in range(0, len(_ROWS), chunk)]
    try:
        if workers <= 1 or len(spans) <= 1:
            for span in spans:
                result = _score_span(span)
                if progress:
                    progress(span[1] - span[0])
                yield result
            return
        _score_span((0, 1))  # compile (or load) the kernels once, before the children fork
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            for span, result in zip(spans, pool.imap(_score_span, spans), strict=True):
                if progress:
                    progress(span[1] - span[0])
                yield result
    finally:
        _ROWS = []


def _score_span(span: tuple[int, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    return _score_chunk(_ROWS[span[0] : span[1]])


def _score_chunk(rows: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    catalog, scorer = _CATALOG, _SCORER
    assert catalog is not None and scorer is not None
    session_row = session_features(EMPTY_SESSION)
    moments = [
        Moment(
            session=EMPTY_SESSION,
            user=user_context(row, catalog, scorer.layout.user_features),
            user_avg_price=average_price(row),
            now_s=_NOW_S,
        )
        for row in rows
    ]
    cands = [candidates(catalog, moment, config=_CONFIG) for moment in moments]
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(c) for c in cands], out=offsets[1:])
    # float64 is what the compiled model reads: filling it here spares it a converted copy
    X = np.empty((int(offsets[-1]), len(scorer.columns)), np.float64)
    reorder = not scorer.in_layout_order
    for moment, user_cands, lo, hi in zip(moments, cands, offsets[:-1], offsets[1:], strict=True):
        block = features(scorer.layout, catalog, user_cands, moment, session_row=session_row)
        X[lo:hi] = block[:, scorer.columns] if reorder else block
    ids = [str(r["user_id"]) for r in rows]
    if len(X) == 0:
        return ids, np.full((len(rows), _K), -1, np.int32), np.full((len(rows), _K), np.nan)
    scores = scorer.ranker.score(X)  # one model call for the whole chunk
    items = np.concatenate([c.items for c in cands])
    top_items, top_scores = best_per_user(scores, items, offsets, _K)
    return ids, top_items, top_scores


@njit(cache=True)
def best_per_user(
    scores: np.ndarray, items: np.ndarray, offsets: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score desc, ties by item asc) of each user's slice [offsets[u], offsets[u+1]).

    Returns (items [users, k] with -1 padding, scores [users, k] with nan padding).
    """
    n_users = len(offsets) - 1
    top_items = np.full((n_users, k), -1, np.int32)
    top_scores = np.full((n_users, k), np.nan)
    for u in range(n_users):
        best_items, best_scores = top_items[u], top_scores[u]
        kept = 0
        for i in range(offsets[u], offsets[u + 1]):
            score, item = scores[i], items[i]
            if kept == k and not _before(score, item, best_scores[k - 1], best_items[k - 1]):
                continue
            if kept < k:
                kept += 1
            at = kept - 1
            while at > 0 and _before(score, item, best_scores[at - 1], best_items[at - 1]):
                best_scores[at], best_items[at] = best_scores[at - 1], best_items[at - 1]
                at -= 1
            best_scores[at], best_items[at] = score, item
    return top_items, top_scores


@njit(cache=True)
def _before(score: float, item: int, other_score: float, other_item: int) -> bool:
    return score > other_score or (score == other_score and item < other_item)


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
            valid = top_items >= 0  # each row's valid entries come first, padding after
            offsets = pa.array(np.concatenate([[0], np.cumsum(valid.sum(axis=1))]), pa.int32())
            item_lists = pa.ListArray.from_arrays(
                offsets, pa.array(catalog.item_ids[top_items[valid]], pa.string())
            )
            score_lists = pa.ListArray.from_arrays(
                offsets, pa.array(np.round(top_scores[valid], 6), pa.float64())
            )
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
            "select user_id, cast(generate_subscripts(item_ids, 1) as integer) as rank, "
            "unnest(item_ids) as item_id, unnest(scores) as score, model_version, "
            "event_timestamp as scored_at "
            "from read_parquet(?) order by user_id, rank",
            [str(parquet_path)],
        )
    return users, rows


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
