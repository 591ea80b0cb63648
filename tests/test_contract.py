"""The names of recsys/contract.py are the ones dbt, Feast and the server actually use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from recsys import contract
from recsys.config import Settings
from recsys.pipeline.dbt_runner import contract_vars

ROOT = Path(__file__).resolve().parents[1]


def test_dbt_project_defaults_equal_the_contract() -> None:
    project = yaml.safe_load((ROOT / "dbt" / "dbt_project.yml").read_text())
    assert project["vars"]["session_gap_minutes"] == contract.SESSION_GAP_MINUTES
    assert project["vars"]["max_session_events"] == contract.MAX_SESSION_EVENTS
    assert project["vars"]["list_refresh_days"] == Settings().list_refresh_days == 0


def test_builds_pass_the_servers_session_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    assert contract_vars()["session_gap_minutes"] == contract.SESSION_GAP_MINUTES
    monkeypatch.setenv("RECSYS_SESSION_GAP_MINUTES", "45")
    assert contract_vars()["session_gap_minutes"] == 45 == Settings().session_gap_minutes


def test_builds_pass_the_list_refresh_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    assert contract_vars()["list_refresh_days"] == 0
    monkeypatch.setenv("RECSYS_LIST_REFRESH_DAYS", "7")
    assert contract_vars()["list_refresh_days"] == 7
    monkeypatch.setenv("RECSYS_LIST_REFRESH_DAYS", "-1")
    with pytest.raises(ValueError, match="RECSYS_LIST_REFRESH_DAYS"):
        contract_vars()


def test_feast_repo_names_come_from_the_contract() -> None:
    text = "".join(p.read_text() for p in (ROOT / "feature_repo").glob("*.py"))
    for literal in ("ranker_v1", "user_features", "item_features", "session_state"):
        assert f'name="{literal}"' not in text, f"{literal} is retyped in feature_repo/"


def test_rolling_sessions_are_keyed_by_user() -> None:
    assert contract.session_key("u1", None) == "user:u1"
    assert contract.session_key("u1", "s9") == "s9"
