"""dbt's exports are published as one set: a killed build leaves the previous set in service.

Real builds on generated events: one complete build, one `recsys build` process killed
while it is writing exports, one more complete build; then a file of an older build copied
into the set in service, which the catalog loader must refuse.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys import export_sets
from recsys.config import paths
from recsys.ingest.generator import GeneratorConfig, generate
from recsys.pipeline import dbt_runner
from recsys.ranking.loading import load_catalog


def _builds_of(folder: Path) -> dict[str, str | None]:
    """The build id stamped in each finished export of a build folder.

    DuckDB's COPY writes tmp_<name>.parquet and renames it when complete: such a file is not
    an export yet, and may be renamed away between the glob and the read.
    """
    builds = {}
    for path in sorted(folder.glob("*.parquet")):
        if path.name.startswith("tmp_"):
            continue
        try:
            builds[path.name] = export_sets.file_build(path)
        except FileNotFoundError:  # replaced by the running build since the glob
            continue
    return builds


def _catalog(exports: Path) -> object:
    feature = next(
        n for n in pq.read_schema(exports / "item_features.parquet").names if n.endswith("_7d")
    )
    return load_catalog(exports, snapshot="serving", item_feature_names=[feature])


def _kill_build_midway(data_dir: Path, previous: str) -> tuple[str, int, int]:
    """Start `recsys build`, SIGKILL it once some (not all) exports of the new build exist."""
    env = {**os.environ, "RECSYS_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "ops", "build"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    builds = data_dir / "exports.d"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and process.poll() is None:
            new = [p for p in builds.iterdir() if p.name != previous and p.is_dir()]
            if new:
                written = [b for b in _builds_of(new[0]).values() if b == new[0].name]
                if written:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    return new[0].name, len(written), len(_builds_of(new[0]))
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
    raise AssertionError(f"the build ended ({process.returncode}) before it could be killed")


def test_a_killed_build_leaves_the_previous_complete_set_in_service(data_dir: Path) -> None:
    layout = paths()
    generate(GeneratorConfig(events=4_000, seed=5), layout=layout)
    dbt_runner.build(quiet=True)
    exports = layout.exports
    assert exports.is_symlink()
    first = exports.resolve().name
    manifest = json.loads((exports / export_sets.MANIFEST).read_text())
    assert manifest["build_id"] == first
    assert set(_builds_of(exports).values()) == {first}  # every export carries its build
    assert len(manifest["files"]) >= 10

    killed, written, total = _kill_build_midway(data_dir, first)
    assert 0 < written < total  # it had written some new exports when it died...
    assert exports.resolve().name == first  # ...yet the set in service is the old one
    assert set(_builds_of(exports).values()) == {first}
    assert export_sets.resolve(exports) == data_dir / "exports.d" / first
    _catalog(exports)

    dbt_runner.build(quiet=True)
    second = exports.resolve().name
    assert second not in {first, killed}
    assert set(_builds_of(exports).values()) == {second}

    # the old failure: one file of an older build in the set being served
    shutil.copy2(data_dir / "exports.d" / first / "item_features.parquet", exports)
    with pytest.raises(export_sets.ExportSetError) as refused:
        _catalog(exports)
    message = str(refused.value)
    assert "item_features.parquet" in message and first in message and second in message
    assert "recsys build" in message


def test_old_builds_are_pruned_but_never_the_one_in_service(data_dir: Path) -> None:
    layout = paths()
    for index in range(5):
        (layout.export_builds / f"b2026120{index}").mkdir(parents=True)
    layout.exports.symlink_to(Path("exports.d") / "b20261200")
    removed = export_sets.prune(layout)
    assert removed == ["b20261201"]
    kept = sorted(p.name for p in layout.export_builds.iterdir())
    assert kept == ["b20261200", "b20261202", "b20261203", "b20261204"]
