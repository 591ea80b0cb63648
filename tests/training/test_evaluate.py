import numpy as np
import pytest

from training.evaluate import metrics, rank_in


def test_metrics_on_known_ranks() -> None:
    ranks = np.array([1, 2, 11, 0])  # 0 = not in the top 20
    m = metrics(ranks)
    assert m["HR@10"] == pytest.approx(2 / 4)
    assert m["HR@20"] == pytest.approx(3 / 4)
    assert m["MRR@20"] == pytest.approx((1 + 1 / 2 + 1 / 11) / 4)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / np.log2(3)) / 4)
    assert m["NDCG@20"] == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(12)) / 4)


def test_rank_in_is_one_based_and_zero_when_absent() -> None:
    top = np.array([7, 3, 9])
    assert rank_in(top, 3) == 2
    assert rank_in(top, 4) == 0
    assert rank_in(top, -1) == 0
