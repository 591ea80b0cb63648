"""`recsys train --param key=value`: typed LightGBM overrides, and a clear error for bad input."""

import pytest
import typer

from training.cli import parse_params, settings_from_options
from training.params import TrainSettings


def test_values_are_typed_like_json() -> None:
    parsed = parse_params(["num_leaves=63", "learning_rate=0.1", "boosting=dart", "x=true"])
    assert parsed == {"num_leaves": 63, "learning_rate": 0.1, "boosting": "dart", "x": True}


def test_a_pair_without_equals_names_the_input() -> None:
    with pytest.raises(typer.BadParameter, match="'num_leaves': expected key=value"):
        parse_params(["num_leaves"])


def test_options_flow_into_the_run_settings() -> None:
    settings = settings_from_options(
        max_train_queries=15_000,
        max_test_queries=None,
        seed=7,
        param=["num_leaves=63", "lambdarank_truncation_level=10"],
        train_keep_top=30,
        train_keep_random=0,
    )
    defaults = TrainSettings()
    assert settings.max_train_queries == 15_000
    assert settings.max_test_queries == defaults.max_test_queries
    assert (settings.train_keep_top, settings.train_keep_random) == (30, 0)
    assert settings.params["num_leaves"] == 63
    assert settings.params["lambdarank_truncation_level"] == 10
    assert settings.params["seed"] == settings.seed == 7
    assert defaults.params["num_leaves"] != 63  # the defaults are not mutated


def test_sampling_defaults_apply_without_options_and_negative_counts_fail() -> None:
    settings = settings_from_options(
        max_train_queries=None,
        max_test_queries=None,
        seed=42,
        param=[],
        train_keep_top=None,
        train_keep_random=None,
    )
    assert settings == TrainSettings()
    with pytest.raises(typer.BadParameter, match="--train-keep-random -1: expected >= 0"):
        settings_from_options(
            max_train_queries=None,
            max_test_queries=None,
            seed=42,
            param=[],
            train_keep_top=None,
            train_keep_random=-1,
        )
