"""Point-in-time training sets: each session position of a time window, as the server saw it.

A query is (session, prefix length k): the first k events of a session are known, the next
event's item is the label. For a window [start, end):

1. the catalog (co-visitation, popularity, past sessions) is the window's snapshot, built by
   dbt from events strictly before `start` (the server's state after the last nightly build);
2. user and item batch features come from Feast `get_historical_features` through the
   ranker's feature service, requested at the UTC midnight before the query (what a nightly
   materialization would have put in Redis), so no value computed after the query can join;
3. session features, candidates and the feature matrix come from `recsys.ranking`, the code
   the server runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.contract import MAX_SESSION_EVENTS
from recsys.ranking.candidates import CandidateConfig, Candidates, UserContext
from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import Moment, candidates, features
from recsys.ranking.session import TYPE_CODE, SessionArrays
from recsys.ranking.users import average_price, user_context
from recsys.ranking.vectors import FeatureLayout

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Window:
    """A half-open time window [starts_at, ends_at) of the data split."""

    name: str
    starts_at: datetime
    ends_at: datetime


def load_windows(exports: Path) -> dict[str, Window]:
    """Read the data split dbt computed (data_windows mart)."""
    path = exports / "data_windows.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `make features` first")
    with duckdb.connect() as con:
        rows = con.execute(
            f"select window_name, starts_at, ends_at from read_parquet('{path}')"
        ).fetchall()
    return {name: Window(name, start, end) for name, start, end in rows}


@dataclass(frozen=True)
class SessionLog:
    """Events of the sessions that touch one window, concatenated session after session."""

    session_ids: np.ndarray  # object, per session
    user_ids: np.ndarray  # object, per session
    offsets: np.ndarray  # int64, len sessions + 1: events of session s are offsets[s]:offsets[s+1]
    item_ids: np.ndarray  # object, per event
    items: np.ndarray  # int32 catalog index per event (-1 unknown)
    types: np.ndarray  # int8 per event
    times_s: np.ndarray  # float64 per event

    def prefix(self, session: int, length: int) -> SessionArrays:
        """The session as the server keeps it after `length` events (last MAX_SESSION_EVENTS)."""
        start = self.offsets[session]
        stop = start + length
        start = max(start, stop - MAX_SESSION_EVENTS)
        return SessionArrays(
            self.items[start:stop], self.types[start:stop], self.times_s[start:stop]
        )


def load_session_log(exports: Path, window: Window, catalog: Catalog) -> SessionLog:
    """Load every event of the sessions with at least one event inside `window`."""
    path = exports / "fct_events.parquet"
    sql = f"""
        with touching as (
            select distinct session_id from read_parquet('{path}')
            where event_timestamp >= ? and event_timestamp < ?
        )
        select e.session_id, e.user_id, e.item_id, e.event_type,
               epoch_us(e.event_timestamp) / 1e6 as t
        from read_parquet('{path}') e join touching using (session_id)
        order by e.session_id, e.session_position
    """
    with duckdb.connect() as con:
        con.execute("set threads to 2")
        table = con.execute(sql, [window.starts_at, window.ends_at]).to_arrow_table()
    session_col = table.column("session_id").to_numpy(zero_copy_only=False)
    n = len(session_col)
    if n == 0:
        empty = np.zeros(0, object)
        return SessionLog(
            empty,
            empty,
            np.zeros(1, np.int64),
            empty,
            np.zeros(0, np.int32),
            np.zeros(0, np.int8),
            np.zeros(0),
        )
    change = np.flatnonzero(session_col[1:] != session_col[:-1]) + 1
    starts = np.concatenate([[0], change])
    item_ids = table.column("item_id").to_numpy(zero_copy_only=False)
    types = pd.Series(table.column("event_type").to_numpy(zero_copy_only=False))
    return SessionLog(
        session_ids=session_col[starts],
        user_ids=table.column("user_id").to_numpy(zero_copy_only=False)[starts],
        offsets=np.concatenate([starts, [n]]).astype(np.int64),
        item_ids=item_ids,
        items=catalog.indices_of(item_ids),
        types=types.map(TYPE_CODE).fillna(0).to_numpy(np.int8),
        times_s=table.column("t").to_numpy().astype(np.float64),
    )


@dataclass(frozen=True)
class Queries:
    """One row per query: which session, how many events are known, what came next."""

    session: np.ndarray  # int64 session number in the SessionLog
    prefix_len: np.ndarray  # int32 events known (0 = session start)
    time_s: np.ndarray  # float64 reference time of the request
    target: np.ndarray  # int32 catalog index of the next item (-1 = not in catalog)
    grade: np.ndarray  # int8 1 view / 2 cart / 3 purchase

    def __len__(self) -> int:
        return len(self.session)


def select_queries(
    log: SessionLog,
    window: Window,
    *,
    max_queries: int,
    max_positions_per_session: int | None,
    include_session_start: bool,
    seed: int,
) -> Queries:
    """Pick the queries whose reference time falls inside `window`.

    A query with k >= 1 known events is asked right after event k; a session-start query
    (k = 0) right before the first event. Sessions are sampled, not positions, when the
    window has more than `max_queries`, so every kept session is evaluated in full.
    """
    lengths = np.diff(log.offsets)
    sessions = np.repeat(np.arange(len(lengths)), lengths)
    k = np.arange(len(sessions)) - np.repeat(log.offsets[:-1], lengths)
    target_pos = log.offsets[sessions] + k
    time_s = np.where(k > 0, log.times_s[np.maximum(target_pos - 1, 0)], log.times_s[target_pos])
    start, end = window.starts_at.timestamp(), window.ends_at.timestamp()
    keep = (time_s >= start) & (time_s < end)
    if not include_session_start:
        keep &= k > 0
    rng = np.random.default_rng(seed)
    if max_positions_per_session is not None:
        keep &= _cap_per_session(sessions, keep, max_positions_per_session, rng)
    idx = np.flatnonzero(keep)
    if len(idx) > max_queries:
        order = rng.permutation(len(lengths))
        counts = np.bincount(sessions[idx], minlength=len(lengths))[order]
        chosen = order[: int(np.searchsorted(np.cumsum(counts), max_queries, side="right"))]
        idx = idx[np.isin(sessions[idx], chosen)]
    return Queries(
        session=sessions[idx].astype(np.int64),
        prefix_len=k[idx].astype(np.int32),
        time_s=time_s[idx],
        target=log.items[target_pos[idx]],
        grade=(log.types[target_pos[idx]] + 1).astype(np.int8),
    )


def _cap_per_session(
    sessions: np.ndarray, keep: np.ndarray, cap: int, rng: np.random.Generator
) -> np.ndarray:
    """Mask keeping at most `cap` randomly chosen kept positions of each session."""
    noise = rng.random(len(sessions))
    noise[~keep] = np.inf
    order = np.lexsort((noise, sessions))
    rank = np.empty(len(sessions), np.int64)
    grouped = sessions[order]
    first = np.concatenate([[0], np.flatnonzero(grouped[1:] != grouped[:-1]) + 1])
    run_start = np.repeat(first, np.diff(np.concatenate([first, [len(order)]])))
    rank[order] = np.arange(len(order)) - run_start
    return rank < cap


FeatureFetcher = Callable[[str, np.ndarray, np.ndarray], pa.Table]
"""(entity, keys, day_start_seconds) -> table with the entity key, event_timestamp and features."""


@dataclass
class ExampleSet:
    """A window's queries with their candidates and feature matrix, ready for LightGBM."""

    window: Window
    feature_names: list[str]
    X: np.ndarray  # float32 [rows, features]
    label: np.ndarray  # int8 grade of the candidate (0 = not the next item)
    group: np.ndarray  # int32 candidates per query
    candidates: np.ndarray  # int32 catalog index per row
    queries: pd.DataFrame  # one row per query (session_id, user_id, prefix_len, target, ...)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.group)]).astype(np.int64)


