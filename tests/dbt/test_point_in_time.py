"""The point-in-time dbt tests catch leakage: corrupt one mart in a copy of the warehouse so
its rows use events at or after their own timestamp, and the matching dbt test must fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import Built, replace_mart

# mart -> (dbt test that guards it, a leaky version of the mart built from the real one)
LEAKS = {
    # The row claims a moment 1 microsecond earlier: its last event is now at its timestamp.
    "user_features": (
        "assert_user_features_point_in_time",
        "select * replace (event_timestamp - interval 1 microsecond as event_timestamp) "
        "from user_features",
    ),
    "item_features": (
        "assert_item_features_point_in_time",
        "select * replace (event_timestamp - interval 1 microsecond as event_timestamp) "
        "from item_features",
    ),
    # Every snapshot gets the values computed at serving time, i.e. from later events.
    "item_popularity": (
        "assert_item_popularity_point_in_time",
        "select p.* replace (s.events_1d as events_1d, s.events_7d as events_7d, "
        "s.events_30d as events_30d, s.purchases_30d as purchases_30d, "
        "s.decayed_score as decayed_score) "
        "from item_popularity p join item_popularity s "
        "on s.item_id = p.item_id and s.snapshot_name = 'serving'",
    ),
    "item_neighbors": (
        "assert_item_neighbors_point_in_time",
        "select n.* replace (s.covis_item_ids as covis_item_ids, s.covis_scores as covis_scores, "
        "s.seq_item_ids as seq_item_ids, s.seq_scores as seq_scores) "
        "from item_neighbors n join item_neighbors s "
        "on s.item_id = n.item_id and s.snapshot_name = 'serving'",
    ),
    # Every snapshot gets the serving lists, which name items first seen after it.
    "item_embeddings": (
        "assert_item_embeddings_point_in_time",
        "select e.* replace (s.embed_item_ids as embed_item_ids, s.embed_scores as embed_scores) "
        "from item_embeddings e join item_embeddings s "
        "on s.item_id = e.item_id and s.snapshot_name = 'serving'",
    ),
    "item_rules": (
        "assert_item_rules_point_in_time",
        "select r.* replace (s.rule_item_ids as rule_item_ids, s.rule_scores as rule_scores) "
        "from item_rules r join item_rules s "
        "on s.item_id = r.item_id and s.snapshot_name = 'serving'",
    ),
}


def _copy(built: Built, tmp_path: Path, *, mart: str | None = None, leak_sql: str = "") -> Path:
    """Copy the warehouse; when `mart` is given, replace it by a table built from leak_sql."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse, copy)
    if mart:
        replace_mart(copy, mart, leak_sql)
    return copy


def _run_tests(built: Built, warehouse: Path, select: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(built.data_dir))
    monkeypatch.setenv("RECSYS_WAREHOUSE", str(warehouse))
    dbt_runner.build(select=select, quiet=True)


def test_the_guards_pass_on_the_real_marts(
    event_only_warehouse: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = " ".join(test for test, _ in LEAKS.values())
    _run_tests(event_only_warehouse, _copy(event_only_warehouse, tmp_path), tests, monkeypatch)


@pytest.mark.parametrize("mart", sorted(LEAKS))
def test_a_leaky_mart_fails_its_guard(
    event_only_warehouse: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mart: str
) -> None:
    test, leak_sql = LEAKS[mart]
    leaky = _copy(event_only_warehouse, tmp_path, mart=mart, leak_sql=leak_sql)
    with pytest.raises(dbt_runner.DbtBuildError) as failure:
        _run_tests(event_only_warehouse, leaky, test, monkeypatch)
    message = str(failure.value)
    assert test in message
    assert "failing rows, e.g." in message  # a failed check with its rows, not a broken query
