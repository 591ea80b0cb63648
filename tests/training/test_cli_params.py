"""`recsys train --param key=value`: typed LightGBM overrides, and a clear error for bad input."""

import pytest
import typer

from training.cli import parse_params


def test_values_are_typed_like_json() -> None:
    parsed = parse_params(["num_leaves=63", "learning_rate=0.1", "boosting=dart", "x=true"])
    assert parsed == {"num_leaves": 63, "learning_rate": 0.1, "boosting": "dart", "x": True}


def test_a_pair_without_equals_names_the_input() -> None:
    with pytest.raises(typer.BadParameter, match="'num_leaves': expected key=value"):
        parse_params(["num_leaves"])
