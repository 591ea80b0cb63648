"""Benchmarks start the CLI with `python -m <module>`: every such module must be runnable."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_m_module_in_bench_exists() -> None:
    calls = set()
    for path in (ROOT / "bench").glob("*.py"):
        calls |= set(re.findall(r'"-m",\s*"([a-z_.]+)"', path.read_text()))
    assert calls, "no `python -m` calls found: the pattern is out of date"
    for module in calls:
        folder = ROOT / module.replace(".", "/")
        ours = (folder / "__main__.py").exists() or folder.with_suffix(".py").exists()
        # or an installed one (uvicorn: bench/memory.py starts the server the way tests do)
        assert ours or importlib.util.find_spec(module) is not None, module
