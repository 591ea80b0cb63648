"""A short schemathesis run (>= 100 generated cases, every operation) against a real server.

`make contract` runs the same code with >= 5,000 cases and records the figures.
"""

from __future__ import annotations

from pathlib import Path

from bench.contract import OPERATIONS, run_schemathesis
from tests.serving.conftest import start_server, world_settings
from tests.world import World

API_KEY = "contract-test-key"


def test_the_server_keeps_its_published_contract(world: World, tmp_path: Path) -> None:
    live, server, thread = start_server(
        world_settings(world, api_key=API_KEY, read_api_key="contract-read-key")
    )
    try:
        result = run_schemathesis(
            live.url, max_examples=20, api_key=API_KEY, report_dir=tmp_path / "report"
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert result.operations == OPERATIONS, result.summary
    assert result.cases >= 100, result.summary
    assert result.server_errors == 0, result.summary
    assert result.failures == 0, result.summary
    assert result.exit_code == 0, result.summary
