"""One evaluation protocol for the ranker and every baseline.

Protocol: next-item prediction at every position of the test window's sessions (a query
knows the first k >= 1 events of its session and must rank the (k+1)-th event's item), over
the full catalogue (an item outside a method's list counts as a miss; no sampled negatives).
Per query we record the 1-based rank of the true next item (0 = not in the top 20) and
report HR@10, HR@20, MRR@20, NDCG@10, NDCG@20, plus catalogue coverage of the top-20 lists.
Slices: cold-start users (no history before the session) and session-length buckets.
Session-start queries (k = 0: predict the first item from the user's history alone) are a
separate slice, since most published protocols leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.ranking.catalog import Catalog
from recsys.ranking.recommend import top_k
from training.baselines import BASELINES
from training.dataset import ExampleSet, SessionLog

CUTOFF = 20
METRICS = ["HR@10", "HR@20", "MRR@20", "NDCG@10", "NDCG@20"]
LENGTH_BUCKETS = [(1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 9, "5-9"), (10, 10**9, "10+")]


@dataclass
class MethodResult:
    """Per-query ranks of one method and its recommended lists."""

    name: str
    ranks: np.ndarray  # int32 1-based rank of the true next item in the top 20, 0 = miss
    top_lists: list[np.ndarray]


def metrics(ranks: np.ndarray) -> dict[str, float]:
    """HR / MRR / NDCG at 10 and 20 from 1-based ranks (0 = miss)."""
    if len(ranks) == 0:
        return {m: float("nan") for m in METRICS}
    hit = ranks > 0
    safe = np.where(hit, ranks, 1).astype(np.float64)
    rr = np.where(hit, 1.0 / safe, 0.0)
    gain = np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0)
    return {
        "HR@10": float(np.mean(hit & (ranks <= 10))),
        "HR@20": float(np.mean(hit & (ranks <= 20))),
        "MRR@20": float(np.mean(rr)),
        "NDCG@10": float(np.mean(np.where(ranks <= 10, gain, 0.0))),
        "NDCG@20": float(np.mean(gain)),
    }


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


def baseline_results(examples: ExampleSet, log: SessionLog, catalog: Catalog) -> list[MethodResult]:
    """Run every baseline over the same queries."""
    queries = examples.queries
    sessions = queries["session"].to_numpy()
    prefix = queries["prefix_len"].to_numpy()
    targets = queries["target"].to_numpy()
    out = []
    for name, baseline in BASELINES.items():
        ranks = np.zeros(len(queries), np.int32)
        tops = []
        for q in range(len(queries)):
            top = baseline(catalog, log.prefix(int(sessions[q]), int(prefix[q])), CUTOFF)
            tops.append(top)
            ranks[q] = rank_in(top, int(targets[q]))
        out.append(MethodResult(name, ranks, tops))
    return out


def candidate_recall(
    examples: ExampleSet, sizes: tuple[int, ...] = (50, 100, 300)
) -> dict[str, float]:
    """Share of queries whose true next item is among the first N candidates (prescore order)."""
    offsets = examples.offsets
    targets = examples.queries["target"].to_numpy()
    found = np.full(len(targets), np.iinfo(np.int64).max)
    for q in range(len(targets)):
        cands = examples.candidates[offsets[q] : offsets[q + 1]]
        pos = np.flatnonzero(cands == targets[q])
        if len(pos):
            found[q] = pos[0] + 1
    return {
        f"recall@{n}": float(np.mean(found <= n)) if len(found) else float("nan") for n in sizes
    }


def report_tables(
    results: list[MethodResult], examples: ExampleSet, catalog: Catalog
) -> dict[str, pd.DataFrame]:
    """Overall metrics per method, plus the cold-start, length and session-start slices."""
    queries = examples.queries
    in_session = queries["prefix_len"].to_numpy() >= 1
    known = queries["user_is_known"].to_numpy()
    prefix = queries["prefix_len"].to_numpy()
    recommendable = max(int(catalog.known.sum()), 1)

    overall, slices, lengths = [], [], []
    for r in results:
        row = {"method": r.name, "queries": int(in_session.sum()), **metrics(r.ranks[in_session])}
        listed = [t for t, keep in zip(r.top_lists, in_session, strict=True) if keep]
        row["coverage"] = len(np.unique(np.concatenate(listed))) / recommendable if listed else 0.0
        overall.append(row)
        for label, mask in (
            ("cold-start users", in_session & ~known),
            ("returning users", in_session & known),
            ("session start (k=0)", prefix == 0),
        ):
            slices.append(
                {
                    "method": r.name,
                    "slice": label,
                    "queries": int(mask.sum()),
                    **metrics(r.ranks[mask]),
                }
            )
        for lo, hi, label in LENGTH_BUCKETS:
            mask = in_session & (prefix >= lo) & (prefix <= hi)
            lengths.append(
                {
                    "method": r.name,
                    "session_length": label,
                    "queries": int(mask.sum()),
                    **metrics(r.ranks[mask]),
                }
            )
    return {
        "overall": pd.DataFrame(overall),
        "slices": pd.DataFrame(slices),
        "by_length": pd.DataFrame(lengths),
    }


def lift(overall: pd.DataFrame, *, model: str = "ranker") -> dict[str, float]:
    """Relative gain of `model` over the best baseline per metric (0.05 = 5% better)."""
    ranker = overall[overall["method"] == model].iloc[0]
    others = overall[overall["method"] != model]
    out = {}
    for m in METRICS:
        best = float(others[m].max()) if len(others) else float("nan")
        out[m] = float(ranker[m]) / best - 1.0 if best > 0 else float("nan")
    return out
