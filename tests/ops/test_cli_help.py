"""Every command's help shows click-style types and defaults, never Python annotations."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from ops.cli import app

_PYTHON_TYPE = re.compile(r"<(?:int|str|float|bool|list\[[^\]]*\]|Path)>|\{[a-z_]+\}")


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, child in getattr(command, "commands", {}).items():
        paths += _command_paths(child, (*prefix, name))
    return paths


def test_help_of_every_command_uses_click_style_types() -> None:
    runner = CliRunner()
    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) > 10  # the walk found the sub-commands
    for path in paths:
        result = runner.invoke(app, [*path, "-h"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        found = _PYTHON_TYPE.findall(result.output)
        assert not found, f"`recsys {' '.join(path)} -h` shows {found}"


def test_help_shows_types_and_defaults() -> None:
    result = CliRunner().invoke(app, ["ingest", "generate", "--help"], terminal_width=200)
    assert re.search(r"--events\s+INTEGER", result.output)
    assert "[default: 100000]" in result.output
    promote = CliRunner().invoke(app, ["promote", "-h"], terminal_width=200)
    assert "recsys promote [OPTIONS] VERSION" in promote.output
