"""Champion/challenger assignment and the experiment's statistics, on made-up requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys import experiment_stats, experiments
from recsys.experiments import CHALLENGER, CHAMPION


def test_assignment_is_deterministic_close_to_the_share_and_reshuffled_by_a_new_salt() -> None:
    users = [f"u{i}" for i in range(20_000)]
    first = [experiments.arm_of(u, salt="a", share=0.1) for u in users]
    assert first == [experiments.arm_of(u, salt="a", share=0.1) for u in users]
    share = first.count(CHALLENGER) / len(users)
    assert 0.09 < share < 0.11
    other = [experiments.arm_of(u, salt="b", share=0.1) for u in users]
    both = sum(a == b == CHALLENGER for a, b in zip(first, other, strict=True)) / len(users)
    assert both < 0.02  # independent splits overlap on about 1% of users, not 10%
    # growing the share only moves champions to the challenger, never back
    wider = [experiments.arm_of(u, salt="a", share=0.3) for u in users]
    assert all(w == CHALLENGER for f, w in zip(first, wider, strict=True) if f == CHALLENGER)


def test_the_registry_file_starts_ends_and_explains_a_broken_one(tmp_path: Path) -> None:
    assert experiments.read_challenge(tmp_path) is None
    started = experiments.start_challenge(tmp_path, "v2", share=0.25, salt="s")
    assert experiments.read_challenge(tmp_path) == started
    with pytest.raises(ValueError, match="between 0 and 1"):
        experiments.start_challenge(tmp_path, "v2", share=1.5)
    assert experiments.end_challenge(tmp_path) == started
    assert experiments.read_challenge(tmp_path) is None
    assert experiments.read_challenge(tmp_path, ended=True) == started
    (tmp_path / experiments.CHALLENGE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"challenger\.json.*end-challenge"):
        experiments.read_challenge(tmp_path)


def _requests(ctr: dict[str, float], users: int, per_user: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"u{i}" for i in range(users)], per_user).astype(object)
    arms = np.array([experiments.arm_of(u, salt="x", share=0.5) for u in ids], dtype=object)
    p = np.where(arms == CHALLENGER, ctr[CHALLENGER], ctr[CHAMPION])
    clicked = rng.random(len(ids)) < p
    return experiment_stats.Requests(
        users=ids,
        arms=arms,
        clicked=clicked,
        converted=clicked & (rng.random(len(ids)) < 0.2),
        reciprocal_rank=np.where(clicked, 1.0 / rng.integers(1, 11, len(ids)), 0.0),
    )


def test_a_clearly_worse_challenger_is_called_worse() -> None:
    doc = experiment_stats.report(_requests({CHAMPION: 0.4, CHALLENGER: 0.2}, 400, 5))
    assert doc["verdict"].startswith("worse")
    assert doc["users_still_needed"] == 0
    champion, challenger = doc["arms"][CHAMPION], doc["arms"][CHALLENGER]
    assert champion["impressions"] + challenger["impressions"] == 2000
    for figures in (champion, challenger):
        low, high = figures["ctr"]["ci95"]
        assert low <= figures["ctr"]["value"] <= high
    assert doc["difference"]["ctr"]["ci95"][1] < 0


def _steady(users: int, *, challenger_skips_every: int) -> experiment_stats.Requests:
    """Three requests per user, the first clicked; every n-th challenger user never clicks."""
    ids = np.repeat([f"u{i}" for i in range(users)], 3).astype(object)
    arms = np.array([experiments.arm_of(u, salt="x", share=0.5) for u in ids], dtype=object)
    clicked = np.tile([True, False, False], users)
    skipped = [u for u in dict.fromkeys(ids[arms == CHALLENGER])][::challenger_skips_every]
    clicked &= ~np.isin(ids, skipped)
    return experiment_stats.Requests(
        users=ids,
        arms=arms,
        clicked=clicked,
        converted=np.zeros(len(ids), bool),
        reciprocal_rank=clicked.astype(np.float64),
    )


def test_a_small_difference_is_not_yet_significant_and_says_how_many_users_are_missing() -> None:
    doc = experiment_stats.report(_steady(40, challenger_skips_every=10))
    assert doc["difference"]["ctr"]["value"] < 0
    low, high = doc["difference"]["ctr"]["ci95"]
    assert low < 0 <= high
    assert doc["verdict"].startswith("not yet significant: about")
    needed = doc["users_still_needed"]
    assert needed > 0 and f"{needed:,} more users" in doc["verdict"]
    # with that many more users the same difference is beyond noise
    bigger = experiment_stats.report(_steady(40 + needed * 2, challenger_skips_every=10))
    assert bigger["verdict"].startswith("worse")


def test_an_arm_without_requests_gets_no_verdict() -> None:
    doc = experiment_stats.report(
        experiment_stats.Requests(
            users=np.array(["a", "b"], dtype=object),
            arms=np.array([CHAMPION, CHAMPION], dtype=object),
            clicked=np.array([True, False]),
            converted=np.array([False, False]),
            reciprocal_rank=np.array([1.0, 0.0]),
        ),
        resamples=50,
    )
    assert doc["verdict"] == "not yet significant: an arm has no requests yet"
    assert doc["arms"][CHALLENGER]["impressions"] == 0