def build_examples(
    window: Window,
    *,
    catalog: Catalog,
    log: SessionLog,
    queries: Queries,
    layout: FeatureLayout,
    fetch: FeatureFetcher,
    config: CandidateConfig,
    drop_missing_targets: bool,
    progress: Callable[[int], None] | None = None,
) -> ExampleSet:
    """Generate candidates and features for every query of a window.

    Args:
        window: The window the queries belong to.
        catalog: The window's snapshot catalog.
        log: Sessions of the window.
        queries: From select_queries.
        layout: Feature column layout (item and user feature names from the service).
        fetch: Point-in-time feature lookup (Feast get_historical_features).
        config: Candidate generation settings.
        drop_missing_targets: Drop queries whose next item is not among the candidates
            (training: they carry no ranking signal); keep them for evaluation.
        progress: Called with the number of queries processed since the last call.
    """
    days = (np.floor(queries.time_s / SECONDS_PER_DAY) * SECONDS_PER_DAY).astype(np.int64)
    user_keys = log.user_ids[queries.session]
    users = _UserRows(fetch, user_keys, days, catalog, layout)

    moments: list[Moment] = []
    generated: list[Candidates] = []
    for q in range(len(queries)):
        moment = Moment(
            session=log.prefix(int(queries.session[q]), int(queries.prefix_len[q])),
            user=users.context(q),
            user_avg_price=users.avg_price(q),
            now_s=float(queries.time_s[q]),
        )
        generated.append(candidates(catalog, moment, config=config))
        moments.append(moment)
        if progress and q % 1000 == 999:
            progress(1000)
    if progress:
        progress(len(queries) % 1000)

    items = _ItemRows(fetch, generated, days, catalog, layout)
    kept = [
        q
        for q, cands in enumerate(generated)
        if not drop_missing_targets or (cands.items == queries.target[q]).any()
    ]
    groups = [len(generated[q]) for q in kept]
    offsets = np.concatenate([[0], np.cumsum(groups, dtype=np.int64)]).astype(np.int64)
    # One matrix written in place, query by query: no per-query blocks to concatenate (the
    # training window is about 3M rows x 71 columns, close to a gigabyte).
    X = np.empty((int(offsets[-1]), len(layout.names)), np.float32)
    label = np.zeros(len(X), np.int8)
    for n, q in enumerate(kept):
        cands = generated[q]
        lo, hi = int(offsets[n]), int(offsets[n + 1])
        features(
            layout,
            catalog,
            cands,
            moments[q],
            item_rows=items.rows(q, cands.items),
            out=X[lo:hi],
        )
        label[lo:hi][cands.items == queries.target[q]] = queries.grade[q]
    kept_idx = np.asarray(kept, np.int64)
    meta = pd.DataFrame(
        {
            "session": queries.session[kept_idx],
            "session_id": log.session_ids[queries.session[kept_idx]],
            "user_id": user_keys[kept_idx],
            "prefix_len": queries.prefix_len[kept_idx],
            "time_s": queries.time_s[kept_idx],
            "target": queries.target[kept_idx],
            "grade": queries.grade[kept_idx],
            "user_is_known": np.array([moments[q].user.known for q in kept], bool),
            "n_candidates": np.asarray(groups, np.int32),
        }
    )
    return ExampleSet(
        window=window,
        feature_names=layout.names,
        X=X,
        label=label,
        group=np.asarray(groups, np.int32),
        candidates=(
            np.concatenate([generated[q].items for q in kept]) if kept else np.zeros(0, np.int32)
        ),
        queries=meta,
    )


