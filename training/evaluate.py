"""One evaluation protocol for the ranker and every baseline.

Protocol: next-item prediction at every position of the test window's sessions (a query
knows the first k >= 1 events of its session and must rank the (k+1)-th event's item), over
the full catalogue (an item outside a method's list counts as a miss; no sampled negatives).
Per query we record the 1-based rank of the true next item (0 = not in the top 20) and
report HR@10, HR@20, MRR@20, NDCG@10, NDCG@20, plus catalogue coverage of the top-20 lists.
Slices: cold-start users (no history before the session) and session-length buckets.
Session-start queries (k = 0: predict the first item from the user's history alone) are a
separate query set, since most published protocols leave them out.

Every table row names its query set (`query_set`, see QUERY_SETS) and counts its queries, and
candidate recall is given per query set, so recall@300 sits beside the HR@20 of the same
queries (it bounds it: the ranker only reorders candidates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import top_k
from training.baselines import BASELINES, Baseline
from training.dataset import ExampleSet, SessionLog

CUTOFF = 20
METRICS = ["HR@10", "HR@20", "MRR@20", "NDCG@10", "NDCG@20"]
IN_SESSION = "k>=1"
SESSION_START = "k=0"
QUERY_SETS = {
    IN_SESSION: "next item at every position k>=1 of a test-window session (its first k events "
    "known)",
    SESSION_START: "first item of a test-window session (k=0: only the user's history known)",
}
LENGTH_BUCKETS = [(1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 9, "5-9"), (10, 10**9, "10+")]


@dataclass
class MethodResult:
    """Per-query ranks of one method and its recommended lists."""

    name: str
    ranks: np.ndarray  # int32 1-based rank of the true next item in the top 20, 0 = miss
    top_lists: list[np.ndarray]


def per_query(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric's value per query from 1-based ranks (0 = miss); a metric is their mean."""
    hit = ranks > 0
    safe = np.where(hit, ranks, 1).astype(np.float64)
    gain = np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0)
    return {
        "HR@10": (hit & (ranks <= 10)).astype(np.float64),
        "HR@20": (hit & (ranks <= 20)).astype(np.float64),
        "MRR@20": np.where(hit, 1.0 / safe, 0.0),
        "NDCG@10": np.where(ranks <= 10, gain, 0.0),
        "NDCG@20": gain,
    }


def metrics(ranks: np.ndarray) -> dict[str, float]:
    """HR / MRR / NDCG at 10 and 20 from 1-based ranks (0 = miss); NaN without queries."""
    if len(ranks) == 0:
        return {m: float("nan") for m in METRICS}
    return {m: float(np.mean(values)) for m, values in per_query(ranks).items()}


def query_masks(examples: ExampleSet) -> dict[str, np.ndarray]:
    """Which queries belong to each query set (QUERY_SETS)."""
    prefix = examples.queries["prefix_len"].to_numpy()
    return {IN_SESSION: prefix >= 1, SESSION_START: prefix == 0}


def rank_in(top: np.ndarray, target: int) -> int:
    """1-based position of `target` in `top`, 0 when absent."""
    if target < 0:
        return 0
    hits = np.flatnonzero(top == target)
    return int(hits[0]) + 1 if len(hits) else 0


def ranker_result(
    examples: ExampleSet, scores: np.ndarray, *, name: str = "ranker"
) -> MethodResult:
    """Rank each query's candidates by `scores` and locate the true next item."""
    offsets = examples.offsets
    targets = examples.queries["target"].to_numpy()
    ranks = np.zeros(len(targets), np.int32)
    tops: list[np.ndarray] = []
    for q in range(len(targets)):
        lo, hi = offsets[q], offsets[q + 1]
        items = examples.candidates[lo:hi]
        top = items[top_k(scores[lo:hi], items, CUTOFF)]
        tops.append(top)
        ranks[q] = rank_in(top, int(targets[q]))
    return MethodResult(name, ranks, tops)


