"""Model registry on the file system: one folder per training run, `current` points at one.

    data/models/
      v20261122-120301-3fa9c1/   model.txt, metadata.json, metrics.json, report.html
      current -> v20261122-120301-3fa9c1

A version folder is written under a temporary name and renamed into place when complete,
and `current` is a symlink replaced with an atomic rename, so a reader (the server polling
for new models) sees either the old model or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CURRENT = "current"


@dataclass(frozen=True)
class Decision:
    """Whether a new version replaced `current`, and why."""

    promoted: bool
    reason: str


def current_dir(models: Path) -> Path | None:
    """The folder `current` points at, or None when nothing was promoted yet."""
    link = models / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    return target if target.is_dir() else None


def current_version(models: Path) -> str | None:
    target = current_dir(models)
    return target.name if target else None


def versions(models: Path) -> list[str]:
    """All complete versions, oldest first."""
    if not models.exists():
        return []
    return sorted(
        p.name
        for p in models.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "metadata.json").exists()
    )


def write_version(models: Path, version: str, files: dict[str, Path | bytes | str]) -> Path:
    """Write a complete version folder atomically (temp folder, then rename).

    Args:
        models: Registry root.
        version: Folder name, unique per run.
        files: File name -> source path to copy, or bytes/str content to write.
    """
    models.mkdir(parents=True, exist_ok=True)
    final = models / version
    if final.exists():
        raise FileExistsError(f"{final} exists: model versions are immutable; pick a new version")
    staging = models / f".{version}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, content in files.items():
        target = staging / name
        if isinstance(content, Path):
            shutil.copy2(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    staging.rename(final)
    return final


def promote(models: Path, version: str) -> None:
    """Point `current` at `version` with one atomic rename."""
    target = models / version
    if not (target / "metadata.json").exists():
        raise FileNotFoundError(f"{target} is not a complete model version (no metadata.json)")
    tmp = models / f".{CURRENT}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)  # relative link: the registry folder can move as a whole
    tmp.replace(models / CURRENT)


def read_metadata(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "metadata.json").read_text())


def gate(
    *,
    new: dict[str, float],
    current: dict[str, float] | None,
    current_version: str | None,
    metric: str,
    window: str,
) -> Decision:
    """Promote only when the new model is at least as good as `current` on the same window.

    Args:
        new: The new model's metrics on the test window.
        current: The current model's metrics on the same queries (None: no current model,
            or it cannot be scored with today's features).
        current_version: Name of the current version, for the message.
        metric: The metric that decides (NDCG@10).
        window: Description of the test window, for the message.
    """
    if current_version is None:
        return Decision(True, "no current model: promoted the first version")
    if current is None:
        return Decision(
            True,
            f"current model {current_version} cannot be scored with the present feature "
            "service; promoted the new model, which can",
        )
    new_value, old_value = new[metric], current[metric]
    if new_value >= old_value:
        return Decision(
            True,
            f"{metric} {new_value:.4f} >= {old_value:.4f} of {current_version} on {window}",
        )
    return Decision(
        False,
        f"not promoted: {metric} {new_value:.4f} < {old_value:.4f} of current {current_version} "
        f"on the same test window ({window}); the new version stays in the registry and "
        "`recsys promote <version>` can force it",
    )
