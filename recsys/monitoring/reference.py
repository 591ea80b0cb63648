"""Reference distributions of a model's inputs and scores, taken from its training set.

Training stores one `reference.json` per model version (beside `model.txt`): for every feature
and for the model's score, quantile bin edges, the share of rows in each bin and the share of
missing values. Drift (`recsys.monitoring.drift`) bins the served vectors of the impression log
with the same edges and compares the shares (PSI).

Which rows: the server logs the vectors of the items it *shows*, the top of each ranked list,
not of all 300 candidates. The candidates the model ranks low look nothing like the ones it
shows, so a reference over every candidate row would report drift on a perfectly healthy
server. The reference is therefore taken over the top `top_k` rows by model score of each
training query (a seeded sample of at most `max_queries` queries): what the server would have
shown for those queries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILE_NAME = "reference.json"
SCORE = "score"
DEFAULT_BINS = 10
DEFAULT_TOP_K = 20
DEFAULT_MAX_QUERIES = 2_000


@dataclass(frozen=True)
class Distribution:
    """One column's reference: interior bin edges, share per bin (len(edges) + 1), missing share.

    Bin i holds values v with edges[i-1] <= v < edges[i] (np.searchsorted side="right"), so
    a value equal to an edge falls in the bin above it, on both sides of the comparison.
    """

    edges: list[float]
    shares: list[float]
    missing_share: float
    rows: int


@dataclass(frozen=True)
class Reference:
    """Per-feature and score distributions of a model's training set (what it learned on)."""

    features: dict[str, Distribution]
    score: Distribution
    top_k: int
    queries: int
    source: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Reference:
        return cls(
            features={name: Distribution(**value) for name, value in document["features"].items()},
            score=Distribution(**document["score"]),
            top_k=int(document["top_k"]),
            queries=int(document["queries"]),
            source=str(document["source"]),
        )


def distribution(values: np.ndarray, *, bins: int = DEFAULT_BINS) -> Distribution:
    """Quantile bins of the finite values of `values` (NaN/inf count as missing)."""
    values = np.asarray(values, dtype=np.float64)
    present = values[np.isfinite(values)]
    missing = 1.0 - len(present) / len(values) if len(values) else 0.0
    if len(present) == 0:
        return Distribution(edges=[], shares=[1.0], missing_share=missing, rows=len(values))
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    # An edge at the minimum would leave its lower bin empty by construction: drop it.
    edges = edges[edges > present.min()]
    return Distribution(
        edges=[float(edge) for edge in edges],
        shares=bin_shares(present, edges.tolist()),
        missing_share=float(missing),
        rows=len(values),
    )


def bin_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of the finite `values` in each bin of `edges` (all zeros when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    present = values[np.isfinite(values)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="right"),
        minlength=len(edges) + 1,
    )
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def build(
    *,
    X: np.ndarray,
    group: np.ndarray,
    feature_names: Sequence[str],
    predict: Callable[[np.ndarray], Any],
    top_k: int = DEFAULT_TOP_K,
    max_queries: int = DEFAULT_MAX_QUERIES,
    bins: int = DEFAULT_BINS,
    seed: int = 0,
) -> Reference:
    """The reference of a training set: the top `top_k` rows by score of sampled queries.

    Args:
        X: Feature matrix, one row per candidate, queries contiguous.
        group: Candidates per query (LightGBM's group array).
        feature_names: Column names of X.
        predict: The model's scoring function (rows -> scores).
        top_k: Rows per query kept, as the server shows them (its default list length).
        max_queries: Queries sampled (seeded) to bound the scoring cost.
        bins: Quantile bins per column.
        seed: Seed of the query sample.
    """
    offsets = np.concatenate([[0], np.cumsum(group)]).astype(np.int64)
    chosen = np.arange(len(group))
    if len(chosen) > max_queries:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_queries, replace=False))
    rows = (
        np.concatenate([np.arange(offsets[q], offsets[q + 1]) for q in chosen])
        if len(chosen)
        else np.zeros(0, dtype=np.int64)
    )
    sample = X[rows]
    scores = np.asarray(predict(sample), dtype=np.float64)
    keep = []
    start = 0
    for q in chosen:
        size = int(group[q])
        order = np.argsort(-scores[start : start + size], kind="stable")[:top_k]
        keep.append(start + order)
        start += size
    top = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return Reference(
        features={
            name: distribution(sample[top, column], bins=bins)
            for column, name in enumerate(feature_names)
        },
        score=distribution(scores[top], bins=bins),
        top_k=top_k,
        queries=len(chosen),
        source=f"training set: top {top_k} rows by model score of {len(chosen)} queries",
    )


def load(model_dir: Path) -> Reference | None:
    """The reference stored with a model version (None for versions trained before it)."""
    path = model_dir / FILE_NAME
    if not path.exists():
        return None
    return Reference.from_dict(json.loads(path.read_text()))
