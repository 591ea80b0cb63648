"""Reference distributions and PSI on samples whose drift is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.monitoring import drift, reference


def test_same_distribution_is_stable_and_a_shift_breaches() -> None:
    rng = np.random.default_rng(1)
    ref = reference.distribution(rng.normal(size=20_000))
    assert len(ref.shares) == 10
    assert ref.shares == pytest.approx([0.1] * 10, abs=0.01)
    same, _, _ = drift.psi(ref, rng.normal(size=5_000))
    shifted, _, _ = drift.psi(ref, rng.normal(loc=1.0, size=5_000))
    thresholds = drift.Thresholds()
    assert same < 0.02
    assert thresholds.status(same, 5_000) == drift.STABLE
    assert shifted > 0.25
    assert thresholds.status(shifted, 5_000) == drift.ACT
    assert thresholds.status(shifted, 10) == drift.TOO_FEW


def test_missing_values_are_a_bin_of_their_own() -> None:
    rng = np.random.default_rng(2)
    values = rng.uniform(size=10_000)
    values[:2_000] = np.nan
    ref = reference.distribution(values)
    assert ref.missing_share == pytest.approx(0.2)
    served = rng.uniform(size=5_000)  # same values, but nothing missing any more
    value, _, missing = drift.psi(ref, served)
    assert missing == 0.0
    assert value > 0.25


def test_reference_keeps_the_top_rows_by_score_of_each_query() -> None:
    # two queries of 5 candidates; the model's score is the feature itself
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [10.0], [20.0], [30.0], [40.0], [50.0]])
    built = reference.build(
        X=X,
        group=np.array([5, 5]),
        feature_names=["f"],
        predict=lambda rows: rows[:, 0],
        top_k=2,
        bins=2,
    )
    assert built.features["f"].rows == 4  # 4, 5, 40, 50
    assert built.score.edges == [22.5]
    again = reference.Reference.from_dict(json.loads(built.to_json()))
    assert again == built