def baseline_results(
    examples: ExampleSet,
    log: SessionLog,
    catalog: Catalog,
    extra: dict[str, Baseline] | None = None,
) -> list[MethodResult]:
    """Run every baseline (and the `extra` ones, e.g. the session baselines) over the queries."""
    queries = examples.queries
    sessions = queries["session"].to_numpy()
    prefix = queries["prefix_len"].to_numpy()
    targets = queries["target"].to_numpy()
    out = []
    for name, baseline in {**BASELINES, **(extra or {})}.items():
        ranks = np.zeros(len(queries), np.int32)
        tops = []
        for q in range(len(queries)):
            top = baseline(catalog, log.prefix(int(sessions[q]), int(prefix[q])), CUTOFF)
            tops.append(top)
            ranks[q] = rank_in(top, int(targets[q]))
        out.append(MethodResult(name, ranks, tops))
    return out


def candidate_recall(examples: ExampleSet, sizes: tuple[int, ...] = (50, 100, 300)) -> pd.DataFrame:
    """Share of queries whose true next item is among the first N candidates (prescore order).

    One row per query set, so each recall sits beside the metrics of the same queries.
    """
    offsets = examples.offsets
    targets = examples.queries["target"].to_numpy()
    found = np.full(len(targets), np.iinfo(np.int64).max)
    for q in range(len(targets)):
        cands = examples.candidates[offsets[q] : offsets[q + 1]]
        pos = np.flatnonzero(cands == targets[q])
        if len(pos):
            found[q] = pos[0] + 1
    rows = []
    for query_set, mask in query_masks(examples).items():
        row: dict[str, object] = {"query_set": query_set, "queries": int(mask.sum())}
        for n in sizes:
            row[f"recall@{n}"] = float(np.mean(found[mask] <= n)) if mask.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def report_tables(
    results: list[MethodResult], examples: ExampleSet, catalog: Catalog
) -> dict[str, pd.DataFrame]:
    """Overall metrics per method, plus the cold-start, length and session-start slices."""
    queries = examples.queries
    in_session = queries["prefix_len"].to_numpy() >= 1
    known = queries["user_is_known"].to_numpy()
    prefix = queries["prefix_len"].to_numpy()
    recommendable = max(int(catalog.known.sum()), 1)

    cold = in_session & ~known
    notes = {"cold-start users": _cold_start_note(cold, in_session)}
    overall, slices, lengths = [], [], []
    for r in results:
        row = {
            "method": r.name,
            "query_set": IN_SESSION,
            "queries": int(in_session.sum()),
            **metrics(r.ranks[in_session]),
        }
        listed = [t for t, keep in zip(r.top_lists, in_session, strict=True) if keep]
        nonempty = [t for t in listed if len(t)]
        covered = len(np.unique(np.concatenate(nonempty))) if nonempty else 0
        row["coverage"] = covered / recommendable
        overall.append(row)
        for label, query_set, mask in (
            ("cold-start users", IN_SESSION, cold),
            ("returning users", IN_SESSION, in_session & known),
            ("session start (k=0)", SESSION_START, prefix == 0),
        ):
            slices.append(
                {
                    "method": r.name,
                    "slice": label,
                    "query_set": query_set,
                    "queries": int(mask.sum()),
                    **metrics(r.ranks[mask]),
                    "note": notes.get(label, ""),
                }
            )
        for lo, hi, label in LENGTH_BUCKETS:
            mask = in_session & (prefix >= lo) & (prefix <= hi)
            lengths.append(
                {
                    "method": r.name,
                    "session_length": label,
                    "query_set": IN_SESSION,
                    "queries": int(mask.sum()),
                    **metrics(r.ranks[mask]),
                }
            )
    return {
        "overall": pd.DataFrame(overall),
        "slices": pd.DataFrame(slices),
        "by_length": pd.DataFrame(lengths),
    }


def _cold_start_note(cold: np.ndarray, in_session: np.ndarray) -> str:
    """Say so when the cold-start slice is not a slice (e.g. user ids minted per session)."""
    if in_session.any() and bool(np.all(cold == in_session)):
        return (
            "every k>=1 query: no test user has events before the session (are user ids "
            "minted per session?), so this row repeats the overall one"
        )
    return ""


def lift(overall: pd.DataFrame, *, model: str = "ranker") -> dict[str, float]:
    """Relative gain of `model` over the best baseline per metric (0.05 = 5% better)."""
    ranker = overall[overall["method"] == model].iloc[0]
    others = overall[overall["method"] != model]
    out = {}
    for m in METRICS:
        best = float(others[m].max()) if len(others) else float("nan")
        out[m] = float(ranker[m]) / best - 1.0 if best > 0 else float("nan")
    return out
