"""Drift: how far the vectors and scores the server sees have moved from the training set.

For each model version that answered in the window, the feature vectors and scores it logged
for the items it showed (fct_impressions, ranks up to the reference's top_k, degraded answers
left out) are binned with the edges of the reference stored at training time
(`recsys.monitoring.reference`) and compared by the population stability index:

    PSI = sum over bins of (served share - reference share) * ln(served share / reference share)

with missing values as one more bin, so a feature that starts arriving empty drifts too.
Common practice, and the defaults: PSI < 0.1 stable, 0.1-0.25 watch, > 0.25 act.

Computed with DuckDB and numpy rather than Evidently: the statistics are twenty lines, the
binning must use the edges stored with the model (not re-estimated from the two samples), and
Evidently would add a heavy dependency tree (pandas-profiling style reports, plotly, its own
pinned numpy/scipy ranges) to a project that otherwise has none of it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from recsys.monitoring.reference import Distribution, Reference, bin_shares, load

STABLE, WATCH, ACT, TOO_FEW = "stable", "watch", "act", "too few rows"
# Shares are floored at this before the logarithm: an empty bin on one side stays finite.
EPSILON = 1e-4


@dataclass(frozen=True)
class Thresholds:
    """When drift is worth a look (watch) and when it breaches (act); both configurable."""

    psi_watch: float = 0.1
    psi_act: float = 0.25
    min_rows: int = 100

    def status(self, psi: float, rows: int) -> str:
        if rows < self.min_rows:
            return TOO_FEW
        if psi > self.psi_act:
            return ACT
        if psi >= self.psi_watch:
            return WATCH
        return STABLE


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    psi: float
    status: str
    rows: int
    missing_share: float
    reference_missing_share: float
    served_shares: list[float]
    reference_shares: list[float]
    edges: list[float]


@dataclass
class VersionDrift:
    model_version: str
    reference_source: str | None
    score: ColumnDrift | None = None
    features: list[ColumnDrift] = field(default_factory=list)
    note: str | None = None

    @property
    def breaches(self) -> list[str]:
        columns = ([self.score] if self.score else []) + self.features
        return [column.name for column in columns if column.status == ACT]


def psi(reference: Distribution, values: np.ndarray) -> tuple[float, list[float], float]:
    """PSI of `values` against `reference` (missing as its own bin), served shares, missing."""
    values = np.asarray(values, dtype=np.float64)
    missing = float(np.mean(~np.isfinite(values))) if len(values) else 0.0
    served = bin_shares(values, reference.edges)
    expected = [s * (1 - reference.missing_share) for s in reference.shares]
    expected.append(reference.missing_share)
    actual = [s * (1 - missing) for s in served] + [missing]
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total, served, missing


def column_drift(
    name: str, reference: Distribution, values: np.ndarray, thresholds: Thresholds
) -> ColumnDrift:
    value, served, missing = psi(reference, values)
    return ColumnDrift(
        name=name,
        psi=round(value, 6),
        status=thresholds.status(value, len(values)),
        rows=len(values),
        missing_share=round(missing, 6),
        reference_missing_share=round(reference.missing_share, 6),
        served_shares=[round(s, 6) for s in served],
        reference_shares=[round(s, 6) for s in reference.shares],
        edges=reference.edges,
    )


def served_rows(
    connection: duckdb.DuckDBPyConnection, *, since: datetime
) -> dict[str, list[tuple[Any, ...]]]:
    """Shown items of non-degraded answers since `since`, per model version."""
    rows = connection.execute(
        """
        select
            fct_recommendation_requests.model_version,
            fct_impressions.rank,
            fct_impressions.score,
            fct_recommendation_requests.feature_names,
            fct_impressions.feature_values
        from fct_impressions
        join fct_recommendation_requests using (request_id)
        where fct_impressions.served_at >= ?
            and not fct_impressions.is_degraded
            and fct_recommendation_requests.model_version is not null
        """,
        [since],
    ).fetchall()
    by_version: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_version[row[0]].append(row[1:])
    return dict(by_version)


def version_drift(
    version: str,
    rows: list[tuple[Any, ...]],
    reference: Reference | None,
    thresholds: Thresholds,
) -> VersionDrift:
    """Score and per-feature drift of one model version's served rows."""
    if reference is None:
        return VersionDrift(
            version, None, note="no reference.json in its registry folder (trained before it)"
        )
    shown = [row for row in rows if row[0] <= reference.top_k]
    result = VersionDrift(version, reference.source)
    scores = np.array([row[1] for row in shown], dtype=np.float64)
    result.score = column_drift("score", reference.score, scores, thresholds)
    columns: dict[str, list[float]] = defaultdict(list)
    for _, _, names, values in shown:
        if names and values is not None:
            for name, value in zip(names, values, strict=False):
                columns[name].append(np.nan if value is None else value)
    for name, distribution in reference.features.items():
        values = np.array(columns.get(name, []), dtype=np.float64)
        result.features.append(column_drift(name, distribution, values, thresholds))
    result.features.sort(key=lambda column: -column.psi)
    return result


def compute(
    connection: duckdb.DuckDBPyConnection,
    *,
    models: Path,
    since: datetime,
    thresholds: Thresholds,
) -> list[VersionDrift]:
    """Drift of every model version that answered since `since` (most answers first)."""
    by_version = served_rows(connection, since=since)
    ordered = sorted(by_version, key=lambda version: -len(by_version[version]))
    return [
        version_drift(version, by_version[version], load(models / version), thresholds)
        for version in ordered
    ]
