"""The writer's number format: short, and the float32 the ranker read comes back exactly."""

from __future__ import annotations

import json

import numpy as np

from serving.impression_writer import float32_rows


def test_values_read_back_as_the_same_float32() -> None:
    rng = np.random.default_rng(3)
    rows = np.concatenate(
        [
            rng.normal(0, 1, (50, 40)),
            rng.lognormal(0, 8, (50, 40)),
            -rng.lognormal(0, 8, (50, 40)),
            rng.integers(0, 1000, (50, 40)),
        ]
    ).astype(np.float32)
    rows[0, :5] = [0.0, -0.0, 1e-40, 3.4e38, 1.0000001]  # zero, subnormal, near max
    text = "[" + ",".join(float32_rows(rows)) + "]"
    back = np.asarray(json.loads(text), np.float32)
    assert np.array_equal(back, rows)
    assert len(text) < rows.size * 14  # not 17-digit float64 reprs


def test_missing_values_become_null() -> None:
    rows = np.array([[1.5, np.nan], [np.inf, 2.0]], np.float32)
    assert [json.loads(r) for r in float32_rows(rows)] == [[1.5, None], [None, 2.0]]
