"""Feast imported through `recsys` skips typeguard's import-time instrumentation, unless asked."""

from __future__ import annotations

import os
import subprocess
import sys

from recsys.config import REPO_ROOT

PROBE = (
    "import recsys, feast\n"
    "names = feast.FeatureView.__init__.__code__.co_names\n"
    "print(any('check_argument_types' in n for n in names))\n"
)


def _instrumented(**env: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k != "RECSYS_FEAST_TYPECHECK"} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip() == "True"


def test_feast_classes_are_not_instrumented_by_default() -> None:
    assert not _instrumented()


def test_recsys_feast_typecheck_restores_the_checks() -> None:
    # also proves the probe can see the instrumentation it looks for
    assert _instrumented(RECSYS_FEAST_TYPECHECK="1")
