"""Negative sampling of training queries keeps every positive and the head of each list."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from training.dataset import ExampleSet, Window
from training.sampling import sample_candidates


def _examples(sizes: list[int], positives: list[int]) -> ExampleSet:
    """Queries of the given sizes; row value = (query, position in its list)."""
    rows = [(q, pos) for q, size in enumerate(sizes) for pos in range(size)]
    X = np.array(rows, np.float32)
    label = np.array([3 if pos == positives[q] else 0 for q, pos in rows], np.int8)
    return ExampleSet(
        window=Window("train", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
        feature_names=["query", "position"],
        X=X,
        label=label,
        group=np.array(sizes, np.int32),
        candidates=np.arange(len(rows), dtype=np.int32),
        queries=pd.DataFrame({"session": range(len(sizes)), "n_candidates": sizes}),
    )


def test_every_positive_the_head_and_a_sample_of_the_tail_are_kept() -> None:
    sizes, positives = [300, 300, 40, 300], [250, 3, 39, 120]
    examples = _examples(sizes, positives)
    sampled = sample_candidates(examples, top=20, random=30, seed=1)

    # group sizes match the rows, and the queries' own count agrees
    assert sampled.group.sum() == len(sampled.X) == len(sampled.label) == len(sampled.candidates)
    assert sampled.group.tolist() == sampled.queries["n_candidates"].tolist()
    # 20 head + 30 random, plus the positive when it was in neither; short lists untouched
    assert sampled.group[1] == 50 and sampled.group[2] == 40
    assert sampled.group[0] in (50, 51) and sampled.group[3] in (50, 51)
    for q, offset in enumerate(sampled.offsets[:-1]):
        block = sampled.X[offset : offset + sampled.group[q]]
        labels = sampled.label[offset : offset + sampled.group[q]]
        assert (block[:, 0] == q).all()  # rows stay inside their query
        positions = block[:, 1]
        assert np.all(np.diff(positions) > 0)  # original order kept
        assert positives[q] in positions and labels.sum() == 3  # the positive survived
        assert set(range(min(20, sizes[q]))) <= set(positions.tolist())  # the whole head


def test_the_positive_is_kept_even_when_the_draw_misses_it() -> None:
    examples = _examples([300] * 50, [299] * 50)
    sampled = sample_candidates(examples, top=10, random=5, seed=0)
    assert int((sampled.label > 0).sum()) == 50
    last_rows = sampled.offsets[1:] - 1
    assert (sampled.label[last_rows] == 3).all()  # each query's last row is its positive
    assert sampled.group.min() >= 15 and sampled.group.max() <= 16


def test_the_same_seed_draws_the_same_rows() -> None:
    examples = _examples([300, 300], [5, 200])
    first = sample_candidates(examples, top=10, random=20, seed=3)
    again = sample_candidates(examples, top=10, random=20, seed=3)
    other = sample_candidates(examples, top=10, random=20, seed=4)
    np.testing.assert_array_equal(first.X, again.X)
    assert not np.array_equal(first.candidates, other.candidates)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="expected both >= 0"):
        sample_candidates(_examples([10], [0]), top=-1, random=5, seed=0)
