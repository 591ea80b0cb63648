"""The writer's line format: exactly the documented record, short numbers, exact float32."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from prometheus_client import Histogram

from recsys.monitoring.impressions import build_record, dumps, problems
from serving.impression_writer import line
from serving.impressions import Shown
from serving.metrics import observe_all


def _line_of(rows: np.ndarray | None, count: int) -> str:
    """The line of an answer showing `count` items with these vectors (None: no vectors)."""
    return line(
        _shown(
            item_ids=[f"i{i}" for i in range(count)],
            scores=[0.5] * count,
            feature_names=None if rows is None else [f"f{j}" for j in range(rows.shape[1])],
            features=rows,
        )
    )


def _vectors(rows: np.ndarray) -> list[list[float | None]]:
    return [r["values"] for r in json.loads(_line_of(rows, len(rows)))["features"]["rows"]]


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
    back = np.asarray(_vectors(rows), np.float32)
    assert np.array_equal(back, rows)
    added = len(_line_of(rows, len(rows))) - len(_line_of(None, len(rows)))
    assert added < rows.size * 14  # shortest float32 digits, not 17-digit float64 reprs


def test_missing_values_become_null() -> None:
    rows = np.array([[1.5, np.nan], [np.inf, 2.0]], np.float32)
    assert _vectors(rows) == [[1.5, None], [None, 2.0]]


def _shown(**overrides: Any) -> Shown:
    values: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "served_at": 1_765_000_000.123456,
        "user_id": 'u "quoted" \\ ü',
        "session_id": "s1",
        "session_key": "k",
        "model_version": "v1",
        "degraded": False,
        "reason": None,
        "k": 3,
        "candidate_count": 120,
        "timings_ms": {"candidates": 1.25, "total": 3.0000001},
        "item_ids": ["a", "b\u2028", "ç"],
        "scores": [1.5, -0.1234567891234, 0.0],
        "feature_names": ["x", "y"],
        "features": np.array([[1.0, np.nan], [2.5, 3.0], [0.1, -7.0]], np.float32),
    }
    values.update(overrides)
    return Shown(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"features": None, "feature_names": None},
        {"session_id": None, "model_version": None, "degraded": True, "reason": "redis down"},
        {"item_ids": [], "scores": [], "features": None, "k": 0, "timings_ms": {}},
        {"features": np.array([[1.0, 2.0]], np.float32)},  # top N: fewer vectors than items
        {"arm": "challenger"},  # an experiment runs: the arm key after model_version
    ],
)
def test_a_line_is_exactly_the_format_of_build_record(overrides: dict[str, Any]) -> None:
    shown = _shown(**overrides)
    rows: list[list[float]] = (
        [] if shown.features is None else shown.features.astype(np.float64).tolist()  # type: ignore[assignment]
    )
    expected = build_record(
        request_id=shown.request_id,
        served_at=datetime.fromtimestamp(shown.served_at, UTC),
        user_id=shown.user_id,
        session_id=shown.session_id,
        model_version=shown.model_version,
        degraded=shown.degraded,
        reason=shown.reason,
        k=shown.k,
        candidate_count=shown.candidate_count,
        timings_ms=shown.timings_ms,
        items=list(zip(shown.item_ids, shown.scores, strict=True)),
        feature_names=shown.feature_names or [],
        feature_rows=rows,
        arm=shown.arm,
    )
    written = line(shown)
    assert _float32(json.loads(written)) == _float32(json.loads(dumps(expected)))
    assert list(json.loads(written)) == list(expected)  # the keys in the documented order
    if shown.features is None:
        assert json.loads(written) == json.loads(dumps(expected))  # exact where no float32
    assert written.splitlines() == [written]  # "b\u2028" is escaped: one line stays one line
    assert problems(json.loads(written)) == []


def _float32(record: dict[str, Any]) -> dict[str, Any]:
    """Vector values as the float32 the ranker read (the line writes 9 significant digits)."""
    for row in record["features"]["rows"]:
        row["values"] = [None if v is None else float(np.float32(v)) for v in row["values"]]
    return record


def test_a_score_json_refuses_is_refused_as_before() -> None:
    with pytest.raises(ValueError):
        line(_shown(scores=[1.0, float("nan"), 2.0]))


def test_observe_all_counts_as_observing_one_by_one() -> None:
    bounds = (-1.0, 0.0, 0.5, 2.0)
    one = Histogram("test_one_by_one", "t", buckets=bounds, registry=None)
    bulk = Histogram("test_bulk", "t", buckets=bounds, registry=None)
    values = [-3.0, -1.0, -0.5, 0.0, 0.0, 0.25, 0.5, 1.0, 2.0, 2.5, 99.0]
    for value in values:
        one.observe(value)
    observe_all(bulk, values)
    assert [b.get() for b in bulk._buckets] == [b.get() for b in one._buckets]
    assert [b.get() for b in one._buckets] == [2, 3, 2, 2, 2]  # the test itself can fail
    assert bulk._sum.get() == pytest.approx(one._sum.get())
