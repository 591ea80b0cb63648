"""Is a model version safe to serve? Checked in a separate process, because it may not be.

LightGBM and LLVM abort the whole process on some broken files (a truncated model text, a
shared object that is not one), so a version is opened first in a child process
(`python -m recsys.model_check <version dir>`): if the child dies, only the child dies.

What a version must hold to pass (written at training time by `seal`):
- metadata.json parses and names the version and its features;
- model.txt, model.so (the lleaves-compiled twin) and probe.npz match the sha256 hashes in
  metadata.json's `integrity` (a model.so left from another model fails here);
- LightGBM loads model.txt and the compiled model loads model.so, and both score the probe
  batch (feature rows saved at training) as LightGBM did at training, within tolerance.

The child prints one line, `ok` or the reason, and exits 0 or 1; `validate` turns a crash,
a signal or a timeout into a reason too.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

MODEL_FILE = "model.txt"
COMPILED_FILE = "model.so"  # the lleaves-compiled twin of model.txt
METADATA_FILE = "metadata.json"

PROBE_FILE = "probe.npz"
INTEGRITY_KEY = "integrity"
PROBE_ROWS = 256
# LightGBM imports these when they are installed (6 of its 8 s start-up on a busy machine);
# the check needs none of them, and a model is picked up only after its check.
_NOT_NEEDED_BY_THE_CHECK: Final = ("sklearn", "dask", "pandas")
# Compiled (lleaves) and LightGBM scores of the same trees agree to ~1e-12; a different model
# differs by far more than this.
TOLERANCE = 1e-6
DEFAULT_TIMEOUT_S = 120.0
RETRAIN = "retrain it with `make train` (or roll back with `recsys models rollback`)"


class InvalidModelError(Exception):
    """A version failed its check; the message says what was expected and found."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reason: str


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seal(model_text: str, probe_x: np.ndarray, workdir: Path) -> tuple[dict[str, Path], dict]:
    """Compile the model, score the probe batch and hash the artifacts (at training time).

    Args:
        model_text: LightGBM model text (what goes into model.txt).
        probe_x: Feature rows in the model's feature order (a few hundred test rows).
        workdir: Empty scratch folder; the returned files live there.

    Returns:
        (files for `registry.write_version`, the `integrity` block for metadata.json).
    """
    import lightgbm as lgb

    model_path = workdir / MODEL_FILE
    model_path.write_text(model_text)
    probe_x = np.ascontiguousarray(probe_x[:PROBE_ROWS], dtype=np.float64)
    booster = lgb.Booster(model_file=str(model_path))
    expected = np.asarray(booster.predict(probe_x, num_threads=1), dtype=np.float64)
    probe_path = workdir / PROBE_FILE
    with probe_path.open("wb") as handle:
        np.savez(handle, x=probe_x, scores=expected)
    files = {MODEL_FILE: model_path, PROBE_FILE: probe_path}
    compiled = _compile(model_path, workdir / COMPILED_FILE)
    if compiled is not None:
        files[COMPILED_FILE] = compiled
    integrity: dict[str, str | None] = {name: sha256(path) for name, path in files.items()}
    integrity.setdefault(COMPILED_FILE, None)  # None: no compiled twin (lleaves unavailable)
    return files, {"sha256": integrity, "probe_rows": len(probe_x), "tolerance": TOLERANCE}


def _compile(model_path: Path, target: Path) -> Path | None:
    try:
        import lleaves
    except ImportError:  # pragma: no cover - lleaves is a declared dependency
        return None
    lleaves.Model(model_file=str(model_path)).compile(cache=str(target))
    return target


