"""Training prints its rounds as it goes (the demo once trained for minutes in silence)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from training.progress import PhaseClock, count_progress, round_progress


def test_rounds_are_reported_with_the_validation_metric_and_an_eta() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    label = (X[:, 0] > 0).astype(int)
    group = [20] * 20
    train = lgb.Dataset(X, label=label, group=group, params={"verbose": -1})
    valid = lgb.Dataset(X, label=label, group=group, reference=train)
    lines: list[str] = []
    lgb.train(
        {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "verbose": -1},
        train,
        num_boost_round=12,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[round_progress(12, every_s=0.0, log_line=lines.append)],
    )
    assert len(lines) == 12
    assert lines[0].strip().startswith("round    1/12, valid ndcg@10 ")
    assert lines[-1].strip().startswith("round   12/12")
    assert all("s left" in line for line in lines)


def test_a_slow_clock_prints_only_the_first_and_last_rounds() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    train = lgb.Dataset(X, label=(X[:, 1] > 0).astype(int), group=[10] * 20)
    lines: list[str] = []
    lgb.train(
        {"objective": "lambdarank", "verbose": -1},
        train,
        num_boost_round=8,
        callbacks=[round_progress(8, every_s=3600, log_line=lines.append)],
    )
    assert [line.split(",")[0].strip() for line in lines] == ["round    1/8", "round    8/8"]


def test_counts_are_reported_until_the_total() -> None:
    lines: list[str] = []
    progress = count_progress(2_500, "train queries", every_s=3600, log_line=lines.append)
    for step in (1_000, 1_000, 500):
        progress(step)
    # A slow clock prints only the end; the end always prints.
    assert [line.strip() for line in lines] == ["train queries: 2,500/2,500 (100%), 0 s"]


def test_phases_are_announced_timed_and_summed() -> None:
    lines: list[str] = []
    clock = PhaseClock(log_line=lines.append)
    with clock.phase("fit_s", "Fitting the ranker"):
        pass
    with clock.phase("quiet_s"):
        pass
    with clock.phase("fit_s"):  # a phase that runs twice adds up
        pass
    assert lines[0] == "Fitting the ranker ..."
    assert lines[1].startswith("  fitting the ranker: ") and lines[1].endswith(" s")
    assert len(lines) == 2  # untitled phases are timed, not announced
    assert list(clock.seconds) == ["fit_s", "quiet_s"]
    assert clock.breakdown().startswith("fit_s ") and "(total " in clock.breakdown()
