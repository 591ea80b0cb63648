"""Load a trained ranker and score feature matrices with it, fast.

The LightGBM model file is the source of truth. For scoring we compile it to native code
with lleaves (same predictions, 10-20x faster on 300 rows; see BENCHMARKS.md); if the
compiler is unavailable we fall back to LightGBM's own predict. Per-feature contributions
(`explain`) always come from LightGBM itself.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsys.model_check import COMPILED_FILE, METADATA_FILE, MODEL_FILE

log = logging.getLogger(__name__)

__all__ = ["COMPILED_FILE", "METADATA_FILE", "MODEL_FILE", "Ranker", "load_ranker"]


@dataclass
class Ranker:
    """A trained ranker: its booster, optional compiled twin, and the features it expects."""

    version: str
    features: list[str]
    booster: lgb.Booster
    metadata: dict[str, Any]
    compiled: Any = field(default=None, repr=False)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Return one score per row (higher = more relevant)."""
        if len(X) == 0:
            return np.zeros(0, np.float64)
        if self.compiled is not None:
            return np.asarray(self.compiled.predict(X, n_jobs=1))
        return np.asarray(self.booster.predict(X, num_threads=1))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions (SHAP values), [rows, features + 1 bias]; keep rows few."""
        return np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=1))


def load_ranker(model_dir: Path, *, compile_model: bool = True) -> Ranker:
    """Load the model in `model_dir` (a registry version folder).

    Args:
        model_dir: Folder holding model.txt and metadata.json.
        compile_model: Compile to native code with lleaves (cached as model.so beside it).

    Raises:
        FileNotFoundError: The folder lacks model.txt or metadata.json.
    """
    model_dir = Path(model_dir)
    model_path, meta_path = model_dir / MODEL_FILE, model_dir / METADATA_FILE
    for path in (model_path, meta_path):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: {model_dir} is not a complete model version; "
                "train one with `make train`"
            )
    metadata = json.loads(meta_path.read_text())
    booster = lgb.Booster(model_file=str(model_path))
    ranker = Ranker(
        version=str(metadata["version"]),
        features=list(metadata["features"]),
        booster=booster,
        metadata=metadata,
    )
    if compile_model and os.environ.get("RECSYS_COMPILE_MODEL", "1") != "0":
        ranker.compiled = _compile(model_path, model_dir / COMPILED_FILE)
    return ranker


def _compile(model_path: Path, cache: Path) -> Any:
    try:
        import lleaves
    except ImportError:  # pragma: no cover - lleaves is a declared dependency
        log.warning("lleaves is not installed; scoring with LightGBM's predict")
        return None
    try:
        model = lleaves.Model(model_file=str(model_path))
        # lleaves reuses the cache only if it exists; write to a temp name then rename so a
        # concurrent reader never loads a half-written shared object
        if not cache.exists():
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.so")
            model.compile(cache=str(tmp))
            tmp.replace(cache)
            model = lleaves.Model(model_file=str(model_path))
        model.compile(cache=str(cache))
        return model
    except Exception as exc:  # compiler failures must not take scoring down
        log.warning(
            "could not compile %s with lleaves (%s); using LightGBM's predict", model_path, exc
        )
        return None
