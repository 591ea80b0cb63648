"""Warehouses shared by several dbt test modules, each built once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.pipeline import dbt_runner
from tests.dbt import scenarios
from tests.dbt.landing_files import Built, data_dir_env


@pytest.fixture(scope="session")
def scenario_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Sessions and hand-computed features side by side (distinct users and items)."""
    data_dir = tmp_path_factory.mktemp("scenarios") / "data"
    scenarios.write_sessions(data_dir)
    scenarios.write_features(data_dir)
    with data_dir_env(data_dir):
        yield Built(data_dir, dbt_runner.build(quiet=True))


@pytest.fixture(scope="session")
def event_only_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A one-day, view-only, anonymous log: no items, users, types or served events.

    Built with `docs=True`, so the same build also checks `dbt docs generate`.
    """
    data_dir = tmp_path_factory.mktemp("event_only") / "data"
    scenarios.write_event_only(data_dir, events=2_000, seed=3)
    with data_dir_env(data_dir):
        yield Built(data_dir, dbt_runner.build(docs=True, quiet=True))
