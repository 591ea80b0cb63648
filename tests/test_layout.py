"""Imports flow one way through the tree: trunk <- training, serving <- ops, bench.

The shared trunk (`recsys`) imports neither training nor serving; training and serving never
import each other; nothing product-side imports the operator's layer (`ops`) or the benchmarks;
dbt's Python models and the Feast repo stand on the trunk alone. Every import is read with
`ast`, including the ones inside functions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the project packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "recsys": set(),
    "training": {"recsys"},
    "serving": {"recsys"},
    "ops": {"recsys", "training", "serving"},
    "bench": {"recsys", "training", "serving"},
    # the Dagster graph calls the steps `recsys nightly` runs (ops/nightly.py)
    "orchestration": {"recsys", "ops"},
    "feature_repo": {"recsys"},
    "dbt": {"recsys"},
}
# `dbt` is also the dbt library's name: nothing imports the project's dbt/ folder as a module.
PROJECT = (set(ALLOWED) - {"dbt"}) | {"tests"}


# Parsed in a child interpreter: CPython 3.11's ast.parse keeps its recursion counter per
# interpreter, so a parse racing one in another thread of the test worker (an in-thread
# server importing lazily) fails with "AST constructor recursion depth mismatch" (gh-106905).
_PARSE = """
import ast, json, sys
found = []
for node in ast.walk(ast.parse(open(sys.argv[1]).read(), filename=sys.argv[1])):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found.append((node.lineno, node.module))
    elif isinstance(node, ast.Import):
        found += [(node.lineno, alias.name) for alias in node.names]
print(json.dumps(found))
"""


def _imports(path: Path) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, str(path)], capture_output=True, text=True, check=True
    )
    return [(line, module) for line, module in json.loads(done.stdout)]


def _violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "target" in path.parts:
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in PROJECT and top != package and top not in ALLOWED[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_upward_or_sideways(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert _violations(package) == [], (
        f"{package} may import only {sorted(ALLOWED[package]) or 'itself'}"
    )


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from serving.main import create_app\n")
    assert (2, "serving.main") in _imports(bad)
