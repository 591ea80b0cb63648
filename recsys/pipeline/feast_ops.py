"""Feast glue: the store on feature_repo/, `feast apply` from Python, and feature refs.

Training and serving take their feature lists from the feature service
(`recsys.ranking.inputs`), so a feature added to a view reaches both or neither.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from recsys import silence_feast_warnings
from recsys.config import export_data_dir_env, feature_repo_dir

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.repo_contents import RepoContents


def feature_store(*, connect_redis: bool = True) -> FeatureStore:
    """Return a FeatureStore on feature_repo/ with RECSYS_DATA_DIR and the Redis env set.

    Args:
        connect_redis: Find (or start) a Redis and export FEAST_REDIS_CONNECTION first; pass
            False for registry or offline work that never reads the online store.
    """
    from feast import FeatureStore

    from recsys.redis_runtime import ensure_redis

    # Feast creates the registry's folder but not its parents.
    (export_data_dir_env() / "feast").mkdir(parents=True, exist_ok=True)
    if connect_redis:
        ensure_redis()  # says so when it has to start a Redis of its own
    else:
        # feature_store.yaml's redis_type is an enum that Feast validates even when the online
        # store is never opened; the connection string is only read on first use.
        os.environ.setdefault("FEAST_REDIS_TYPE", "redis")
    silence_feast_warnings()  # importing Feast overrode the filter
    return FeatureStore(repo_path=str(feature_repo_dir()))


def apply(*, store: FeatureStore | None = None) -> str:
    """Register feature_repo/'s objects like `feast apply` and return what was registered.

    Objects in the registry that the repo no longer defines are removed, as `feast apply` does.
    The repo modules are imported afresh, so a changed RECSYS_DATA_DIR reaches the source paths
    (and `sync_sources` carries them into views registered before).
    """
    from feast.repo_operations import extract_objects_for_apply_delete

    store = store or feature_store()
    repo = _parse_repo(feature_repo_dir(), project=store.project)
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        store.project, store.registry, repo
    )
    store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    moved = sync_sources(store)
    described = _describe(store, removed=[obj.name for obj in to_delete])
    return "\n".join([described, *(f"  source moved: {line}" for line in moved)])


def sync_sources(store: FeatureStore) -> list[str]:
    """Point registered views at the current RECSYS_DATA_DIR's files when they read other paths.

    The registry keeps the absolute Parquet paths of the apply that registered a view, and a
    re-apply does not change them: Feast 0.67 updates the data sources but keeps the copy
    embedded in an existing view, treating a new path as a deployment detail. After
    RECSYS_DATA_DIR was copied or moved, materialize and training would read the old files
    (or skip them as missing), so each moved view is registered again here, keeping its
    materialization intervals.

    Returns:
        One line per view that moved ("<view>: <old path> -> <new path>"); empty when none did.
    """
    if Path(store.repo_path).resolve() != feature_repo_dir().resolve():
        return []  # a store of another repo (benchmarks, tests): its views are its own
    repo = _parse_repo(feature_repo_dir(), project=store.project)
    wanted = {view.name: view for view in repo.feature_views}
    moved = []
    for view in store.list_feature_views():
        want = wanted.get(view.name)
        if want is not None and _source_paths(view) != _source_paths(want):
            moved.append((view, want))
    if not moved:
        return []
    # Registry writes only: nothing here needs (or may touch) the online store.
    registry = store.registry
    for source in repo.data_sources:  # unchanged ones are left as they are
        registry.apply_data_source(source, store.project, commit=False)
    for old, new in moved:
        new.update_materialization_intervals(old.materialization_intervals)
        registry.delete_feature_view(old.name, store.project, commit=False)
        registry.apply_feature_view(new, store.project, commit=False)
    registry.commit()
    store.refresh_registry()
    return [f"{old.name}: {_source_paths(old)[0]} -> {_source_paths(new)[0]}" for old, new in moved]


def _source_paths(view: FeatureView) -> tuple[str, ...]:
    """The file paths a view reads: its batch source and the batch source behind a push."""
    sources = [view.batch_source, getattr(view.stream_source, "batch_source", None)]
    return tuple(getattr(source, "path", "") for source in sources if source is not None)


def _parse_repo(repo_root: Path, *, project: str) -> RepoContents:
    """Import the repo's definition modules afresh and collect their Feast objects."""
    from feast.project import Project
    from feast.repo_operations import parse_repo

    with _fresh_repo_imports(repo_root):
        repo = parse_repo(repo_root)
    if not repo.projects:  # as `feast apply`: the project comes from feature_store.yaml
        repo.projects.append(Project(name=project, description=""))
    return repo


@contextlib.contextmanager
def _fresh_repo_imports(repo_root: Path) -> Iterator[None]:
    """Let Feast import the repo files as `feast apply` does, without stale modules or .pyc.

    Feast names modules by their path relative to the working directory, and the files import
    each other by those names (`from entities import ...`), so both need the repo root.
    """
    root = repo_root.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().parent == root:
            del sys.modules[name]  # cached definitions hold the old RECSYS_DATA_DIR paths
    importlib.invalidate_caches()
    added = str(root) not in sys.path
    if added:
        sys.path.append(str(root))
    no_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # keep __pycache__ out of feature_repo/, like the CLI
    try:
        with contextlib.chdir(root):
            yield
    finally:
        sys.dont_write_bytecode = no_bytecode
        if added:
            sys.path.remove(str(root))


def _describe(store: FeatureStore, *, removed: list[str]) -> str:
    lines = [f"feast apply: project {store.project}, registry {store.config.registry.path}"]
    entities = ", ".join(
        f"{e.name} ({e.join_key})" for e in sorted(store.list_entities(), key=lambda e: e.name)
    )
    lines.append(f"  entities: {entities}")
    for view in sorted(store.list_feature_views(), key=lambda v: v.name):
        source = view.stream_source or view.batch_source
        assert source is not None  # Feast refuses to register a view without a source
        lines.append(
            f"  feature view {view.name}: {len(view.features)} features, ttl {_days(view.ttl)}, "
            f"source {source.name}"
        )
    for service in store.list_feature_services():
        views = ", ".join(p.name for p in service.feature_view_projections)
        lines.append(f"  feature service {service.name}: {views}")
    if removed:
        lines.append(f"  removed: {', '.join(removed)}")
    return "\n".join(lines)


def _days(ttl: timedelta | None) -> str:
    if not ttl:
        return "none (rows never expire)"
    whole = ttl == timedelta(days=ttl.days)
    return f"{ttl.days} day{'' if ttl.days == 1 else 's'}" if whole else str(ttl)


# The batch_recommendations file: written by `recsys batch-score`, read by Feast and the server.
BATCH_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("item_ids", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float64())),
        ("model_version", pa.string()),
    ]
)


def ensure_batch_source(path: Path) -> None:
    """Write an empty, typed batch_recommendations file if none exists yet.

    Feast's own materialize reads every view's source, and batch scoring writes this one only
    on its first run: until then the view reads an empty file of the right schema.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(BATCH_SCHEMA.empty_table(), path)
