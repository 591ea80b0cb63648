"""README's API examples run against a live server and every field they show is really there."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from recsys.config import REPO_ROOT
from tests.serving.conftest import LiveServer

_EXAMPLE = re.compile(
    r"<!-- readme-example -->\n```bash\n(?P<command>.*?)```\n```json\n(?P<answer>.*?)```",
    re.DOTALL,
)
_DOCUMENTED_BASE = re.compile(r"http://(?:127\.0\.0\.1|localhost):8000")


def _examples() -> list[tuple[str, Any]]:
    text = (REPO_ROOT / "README.md").read_text()
    return [(m["command"], json.loads(m["answer"])) for m in _EXAMPLE.finditer(text)]


def _missing(documented: Any, real: Any, where: str = "$") -> list[str]:
    """Fields the README shows that the real answer lacks (values may differ)."""
    if isinstance(documented, dict):
        if not isinstance(real, dict):
            return [f"{where}: README shows an object, the server answered {real!r}"]
        problems = [f"{where}.{key}" for key in documented if key not in real]
        for key, value in documented.items():
            if key in real and real[key] is not None and value is not None:
                problems += _missing(value, real[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list):
        if not isinstance(real, list):
            return [f"{where}: README shows a list, the server answered {real!r}"]
        if documented and not real:
            return [f"{where}: README shows items, the server answered an empty list"]
        return [p for item in real for p in _missing(documented[0], item, f"{where}[]")][:5]
    return []


def test_readme_has_the_api_examples() -> None:
    commands = " ".join(command for command, _ in _examples())
    for route in ("/recommendations/", "/events", "/users/sample", "/items/"):
        assert route in commands, f"README has no runnable example of {route}"


def test_readme_api_examples_answer_what_they_show(live_server: LiveServer) -> None:
    for command, documented in _examples():
        script = _DOCUMENTED_BASE.sub(live_server.url, command)
        assert live_server.url in script, f"example does not call the server: {command}"
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        real = json.loads(done.stdout)
        assert not _missing(documented, real), (command, _missing(documented, real), real)