class _UserRows:
    """User feature rows of each query, fetched once per (user, day)."""

    def __init__(
        self,
        fetch: FeatureFetcher,
        keys: np.ndarray,
        days: np.ndarray,
        catalog: Catalog,
        layout: FeatureLayout,
    ) -> None:
        frame = pd.DataFrame({"key": keys, "day": days})
        unique = frame.drop_duplicates().reset_index(drop=True)
        table = fetch("user", unique["key"].to_numpy(object), unique["day"].to_numpy())
        rows = _rows_by_key(table, "user_id")
        self._rows = [rows.get((k, d)) for k, d in zip(unique["key"], unique["day"], strict=True)]
        self._position = frame.merge(unique.reset_index(), on=["key", "day"], how="left")[
            "index"
        ].to_numpy()
        self._catalog, self._layout = catalog, layout
        self._cache: dict[int, UserContext] = {}

    def context(self, q: int) -> UserContext:
        pos = int(self._position[q])
        if pos not in self._cache:
            self._cache[pos] = user_context(
                self._rows[pos], self._catalog, self._layout.user_features
            )
        return self._cache[pos]

    def avg_price(self, q: int) -> float:
        return average_price(self._rows[int(self._position[q])])


class _ItemRows:
    """Item feature rows of each query's candidates, fetched once per (item, day)."""

    def __init__(
        self,
        fetch: FeatureFetcher,
        generated: list[Candidates],
        days: np.ndarray,
        catalog: Catalog,
        layout: FeatureLayout,
    ) -> None:
        sizes = np.fromiter((len(c) for c in generated), np.int64, len(generated))
        all_items = (
            np.concatenate([c.items for c in generated]) if generated else np.zeros(0, np.int32)
        )
        all_days = np.repeat(days, sizes)
        pairs = pd.DataFrame({"item": all_items, "day": all_days}).drop_duplicates()
        names = list(layout.item_features)
        self._matrix = np.full((len(pairs) + 1, len(names)), np.nan, np.float32)
        self._day_maps: dict[int, np.ndarray] = {}
        if len(pairs):
            table = fetch(
                "item", catalog.item_ids[pairs["item"].to_numpy()], pairs["day"].to_numpy()
            )
            frame = table.to_pandas()
            frame["day"] = _day_seconds(frame["event_timestamp"])
            frame["item"] = catalog.indices_of(frame["item_id"].to_numpy(object))
            frame = pairs.merge(frame, on=["item", "day"], how="left")
            self._matrix[: len(frame)] = frame[names].to_numpy(np.float32, na_value=np.nan)
            for day, group in frame.groupby("day", sort=False):
                lookup = np.full(catalog.size, -1, np.int64)  # -1 -> the all-nan last row
                lookup[group["item"].to_numpy()] = group.index.to_numpy()
                self._day_maps[int(day)] = lookup  # type: ignore[arg-type]
        self._days = days

    def rows(self, q: int, items: np.ndarray) -> np.ndarray:
        lookup = self._day_maps.get(int(self._days[q]))
        if lookup is None:
            return np.full((len(items), self._matrix.shape[1]), np.nan, np.float32)
        return self._matrix[lookup[items]]


def _day_seconds(timestamps: pd.Series) -> np.ndarray:
    """Epoch seconds of timestamps of any resolution (Feast returns microseconds).

    Counting from the epoch as a Timedelta keeps this independent of the column's unit;
    `astype("int64")` would return raw microseconds for a `datetime64[us]` column.
    """
    values = pd.to_datetime(timestamps, utc=True)
    return ((values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _rows_by_key(table: pa.Table, key: str) -> dict[tuple[str, int], dict]:
    frame = table.to_pandas()
    days = _day_seconds(frame["event_timestamp"])
    records = frame.drop(columns=["event_timestamp"]).to_dict("records")
    return {(rec[key], int(day)): rec for rec, day in zip(records, days, strict=True)}
