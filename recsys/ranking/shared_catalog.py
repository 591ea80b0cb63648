"""One catalog per host: the first process to need a version writes it, every process maps it.

    <root>/v-<key>/            one complete version (recsys/ranking/catalog_files.py)
    <root>/.lock               fcntl lock held while a version is built, checked or pruned
    <root>/.tmp-v-<key>-<pid>  a version being written (renamed into place when complete)
    <root>/.corrupt-v-<key>-<time>  a version that failed its check, moved aside for a look

The key hashes what the catalog is computed from (the export files' identity, the snapshot,
the features' cut-off and the feature names), so every worker of every server on the host
that serves the same materialization asks for the same key and maps the same files. A version
that fails its check is moved aside and rebuilt, never served. The newest `KEEP_VERSIONS` are
kept; older ones are deleted (a process still mapping one keeps its pages until it lets go:
Linux frees a deleted file's pages only when the last mapping is gone).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from recsys import export_sets
from recsys.ranking import catalog_files
from recsys.ranking.catalog import Catalog
from recsys.ranking.catalog_child import write_in_child
from recsys.ranking.catalog_files import CatalogFileError
from recsys.ranking.loading import CATALOG_EXPORTS

log = logging.getLogger(__name__)

KEEP_VERSIONS = 2  # the one being served and the one before it
LOCK = ".lock"


def version_key(
    exports: Path,
    *,
    snapshot: str,
    item_feature_names: list[str],
    features_as_of: datetime | None,
) -> str:
    """A name for the catalog these inputs produce (16 hex digits).

    Built from the resolved export folder and each input file's size and mtime: a new build
    or a rewritten file gives a new key, the same files the same key in every process.
    """
    folder = export_sets.resolve(exports, list(CATALOG_EXPORTS))
    files = []
    for name in CATALOG_EXPORTS:
        path = folder / f"{name}.parquet"
        stat = path.stat() if path.exists() else None
        files.append([name, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    spec = {
        "format": catalog_files.FORMAT,
        "exports": str(folder),
        "files": files,
        "snapshot": snapshot,
        "features_as_of": features_as_of.isoformat() if features_as_of else None,
        "item_feature_names": item_feature_names,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def load_shared_catalog(
    exports: Path,
    root: Path,
    *,
    snapshot: str,
    item_feature_names: list[str],
    features_as_of: datetime | None = None,
) -> Catalog:
    """`load_catalog`'s catalog, mapped from `root` (built there first if no process has)."""
    key = version_key(
        exports,
        snapshot=snapshot,
        item_feature_names=item_feature_names,
        features_as_of=features_as_of,
    )
    return open_written(
        root,
        key,
        lambda folder: write_in_child(
            folder,
            exports=exports,
            snapshot=snapshot,
            item_feature_names=item_feature_names,
            features_as_of=features_as_of,
        ),
    )


def open_version(root: Path, key: str, build: Callable[[], Catalog]) -> Catalog:
    """Map version `key` under `root`, building it in this process if absent or damaged."""
    return open_written(root, key, lambda folder: catalog_files.write_catalog(build(), folder))


def open_written(root: Path, key: str, write: Callable[[Path], object]) -> Catalog:
    """Map version `key` under `root`; if absent or damaged, `write(folder)` writes it first.

    `write` runs under the lock, so one process per host writes a version while the others
    wait. Only a complete, checked version is ever returned, and the writer maps the files
    like every other process.
    """
    folder = root / f"v-{key}"
    if folder.exists():
        try:
            return catalog_files.read_catalog(folder)
        except CatalogFileError as exc:
            log.error("catalog %s failed its check: %s", folder.name, exc)
    with _locked(root):
        # another process may have built (or repaired) it while this one waited
        if folder.exists():
            try:
                return catalog_files.read_catalog(folder)
            except CatalogFileError as exc:
                aside = root / f".corrupt-{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
                folder.rename(aside)
                log.error("moved the damaged catalog to %s (%s); rebuilding it", aside, exc)
        started = time.perf_counter()
        write(folder)
        log.info("catalog %s written in %.1f s", folder.name, time.perf_counter() - started)
        _prune(root, keep=folder)
    return catalog_files.read_catalog(folder)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the holder dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(root: Path, *, keep: Path) -> None:
    """Keep `keep` and the newest other versions up to KEEP_VERSIONS; drop leftovers (locked)."""
    versions = sorted(
        (p for p in root.glob("v-*") if p != keep),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for old in versions[KEEP_VERSIONS - 1 :]:
        # renamed first (atomic), so no reader finds a half-deleted version under its name
        doomed = root / f".del-{old.name}"
        old.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("deleted old catalog version %s", old.name)
    # a writer or pruner killed mid-way (we hold the lock: none of these is live)
    for leftover in [*root.glob(".tmp-v-*"), *root.glob(".del-v-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
