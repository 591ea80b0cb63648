"""The shared trunk: what ingest, the dbt/Feast pipeline, training and serving all stand on.

It imports neither `training` nor `serving` (a test walks the imports): configuration and the
names shared across layers (`config`, `contract`), the request-path core (`ranking`), ingest,
the dbt and Feast glue (`pipeline`), the model registry and the Redis runtime.
"""

import gc
import importlib
import warnings
from types import ModuleType


def silence_feast_warnings() -> None:
    """Hide the DuckDB deprecation Feast's offline store triggers (through ibis).

    It says nothing a user can act on and repeats in every process that reads a training set.
    Called here, where every process starts, and again after Feast is imported: importing
    Feast runs `warnings.simplefilter("once", DeprecationWarning)`, which takes precedence
    over filters installed before it.
    """
    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)


silence_feast_warnings()


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
