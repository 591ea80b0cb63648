"""Per-arm figures of a champion/challenger experiment, their intervals, and a plain verdict.

The unit of randomisation is the user (recsys/experiments.py), and one user's requests are
not independent, so intervals come from a bootstrap over users: each resample draws each
arm's users with replacement and recomputes the arm's ratio (clicked requests / requests,
...). The arms hold disjoint users, so they are resampled independently. Intervals are the
2.5th and 97.5th percentiles (95%).

Verdict on the primary metric's difference (challenger - champion): better when the whole
interval is above 0, worse when below, otherwise not yet significant, with the users still
needed for the observed difference to be significant at 95% with 80% power (the interval's
width shrinks with the square root of the users, both arms growing in proportion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.experiments import CHALLENGER, CHAMPION

METRICS = ("ctr", "conversion", "mrr_of_clicks")
PRIMARY = "ctr"
RESAMPLES = 1000
_Z_ALPHA, _Z_POWER = 1.959964, 0.841621  # two-sided 95%, 80% power


@dataclass(frozen=True)
class Requests:
    """One entry per answered request of the experiment."""

    users: np.ndarray  # object: user id
    arms: np.ndarray  # object: CHAMPION / CHALLENGER
    clicked: np.ndarray  # bool: an item of the answer was clicked
    converted: np.ndarray  # bool: an item of the answer was carted or bought
    reciprocal_rank: np.ndarray  # float: 1 / rank of the first clicked item, 0 without a click


def report(
    requests: Requests, *, primary: str = PRIMARY, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Figures per arm with 95% intervals, the difference, the verdict and users still needed."""
    if primary not in METRICS:
        raise ValueError(f"primary metric {primary!r}: expected one of {', '.join(METRICS)}")
    rng = np.random.default_rng(seed)
    values = {
        "ctr": requests.clicked.astype(np.float64),
        "conversion": requests.converted.astype(np.float64),
        "mrr_of_clicks": requests.reciprocal_rank.astype(np.float64),
    }
    arms: dict[str, Any] = {}
    draws: dict[str, dict[str, np.ndarray]] = {}
    for arm in (CHAMPION, CHALLENGER):
        mask = requests.arms == arm
        _, user_of = np.unique(requests.users[mask], return_inverse=True)
        n_users = int(user_of.max()) + 1 if mask.any() else 0
        counts = np.bincount(user_of, minlength=n_users).astype(np.float64)
        figures: dict[str, Any] = {"users": n_users, "impressions": int(mask.sum())}
        draws[arm] = {}
        weights = (
            rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=resamples).astype(
                np.float64
            )
            if n_users
            else np.zeros((resamples, 0))
        )
        shown = weights @ counts
        for name, per_request in values.items():
            sums = np.bincount(user_of, weights=per_request[mask], minlength=n_users)
            point = float(sums.sum() / counts.sum()) if n_users else float("nan")
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = weights @ sums / shown
            draws[arm][name] = boot
            figures[name] = {"value": point, "ci95": _interval(boot)}
        figures["clicks"] = int(requests.clicked[mask].sum())
        arms[arm] = figures
    differences = {}
    for name in METRICS:
        diff = draws[CHALLENGER][name] - draws[CHAMPION][name]
        point = arms[CHALLENGER][name]["value"] - arms[CHAMPION][name]["value"]
        differences[name] = {"value": point, "ci95": _interval(diff)}
    verdict, needed = _verdict(differences[primary], draws, primary, arms)
    return {
        "unit": "user (bootstrap over users, arms resampled independently)",
        "resamples": resamples,
        "arms": arms,
        "difference": differences,
        "primary_metric": primary,
        "verdict": verdict,
        "users_still_needed": needed,
    }


def _verdict(
    difference: dict[str, Any],
    draws: dict[str, dict[str, np.ndarray]],
    primary: str,
    arms: dict[str, Any],
) -> tuple[str, int | None]:
    low, high = difference["ci95"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not yet significant: an arm has no requests yet", None
    if low > 0:
        return f"better: the challenger's {primary} is higher beyond noise", 0
    if high < 0:
        return f"worse: the challenger's {primary} is lower beyond noise", 0
    observed = abs(difference["value"])
    if observed == 0:
        return "not yet significant: no difference observed so far", None
    se = float(np.nanstd(draws[CHALLENGER][primary] - draws[CHAMPION][primary]))
    needed_se = observed / (_Z_ALPHA + _Z_POWER)
    users = arms[CHAMPION]["users"] + arms[CHALLENGER]["users"]
    more = max(0, int(np.ceil(users * ((se / needed_se) ** 2 - 1))))
    return (
        f"not yet significant: about {more:,} more users would show a {primary} difference "
        f"of {difference['value']:+.4f} (95%, 80% power)",
        more,
    )


def _interval(values: np.ndarray) -> list[float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return [float("nan"), float("nan")]
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]
