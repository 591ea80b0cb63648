"""The id rule itself: what it refuses, what it accepts, and that dbt reads the same rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from recsys import ids
from recsys.pipeline.dbt_runner import contract_vars
from tests.id_cases import API_ONLY_BAD_IDS, BAD_IDS, GOOD_IDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [*BAD_IDS, *API_ONLY_BAD_IDS])
def test_bad_ids_are_refused_with_a_reason(name: str) -> None:
    value = BAD_IDS[name][0] if name in BAD_IDS else API_ONLY_BAD_IDS[name]
    problem = ids.id_problem(value)
    assert problem is not None
    with pytest.raises(ValueError, match=r"^user_id "):
        ids.check_id(value, field="user_id")
    # The published schema (pattern and maxLength) refuses them too, but for the lone
    # surrogate, which no JSON-schema engine can name (see recsys/ids.py).
    if name != "lone surrogate":
        assert len(value) > ids.MAX_ID_LENGTH or re.fullmatch(ids.ID_PATTERN, value) is None


@pytest.mark.parametrize("name", list(GOOD_IDS))
def test_good_ids_pass_the_rule_and_the_pattern(name: str) -> None:
    assert ids.id_problem(GOOD_IDS[name]) is None
    assert re.fullmatch(ids.ID_PATTERN, GOOD_IDS[name]) is not None


def test_dbt_reads_the_same_rule() -> None:
    project = yaml.safe_load((ROOT / "dbt" / "dbt_project.yml").read_text())
    for key, value in ids.dbt_vars().items():
        assert project["vars"][key] == value, key
        assert contract_vars()[key] == value, key
