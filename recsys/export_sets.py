"""Publish dbt's Parquet exports as one set, atomically; refuse a set mixed from two builds.

    data/exports.d/b20261205-231500-4242/   one folder per build: <mart>.parquet, _build.json
    data/exports -> exports.d/b20261205-231500-4242

A build writes into a fresh folder (seeded with links to the current set's files, so a
partial `--select` build and the batch recommendations carry over) and only when every model
and test passed is `exports` switched to it, by renaming a new symlink over the old one. A
killed or failed build therefore leaves the previous complete set in service, and every
reader that opens `data/exports/...` (Feast's sources, training, the server) keeps a stable
path. Each file dbt writes carries its build id in the Parquet footer (`recsys_build`), and
`_build.json` lists which build wrote each file, so `resolve` can refuse a folder whose files
do not match (a file copied in by hand, a half-published set from an older layout).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from recsys.config import Paths

MANIFEST = "_build.json"
BUILD_KEY = b"recsys_build"
KEEP_BUILDS = 3
# What the dbt materialization reads to know where and under which id to write.
DIR_ENV = "RECSYS_EXPORTS_DIR"
BUILD_ENV = "RECSYS_EXPORTS_BUILD"


class ExportSetError(RuntimeError):
    """The exports folder mixes files of different builds; the message says which."""


@dataclass(frozen=True)
class Build:
    build_id: str
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        return {DIR_ENV: str(self.folder), BUILD_ENV: self.build_id}


def start(layout: Paths) -> Build:
    """A new build folder, seeded with (hard links to) the files of the set in service."""
    now = datetime.now(UTC)
    build_id = f"b{now:%Y%m%d-%H%M%S-%f}-{os.getpid()}"
    folder = layout.export_builds / build_id
    folder.mkdir(parents=True)
    current = layout.exports
    if current.is_dir():
        for source in current.resolve().glob("*.parquet"):
            _link_or_copy(source, folder / source.name)
    return Build(build_id, folder)


def publish(layout: Paths, build: Build) -> Path:
    """Write the manifest and switch `exports` to the build with one atomic rename."""
    files = {path.name: file_build(path) for path in sorted(build.folder.glob("*.parquet"))}
    manifest = {
        "build_id": build.build_id,
        "published_at": datetime.now(UTC).isoformat(),
        "files": files,
    }
    _write_atomic(build.folder / MANIFEST, json.dumps(manifest, indent=2))
    link = layout.exports
    if link.exists() and not link.is_symlink():
        # exports from before builds were published as sets: keep them as a build of its own
        link.rename(layout.export_builds / f"b00000000-legacy-{build.build_id}")
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path(layout.export_builds.name) / build.build_id)  # relative: data dir moves
    tmp.replace(link)
    prune(layout)
    return build.folder


def prune(layout: Paths, keep: int = KEEP_BUILDS) -> list[str]:
    """Delete all but the newest `keep` build folders (never the one in service)."""
    if not layout.export_builds.is_dir():
        return []
    in_service = layout.exports.resolve() if layout.exports.is_symlink() else None
    folders = sorted(p for p in layout.export_builds.iterdir() if p.is_dir())
    removed = []
    for folder in folders[:-keep] if keep else folders:
        if folder.resolve() != in_service:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def file_build(path: Path) -> str | None:
    """The build id written into a Parquet file's footer, or None (not written by a build)."""
    metadata = pq.read_metadata(path).metadata or {}
    value = metadata.get(BUILD_KEY)
    return value.decode() if value is not None else None


def resolve(exports: Path, names: list[str] | None = None) -> Path:
    """The folder behind `exports`, checked: each file is the one its build's manifest lists.

    Readers open every file through the returned folder, so a build published while they
    read cannot mix two sets. A folder without a manifest (built by hand, or by plain
    `dbt build` outside `recsys build`) is returned unchecked.

    Raises:
        ExportSetError: A file (of `names`, or all listed) comes from another build than
            the manifest says.
    """
    folder = exports.resolve()
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return folder
    manifest = json.loads(manifest_path.read_text())
    listed: dict[str, str | None] = manifest.get("files", {})
    wanted = [f"{n}.parquet" for n in names] if names is not None else list(listed)
    mixed = []
    for name in wanted:
        path = folder / name
        if name not in listed or listed[name] is None or not path.exists():
            continue  # not a dbt export (batch recommendations) or missing: caller reports
        found = file_build(path)
        if found != listed[name]:
            mixed.append(f"{name} (expected build {listed[name]}, found {found})")
    if mixed:
        raise ExportSetError(
            f"{folder} mixes exports of different builds: {', '.join(mixed)}; the set in "
            f"service is build {manifest.get('build_id')}. Run `recsys build` to publish a "
            "complete set (never copy single export files by hand)."
        )
    return folder


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # dbt replaces files by rename, so the old build stays intact
    except OSError:
        shutil.copy2(source, target)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
