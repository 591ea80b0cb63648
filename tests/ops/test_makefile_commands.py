"""Every `recsys` command the Makefile calls exists (make demo once called a missing one)."""

import re
import subprocess

from typer.testing import CliRunner

from ops.cli import app
from recsys.config import REPO_ROOT


def _makefile_commands() -> set[tuple[str, ...]]:
    text = (REPO_ROOT / "Makefile").read_text()
    found = set()
    for match in re.finditer(r"\$\(RECSYS\) ([a-z-]+(?: [a-z-]+)?)", text):
        words = tuple(match.group(1).split())
        # `ingest generate` is a sub-command; a single word followed by an option is not
        found.add(words if words[0] in {"ingest", "redis"} else words[:1])
    return found


def test_the_makefile_only_calls_commands_the_cli_has() -> None:
    commands = _makefile_commands()
    assert {("demo",), ("features",), ("train",), ("serve",)} <= commands
    runner = CliRunner()
    for words in sorted(commands):
        result = runner.invoke(app, [*words, "--help"])
        called = " ".join(words)
        assert result.exit_code == 0, f"`recsys {called}` from the Makefile: {result.output}"


def test_make_help_expands_variables_and_lists_them() -> None:
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "help", "PORT=9123", "HOST=0.0.0.0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "http://0.0.0.0:9123" in done.stdout
    assert "$(" not in done.stdout
    for name in ("PORT=9123", "HOST=0.0.0.0", "DEMO_EVENTS=", "REDIS_URL"):
        assert name in done.stdout
