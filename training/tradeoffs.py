"""Quality of the batch / online / hybrid variants through the evaluation protocol.

Same queries as `training/evaluate.py` (next item at every position k >= 1 of the test
window's sessions, full catalogue, an item outside the list is a miss), answered the way each
variant would answer them in production:

- batch only: the user's nightly batch list (no session signal); a user without one gets the
  popular items, as the server's fallback does;
- online: `recsys.ranking.recommend`, the server's request path, with the session so far;
- hybrid, batch list as candidate source: the same with the batch list passed as `include`
  (what the server does today, the reference every other variant is compared with);
- hybrid, batch list re-ranked: only the batch list's items, ordered by the ranker with the
  session's features (the cheap hybrid);
- stale features: the hybrid reference with user / item features, the batch list and the
  catalog (co-visitation, popularity, past sessions) as of N days before;
- delayed session: the hybrid reference seeing only the session events older than N seconds.

The batch lists themselves come from the caller (ops/tradeoffs.py runs the batch job's own
scorer); here they are looked up per (user, day they were computed for).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.ranking.candidates import CandidateConfig
from recsys.ranking.catalog import Catalog
from recsys.ranking.loading import load_catalog, snapshot_time
from recsys.ranking.recommend import Moment, Scorer, candidates, features, recommend, top_k
from recsys.ranking.session import SessionArrays
from recsys.ranking.users import average_price, user_context
from recsys.ranking.vectors import FeatureLayout
from training.dataset import (
    SECONDS_PER_DAY,
    FeatureFetcher,
    Queries,
    SessionLog,
    Window,
    _rows_by_key,
    load_session_log,
    load_windows,
    select_queries,
)
from training.evaluate import CUTOFF, MethodResult, rank_in

SNAPSHOTS = ("test", "valid", "train")  # catalogs the warehouse keeps, newest first
BATCH_ONLY = "batch only"
ONLINE = "online, in-session"
HYBRID = "hybrid: batch list as candidates (default)"
RERANK = "hybrid: batch list re-ranked by the session"

# (user id, the query's UTC day start in epoch seconds) -> the batch list the user has that
# day (computed from that feature age's inputs), catalog indices, best first
BatchLists = Mapping[tuple[str, int], np.ndarray]


@dataclass(frozen=True)
class Variant:
    """One way of answering: which list, and how old the inputs are."""

    name: str
    mode: str  # "batch", "online", "hybrid" or "rerank"
    feature_age_days: int = 0  # user/item features, batch list and catalog this much older
    session_delay_s: float = 0.0  # session events younger than this are not known yet
    group: str = "variant"  # "variant", "staleness" or "delay": where the report plots it


def standard_variants(
    stale_days: tuple[int, ...] = (1, 3, 7, 14), delays_s: tuple[float, ...] = (60, 300, 1800)
) -> list[Variant]:
    """The variants of the report, the reference (HYBRID) first."""
    out = [
        Variant(HYBRID, "hybrid"),
        Variant(BATCH_ONLY, "batch"),
        Variant(ONLINE, "online"),
        Variant(RERANK, "rerank"),
    ]
    out += [
        Variant(f"features {d} d stale", "hybrid", feature_age_days=d, group="staleness")
        for d in stale_days
    ]
    out += [
        Variant(f"session {_duration(s)} late", "hybrid", session_delay_s=s, group="delay")
        for s in delays_s
    ]
    return out


@dataclass
class Inputs:
    """What one feature age sees: its catalog and the users' rows of that day."""

    age_days: int
    catalog: Catalog
    catalog_age_days: float  # how much older than the test snapshot the catalog really is
    log: SessionLog  # the test sessions in this catalog's item indices
    user_rows: dict[tuple[str, int], dict | None]  # (user, day) -> row; day = query day
    feature_day: dict[int, int]  # query day -> the day whose rows it sees


@dataclass
class TestSet:
    """The test window's queries and, per feature age, what the variants read."""

    window: Window
    queries: Queries
    user_ids: np.ndarray  # per query
    days: np.ndarray  # per query: UTC day start of the query, epoch seconds
    inputs: dict[int, Inputs] = field(default_factory=dict)

    @property
    def base(self) -> Inputs:
        return self.inputs[0]


@dataclass
class VariantRun:
    """A variant's per-query ranks, lists and cost of answering."""

    variant: Variant
    result: MethodResult
    cpu_s: float  # process CPU seconds spent answering every query
    latency_ms: np.ndarray  # wall milliseconds per query (answer computed in this process)
    with_batch_list: int  # queries whose user had a batch list at this feature age


