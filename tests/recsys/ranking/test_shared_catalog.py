"""The catalog as mapped files: round trip, damage detected and rebuilt, racing processes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.config import REPO_ROOT
from recsys.ranking import catalog_files, shared_catalog
from recsys.ranking.catalog import Catalog
from recsys.ranking.catalog_files import CatalogFileError
from tests.recsys.ranking.helpers import tiny_catalog


def assert_same(left: Any, right: Any, where: str = "catalog") -> None:
    """Field by field, recursively: arrays equal in dtype, shape and values (nan = nan)."""
    if dataclasses.is_dataclass(left) and not isinstance(left, type):
        assert type(left) is type(right), where
        for spec in dataclasses.fields(left):
            assert_same(getattr(left, spec.name), getattr(right, spec.name), f"{where}.{spec.name}")
    elif isinstance(left, np.ndarray):
        assert isinstance(right, np.ndarray), where
        assert (left.dtype, left.shape) == (right.dtype, right.shape), where
        if left.dtype == object:
            assert left.tolist() == right.tolist(), where
        else:
            np.testing.assert_array_equal(left, right, err_msg=where)
    elif isinstance(left, dict):
        assert sorted(left) == sorted(right), where
        for key in left:
            assert_same(left[key], right[key], f"{where}[{key!r}]")
    else:
        assert left == right, where


def test_written_catalog_maps_back_equal_and_read_only(tmp_path: Path) -> None:
    catalog = tiny_catalog()
    folder = catalog_files.write_catalog(catalog, tmp_path / "v-1")
    mapped = catalog_files.read_catalog(folder)
    assert_same(catalog, mapped)
    assert mapped.index_of("e") == catalog.index_of("e") == 4
    assert mapped.category_code("y") == catalog.category_code("y")
    assert not mapped.item_features.flags.writeable
    assert not mapped.covis.indices.flags.writeable
    assert not mapped.category_popular[0].flags.writeable  # a view into the mapping
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(FileExistsError):
        catalog_files.write_catalog(catalog, folder)


def test_titles_with_none_and_unicode_survive(tmp_path: Path) -> None:
    catalog = tiny_catalog()
    titles = catalog.titles.copy()
    titles[0], titles[1] = None, "Kaffeetasse \u2615 \u00e9t\u00e9"
    catalog = dataclasses.replace(catalog, titles=titles)
    mapped = catalog_files.read_catalog(catalog_files.write_catalog(catalog, tmp_path / "v"))
    assert mapped.titles.tolist() == titles.tolist()


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete a file", "bad manifest"])
def test_damage_is_detected_and_the_version_rebuilt(tmp_path: Path, damage: str) -> None:
    catalog = tiny_catalog()
    folder = catalog_files.write_catalog(catalog, tmp_path / "v-k")
    target = folder / "item_features.npy"
    if damage == "flip a byte":
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-4])
    elif damage == "delete a file":
        target.unlink()
    else:
        (folder / catalog_files.MANIFEST).write_text("{not json")
    with pytest.raises(CatalogFileError, match=r"item_features\.npy|manifest"):
        catalog_files.read_catalog(folder)

    builds: list[int] = []

    def build() -> Catalog:
        builds.append(1)
        return catalog

    served = shared_catalog.open_version(tmp_path, "k", build)
    assert builds == [1]
    assert_same(catalog, served)
    assert len(list(tmp_path.glob(".corrupt-v-k-*"))) == 1
    catalog_files.read_catalog(folder)  # the rebuilt version passes its check


def test_only_the_newest_versions_are_kept(tmp_path: Path) -> None:
    catalog = tiny_catalog()
    for key in ("a", "b", "c", "d"):
        shared_catalog.open_version(tmp_path, key, lambda: catalog)
    assert sorted(p.name for p in tmp_path.glob("v-*")) == ["v-c", "v-d"]


_RACER = textwrap.dedent(
    """
    import sys, time
    from dataclasses import replace
    from datetime import timedelta
    from pathlib import Path
    from recsys.ranking import shared_catalog
    from tests.recsys.ranking.helpers import tiny_catalog

    root, log = Path(sys.argv[1]), Path(sys.argv[2])
    keys, rounds = sys.argv[3].split(","), int(sys.argv[4])

    def build(key):
        with log.open("a") as handle:
            handle.write(f"{key}\\n")
        time.sleep(0.2)  # a slow build: the others must wait, not build too
        base = tiny_catalog()
        return replace(base, as_of=base.as_of + timedelta(days=int(key)))

    seen = []
    for _ in range(rounds):
        for key in keys:
            catalog = shared_catalog.open_version(root, key, lambda: build(key))
            assert catalog.as_of == tiny_catalog().as_of + timedelta(days=int(key)), key
            assert int(catalog.known.sum()) == 8 and catalog.index_of("h") == 7
            seen.append(key)
    print(len(seen))
    """
)


def _racers(root: Path, log: Path, keys: list[str], rounds: int, n: int) -> list[str]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(root), str(log), ",".join(keys), str(rounds)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(out.strip())
    return outputs


def test_processes_racing_for_one_version_build_it_once(tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    assert _racers(tmp_path / "catalog", log, ["1"], 1, 3) == ["1", "1", "1"]
    assert log.read_text().split() == ["1"]
    assert [p.name for p in (tmp_path / "catalog").iterdir() if p.name != ".lock"] == ["v-1"]


def test_writers_and_readers_racing_over_versions_never_see_a_partial_one(tmp_path: Path) -> None:
    # every process walks versions 1..4 three times: versions are built, read while others
    # are written, pruned (2 kept) and rebuilt; each read is checked against its version
    log = tmp_path / "builds.log"
    outputs = _racers(tmp_path / "catalog", log, ["1", "2", "3", "4"], 3, 3)
    assert outputs == ["12", "12", "12"]
    built = log.read_text().split()
    assert sorted(set(built)) == ["1", "2", "3", "4"]
    kept = sorted(p.name for p in (tmp_path / "catalog").glob("v-*"))
    assert len(kept) <= shared_catalog.KEEP_VERSIONS
    assert not list((tmp_path / "catalog").glob(".tmp-*"))
    assert not list((tmp_path / "catalog").glob(".corrupt-*"))


def test_manifest_lists_size_and_crc_of_every_file(tmp_path: Path) -> None:
    folder = catalog_files.write_catalog(tiny_catalog(), tmp_path / "v")
    manifest = json.loads((folder / catalog_files.MANIFEST).read_text())
    on_disk = sorted(p.name for p in folder.glob("*.npy"))
    assert sorted(manifest["files"]) == on_disk
    assert "covis.indptr.npy" in on_disk and "sessions.item_sessions.indices.npy" in on_disk
    assert manifest["values"]["as_of"]["datetime"] == tiny_catalog().as_of.isoformat()
    assert catalog_files.files_bytes(folder) == sum(p.stat().st_size for p in folder.glob("*.npy"))
    assert timedelta(0) == tiny_catalog().as_of - catalog_files.read_catalog(folder).as_of


def test_a_child_build_reports_missing_exports_as_the_server_expects(tmp_path: Path) -> None:
    from recsys.ranking.catalog_child import write_in_child
    from recsys.ranking.loading import MissingExportError

    with pytest.raises(MissingExportError, match=r"data_windows\.parquet not found"):
        write_in_child(
            tmp_path / "catalog" / "v-x",
            exports=tmp_path / "no-exports",
            snapshot="serving",
            item_feature_names=[],
            features_as_of=None,
        )
    assert not (tmp_path / "catalog" / "v-x").exists()
