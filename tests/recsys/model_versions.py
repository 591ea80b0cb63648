"""Real, small model versions (a LightGBM ranker trained on random rows) and ways to break them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsys import model_check, registry

FEATURES = [f"f{i}" for i in range(6)]


def train_text(seed: int, rounds: int = 20) -> str:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, len(FEATURES)))
    y = (x[:, 0] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    data = lgb.Dataset(x, label=y, feature_name=FEATURES, params={"verbose": -1})
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed}
    return str(lgb.train(params, data, num_boost_round=rounds).model_to_string())


def make_version(models: Path, name: str, *, seed: int = 1, **extra: Any) -> Path:
    """A sealed version exactly as training writes one (model, compiled twin, probe, hashes)."""
    probe = np.random.default_rng(99).normal(size=(64, len(FEATURES)))
    with model_check.scratch_dir() as scratch:
        files, integrity = model_check.seal(train_text(seed), probe, Path(scratch))
        metadata = {
            "version": name,
            "created_at": f"2026-12-0{len(registry.versions(models)) + 1}T10:00:00+00:00",
            "features": FEATURES,
            "test_metrics": {"NDCG@10": 0.3 + seed / 100},
            model_check.INTEGRITY_KEY: integrity,
            **extra,
        }
        return registry.write_version(
            models, name, {**files, "metadata.json": json.dumps(metadata)}
        )


def reseal(version: Path) -> None:
    """Rewrite the hashes to match the files (a corruption the hash check alone cannot see)."""
    meta = json.loads((version / "metadata.json").read_text())
    hashes = meta[model_check.INTEGRITY_KEY]["sha256"]
    for name in hashes:
        if (version / name).exists():
            hashes[name] = model_check.sha256(version / name)
    (version / "metadata.json").write_text(json.dumps(meta))


def corrupt(kind: str, version: Path, other: Path) -> None:
    """Break `version` in one of the ways seen in production (`other`: another model)."""
    model, so, meta = version / "model.txt", version / "model.so", version / "metadata.json"
    if kind.startswith("truncated model.txt"):
        text = model.read_bytes()
        model.write_bytes(text[: len(text) // 2])
    elif kind.startswith("empty model.txt"):
        model.write_bytes(b"")
    elif kind.startswith("garbage model.so"):
        so.write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    elif kind.startswith("model.so of another model"):
        so.write_bytes((other / "model.so").read_bytes())
    elif kind == "bad metadata.json":
        meta.write_text('{"version": "v", "features": [')
    elif kind == "metadata.json without hashes":
        data = json.loads(meta.read_text())
        del data[model_check.INTEGRITY_KEY]
        meta.write_text(json.dumps(data))
    elif kind == "missing probe.npz":
        (version / model_check.PROBE_FILE).unlink()
    else:
        raise ValueError(kind)
    if kind.endswith("(hashes rewritten)"):
        reseal(version)


KINDS = [
    "truncated model.txt",
    "truncated model.txt (hashes rewritten)",
    "empty model.txt",
    "empty model.txt (hashes rewritten)",
    "garbage model.so",
    "garbage model.so (hashes rewritten)",
    "model.so of another model",
    "model.so of another model (hashes rewritten)",
    "bad metadata.json",
    "metadata.json without hashes",
    "missing probe.npz",
]
