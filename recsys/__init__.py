"""The shared trunk: what ingest, the dbt/Feast pipeline, training and serving all stand on.

It imports neither `training` nor `serving` (a test walks the imports): configuration and the
names shared across layers (`config`, `contract`), the request-path core (`ranking`), ingest,
the dbt and Feast glue (`pipeline`), the model registry and the Redis runtime.
"""

import gc
import importlib
import os
import warnings
from types import ModuleType
from typing import Any


def silence_feast_warnings() -> None:
    """Hide the DuckDB deprecation Feast's offline store triggers (through ibis).

    It says nothing a user can act on and repeats in every process that reads a training set.
    Called here, where every process starts, and again after Feast is imported: importing
    Feast runs `warnings.simplefilter("once", DeprecationWarning)`, which takes precedence
    over filters installed before it.
    """
    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)


silence_feast_warnings()


def skip_feast_runtime_typechecks() -> None:
    """Import Feast without typeguard's `@typechecked` instrumentation of its classes.

    For every method of a decorated class, typeguard 4 reads, parses and compiles the whole
    module source again, at import time: about 3.7 s of CPU per process that imports Feast
    (5.3 s -> 1.6 s user for `import feast` on these machines), paid by every `recsys` command
    and every server worker. The checks only validate the arguments of Feast's own
    constructors; our definitions in feature_repo/ are checked by mypy and by the tests, and
    the `feast` CLI, a separate entry point, keeps them. RECSYS_FEAST_TYPECHECK=1 restores
    them. Has no effect if Feast was imported before this package.
    """
    if os.environ.get("RECSYS_FEAST_TYPECHECK", "") in ("1", "true", "yes"):
        return
    import typeguard

    def unchecked(target: Any = None, **_options: Any) -> Any:
        # both `@typechecked` and `@typechecked(...)`
        return (lambda inner: inner) if target is None else target

    typeguard.typechecked = unchecked


skip_feast_runtime_typechecks()


def import_with_gc_paused(name: str) -> ModuleType:
    """Import a module with the garbage collector paused.

    On CPython 3.11 an import fails with KeyError(<thread id>) when a finalizer run by the
    collector imports a module in the middle of it (python/cpython#87712, fixed in 3.12).
    The first imports of dbt, Feast and LightGBM are long and allocate a lot, so they met that
    now and then in the test suite; with the collector paused no finalizer runs inside them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        if was_enabled:
            gc.enable()