def load_test_set(
    exports: Path,
    *,
    layout: FeatureLayout,
    fetch: FeatureFetcher,
    max_queries: int,
    ages: tuple[int, ...],
    seed: int,
    log_line: Callable[[str], None] = print,
) -> TestSet:
    """Queries of the test window plus one catalog and one set of user rows per feature age."""
    window = load_windows(exports)["test"]
    items = list(layout.item_features)
    test_catalog = load_catalog(exports, snapshot="test", item_feature_names=items)
    log = load_session_log(exports, window, test_catalog)
    queries = select_queries(
        log,
        window,
        max_queries=max_queries,
        max_positions_per_session=None,
        include_session_start=False,
        seed=seed,
    )
    days = (np.floor(queries.time_s / SECONDS_PER_DAY) * SECONDS_PER_DAY).astype(np.int64)
    users = log.user_ids[queries.session].astype(object)
    test_set = TestSet(window, queries, users, days)
    taken = {name: snapshot_time(exports, name) for name in SNAPSHOTS}
    for age in sorted({0, *ages}):
        wanted = taken["test"] - timedelta(days=age)
        # the newest catalog at least `age` days old; the oldest when none is old enough
        name = next((n for n in SNAPSHOTS if taken[n] <= wanted), SNAPSHOTS[-1])
        catalog = load_catalog(
            exports, snapshot=name, item_feature_names=items, features_as_of=wanted
        )
        shift = age * SECONDS_PER_DAY
        feature_day = {int(d): int(d) - shift for d in np.unique(days)}
        rows = _user_rows(fetch, users, np.array([feature_day[int(d)] for d in days]))
        test_set.inputs[age] = Inputs(
            age_days=age,
            catalog=catalog,
            catalog_age_days=(taken["test"] - taken[name]).total_seconds() / SECONDS_PER_DAY,
            log=replace(log, items=catalog.indices_of(log.item_ids)),
            user_rows={
                (str(u), int(d)): rows.get((str(u), feature_day[int(d)]))
                for u, d in zip(users, days, strict=True)
            },
            feature_day=feature_day,
        )
        log_line(
            f"  features {age:>2} d older: catalog {name!r} "
            f"({test_set.inputs[age].catalog_age_days:.1f} d older than the test snapshot), "
            f"{sum(r is not None for r in test_set.inputs[age].user_rows.values()):,} of "
            f"{len(test_set.inputs[age].user_rows):,} (user, day) rows found"
        )
    return test_set


def _user_rows(
    fetch: FeatureFetcher, users: np.ndarray, days: np.ndarray
) -> dict[tuple[str, int], dict]:
    frame = pd.DataFrame({"key": users.astype(str), "day": days}).drop_duplicates()
    table = fetch("user", frame["key"].to_numpy(object), frame["day"].to_numpy())
    return {(str(k), int(d)): row for (k, d), row in _rows_by_key(table, "user_id").items()}


def batch_requests(test_set: TestSet, age: int) -> pd.DataFrame:
    """The user rows a nightly batch job at feature age `age` scores (one per user and day).

    `user_id` is "<user>|<day>" so the caller can file each list under its (user, day); users
    without a row (unknown to the batch side) are left out, as the batch job leaves them out.
    """
    inputs = test_set.inputs[age]
    records = []
    for (user, day), row in inputs.user_rows.items():
        if row is not None:
            records.append({**row, "user_id": f"{user}|{day}"})
    return pd.DataFrame(records)


def evaluate_variant(
    test_set: TestSet,
    variant: Variant,
    *,
    scorer: Scorer,
    batch_lists: BatchLists,
    candidates_n: int = 300,
) -> VariantRun:
    """Answer every query as `variant` would; time each answer (CPU and wall)."""
    inputs = test_set.inputs[variant.feature_age_days]
    catalog, log, queries = inputs.catalog, inputs.log, test_set.queries
    config = CandidateConfig(n=candidates_n)
    only_batch = CandidateConfig(n=0)  # generate() then keeps the `include` items alone
    ranks = np.zeros(len(queries), np.int32)
    tops: list[np.ndarray] = []
    latency = np.zeros(len(queries))
    cpu = 0.0
    found = 0
    for q in range(len(queries)):
        user, day = str(test_set.user_ids[q]), int(test_set.days[q])
        row = inputs.user_rows.get((user, day))
        batch = batch_lists.get((user, day))
        found += batch is not None
        session = _known_session(log, queries, q, variant.session_delay_s)
        now_s = float(session.times_s[-1]) if len(session) else float(queries.time_s[q])
        c0, w0 = time.process_time(), time.perf_counter()
        if variant.mode == "batch" or (variant.mode == "rerank" and batch is None):
            top = batch[:CUTOFF] if batch is not None else catalog.popular[:CUTOFF]
        else:
            moment = Moment(
                session=session,
                user=user_context(row, catalog, scorer.layout.user_features),
                user_avg_price=average_price(row),
                now_s=now_s,
            )
            if variant.mode == "rerank":
                top = _rerank(scorer, catalog, moment, only_batch, batch)  # type: ignore[arg-type]
            else:
                include = batch if variant.mode == "hybrid" else None
                top = recommend(
                    scorer, catalog, moment, k=CUTOFF, config=config, include=include
                ).items
        cpu += time.process_time() - c0
        latency[q] = (time.perf_counter() - w0) * 1000
        tops.append(top)
        ranks[q] = rank_in(top, int(log.items[_target_position(log, queries, q)]))
    return VariantRun(variant, MethodResult(variant.name, ranks, tops), cpu, latency, found)


def _rerank(
    scorer: Scorer, catalog: Catalog, moment: Moment, config: CandidateConfig, batch: np.ndarray
) -> np.ndarray:
    """The batch list's items ordered by the ranker: the server's features, no other items."""
    cands = candidates(catalog, moment, config=config, include=batch)
    if len(cands) == 0:
        return np.zeros(0, np.int32)
    X = features(scorer.layout, catalog, cands, moment)[:, scorer.columns]
    scores = scorer.ranker.score(X)
    return cands.items[top_k(scores, cands.items, CUTOFF)]


def _known_session(log: SessionLog, queries: Queries, q: int, delay_s: float) -> SessionArrays:
    """The session's first k events, minus those younger than `delay_s` at the query time."""
    session, k = int(queries.session[q]), int(queries.prefix_len[q])
    if delay_s > 0:
        start = log.offsets[session]
        times = log.times_s[start : start + k]
        k = int(np.searchsorted(times, queries.time_s[q] - delay_s, side="right"))
    return log.prefix(session, k)


def _target_position(log: SessionLog, queries: Queries, q: int) -> int:
    return int(log.offsets[int(queries.session[q])] + int(queries.prefix_len[q]))


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
