"""The demo's last step against a real server: readable lists, titles rather than ids."""

from __future__ import annotations

import re

import pytest

from ops import demo
from tests.serving.conftest import start_server, world_settings
from tests.world import World


def test_the_demo_walk_prints_titles_and_readable_timings(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    live, server, thread = start_server(world_settings(world, land_events=False))
    try:
        demo._show_session(live.url)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert len(headers) == 3, out
    assert "no clicks yet" in headers[0]
    # Timings as "stage 1.2 ms", never a Python dict.
    assert all(re.search(r"\w+ \d+\.\d ms", h) for h in headers), headers
    assert "{" not in out
    # The clicked item is named by its title, with its id only in brackets.
    clicked = re.match(r"after viewing (.+) \((\S+)\)", headers[1])
    assert clicked and clicked.group(1) != clicked.group(2), headers[1]
    rows = [line for line in out.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(rows) == 15
    assert all("score " in row for row in rows)
