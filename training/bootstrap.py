"""Error bars for the ranker and its lift over the best baseline: a paired bootstrap over sessions.

Queries of one session are not independent (same user, same items), so the unit resampled
is the session: each resample draws the test sessions with replacement and scores every
method on the same draw (paired), which cancels the session-to-session variance the methods
share. The lift in a resample is the ranker's metric over the best baseline's *in that
resample*, so picking the best baseline is part of what the interval covers. Intervals are
the 2.5th and 97.5th percentiles (95%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.evaluate import METRICS, MethodResult, per_query

RESAMPLES = 1000
_CHUNK = 100  # resamples drawn at once: bounds memory at _CHUNK x sessions weights


def verdict(low: float, high: float) -> str:
    """Read a lift interval: ahead, behind, or within noise of the best baseline."""
    if low > 0:
        return "ahead"
    if high < 0:
        return "behind"
    return "within noise"


def lift_intervals(
    results: list[MethodResult],
    sessions: np.ndarray,
    mask: np.ndarray,
    *,
    model: str = "ranker",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """The model's metrics and its lift over the best baseline, each with a 95% interval.

    Args:
        results: Per-query ranks of the model and of every baseline, on the same queries.
        sessions: Session of each query (any hashable ids, one per query).
        mask: The queries to count (one query set).
        model: Name of the method to compare; every other result is a baseline.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling, so a run's intervals can be reproduced.

    Returns:
        One row per metric: the model's value and interval, the best baseline (on all the
        queries) with its value, the lift with its interval, and the verdict.
    """
    _, session_of = np.unique(np.asarray(sessions)[mask], return_inverse=True)
    n = int(session_of.max()) + 1 if len(session_of) else 0
    names = [r.name for r in results]
    baselines = [name for name in names if name != model]
    if n == 0 or model not in names or not baselines:
        return pd.DataFrame(columns=_COLUMNS)
    per_session = np.bincount(session_of, minlength=n).astype(np.float64)
    # totals[method][metric]: per-session sums of the per-query values
    totals = {
        r.name: {
            m: np.bincount(session_of, weights=v, minlength=n)
            for m, v in per_query(r.ranks[mask]).items()
        }
        for r in results
    }
    drawn: dict[str, dict[str, list[np.ndarray]]] = {
        name: {m: [] for m in METRICS} for name in names
    }
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        queries = weights @ per_session
        for name in names:
            for m in METRICS:
                drawn[name][m].append(weights @ totals[name][m] / queries)
    rows = []
    for m in METRICS:
        point = {name: float(totals[name][m].sum() / per_session.sum()) for name in names}
        boot = {name: np.concatenate(drawn[name][m]) for name in names}
        best = max(baselines, key=lambda name: point[name])
        best_boot = np.max([boot[name] for name in baselines], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lifts = np.where(best_boot > 0, boot[model] / best_boot - 1.0, np.nan)
        value_low, value_high = _interval(boot[model])
        lift_low, lift_high = _interval(lifts)
        lift = point[model] / point[best] - 1.0 if point[best] > 0 else float("nan")
        rows.append(
            {
                "metric": m,
                model: point[model],
                "ci95_low": value_low,
                "ci95_high": value_high,
                "best_baseline": best,
                "best_baseline_value": point[best],
                "lift": lift,
                "lift_ci95_low": lift_low,
                "lift_ci95_high": lift_high,
                "verdict": verdict(lift_low, lift_high),
            }
        )
    return pd.DataFrame(rows).rename(columns={model: "value"})


_COLUMNS = [
    "metric",
    "value",
    "ci95_low",
    "ci95_high",
    "best_baseline",
    "best_baseline_value",
    "lift",
    "lift_ci95_low",
    "lift_ci95_high",
    "verdict",
]


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)