def check(version_dir: Path) -> None:
    """Run every check in this process (the child's job); raise InvalidModelError on failure.

    Call it only in a process that may die: a broken file can abort it.
    """
    version_dir = Path(version_dir)
    metadata = _metadata(version_dir)
    hashes = _hashes(version_dir, metadata)
    probe = version_dir / PROBE_FILE
    with np.load(probe) as data:
        probe_x, expected = data["x"], data["scores"]
    features = metadata["features"]
    if probe_x.ndim != 2 or probe_x.shape[1] != len(features):
        raise InvalidModelError(
            f"{probe}: expected rows of {len(features)} features, found shape {probe_x.shape}"
        )

    import lightgbm as lgb

    model_path = version_dir / MODEL_FILE
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as exc:
        raise InvalidModelError(f"LightGBM cannot load {model_path}: {exc}") from exc
    if booster.num_feature() != len(features):
        raise InvalidModelError(
            f"{model_path} expects {booster.num_feature()} features, metadata.json lists "
            f"{len(features)}"
        )
    tolerance = float(metadata[INTEGRITY_KEY].get("tolerance", TOLERANCE))
    _compare("LightGBM", np.asarray(booster.predict(probe_x, num_threads=1)), expected, tolerance)
    if hashes.get(COMPILED_FILE):
        import lleaves

        compiled = lleaves.Model(model_file=str(model_path))
        compiled.compile(cache=str(version_dir / COMPILED_FILE))
        scores = np.asarray(compiled.predict(probe_x, n_jobs=1))
        _compare(f"the compiled {COMPILED_FILE}", scores, expected, tolerance)


def _metadata(version_dir: Path) -> dict[str, Any]:
    path = version_dir / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidModelError(f"{path} not found: not a complete model version") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise InvalidModelError(f"{path}: expected a JSON object, found {type(metadata).__name__}")
    for key, kind in (("version", str), ("features", list)):
        if not isinstance(metadata.get(key), kind):
            raise InvalidModelError(
                f"{path}: expected `{key}` ({kind.__name__}), found {metadata.get(key)!r}"
            )
    if not isinstance(metadata.get(INTEGRITY_KEY), dict):
        raise InvalidModelError(
            f"{path} has no `{INTEGRITY_KEY}` hashes: the version was trained before models "
            f"were sealed and cannot be checked; {RETRAIN}"
        )
    return metadata


def _hashes(version_dir: Path, metadata: dict[str, Any]) -> dict[str, str | None]:
    hashes = metadata[INTEGRITY_KEY].get("sha256") or {}
    for name in (MODEL_FILE, PROBE_FILE, COMPILED_FILE):
        expected = hashes.get(name)
        if expected is None and name == COMPILED_FILE:
            continue
        path = version_dir / name
        if not path.exists():
            raise InvalidModelError(f"{path} not found; {RETRAIN}")
        found = sha256(path)
        if found != expected:
            raise InvalidModelError(
                f"{path} does not match metadata.json: expected sha256 {str(expected)[:12]}..., "
                f"found {found[:12]}... (changed or replaced after training); {RETRAIN}"
            )
    return hashes


def _compare(what: str, scores: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    if scores.shape != expected.shape:
        raise InvalidModelError(
            f"{what} returned {scores.shape} scores for the probe batch, expected {expected.shape}"
        )
    worst = float(np.max(np.abs(scores - expected))) if len(expected) else 0.0
    if not np.isfinite(worst) or worst > tolerance:
        raise InvalidModelError(
            f"{what} scores the probe batch differently from training: max difference "
            f"{worst:.3g} > {tolerance:g}; {RETRAIN}"
        )


def validate(version_dir: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Check a version in a child process; never raises, never lets a crash reach the caller."""
    command = [sys.executable, "-m", "recsys.model_check", str(version_dir)]
    # lleaves/numba/LightGBM threads are not needed for a 256-row probe
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(
            False, f"{version_dir.name}: model check timed out after {timeout_s:g} s"
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if done.returncode == 0 and last == "ok":
        return CheckResult(True, "ok")
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
        return CheckResult(
            False,
            f"{version_dir.name}: loading the model crashed the check process ({name}"
            + (f": {tail}" if tail else "")
            + f"); {RETRAIN}",
        )
    if not last:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        last = f"model check failed (exit {done.returncode}): {last}"
    return CheckResult(False, f"{version_dir.name}: {last}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m recsys.model_check <model version folder>")
        return 2
    try:
        check(Path(argv[0]))
    except InvalidModelError as exc:
        print(_one_line(str(exc)))
        return 1
    except Exception as exc:  # any other failure to load is a reason to refuse the version
        print(_one_line(f"cannot load the model: {type(exc).__name__}: {exc}")[:500])
        return 1
    print("ok")
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for `seal` (callers use it as a context manager)."""
    return tempfile.TemporaryDirectory(prefix="recsys-seal-")


if __name__ == "__main__":
    for _module in _NOT_NEEDED_BY_THE_CHECK:
        sys.modules.setdefault(_module, None)  # type: ignore[arg-type]  # import -> ImportError
    raise SystemExit(main(sys.argv[1:]))
