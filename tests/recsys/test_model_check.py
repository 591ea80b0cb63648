"""A broken model version is refused, with its reason, before it can become current.

Every version here is real: a LightGBM model compiled with lleaves, then broken on disk the
way it happened in production. The check runs in a child process, so a file that aborts
LightGBM or LLVM kills the child, not the test (or the server).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from recsys import model_check, registry
from tests.recsys.model_versions import KINDS, corrupt, make_version

runner = CliRunner()

EXPECTED_REASON = {
    "truncated model.txt": "does not match metadata.json",
    "empty model.txt": "does not match metadata.json",
    "garbage model.so": "does not match metadata.json",
    "model.so of another model": "does not match metadata.json",
    "truncated model.txt (hashes rewritten)": "",
    "empty model.txt (hashes rewritten)": "",
    "garbage model.so (hashes rewritten)": "",
    "model.so of another model (hashes rewritten)": "scores the probe batch differently",
    "bad metadata.json": "is not valid JSON",
    "metadata.json without hashes": "retrain",
    "missing probe.npz": "probe.npz not found",
}


@pytest.fixture
def models(data_dir: Path) -> Path:
    models = data_dir / "models"
    make_version(models, "v1-good", seed=1)
    make_version(models, "v2-other", seed=2)
    registry.promote(models, "v1-good")
    return models


def test_a_sealed_version_passes_and_promotes(models: Path) -> None:
    assert model_check.validate(models / "v2-other") == model_check.CheckResult(True, "ok")
    result = runner.invoke(app, ["promote", "v2-other"])
    assert result.exit_code == 0, result.output
    assert registry.current_version(models) == "v2-other"


@pytest.mark.parametrize("kind", KINDS)
def test_promote_refuses_a_broken_version_with_the_reason(models: Path, kind: str) -> None:
    bad = make_version(models, "v3-bad", seed=3)
    corrupt(kind, bad, models / "v2-other")
    result = runner.invoke(app, ["promote", "v3-bad"])
    assert result.exit_code == 1, result.output
    assert "Refused: v3-bad:" in result.output
    assert EXPECTED_REASON[kind] in result.output
    assert registry.current_version(models) == "v1-good"  # nothing moved


def test_models_list_shows_versions_metrics_and_current(models: Path) -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("* v1-good") and "0.3100" in line for line in lines)
    assert any(line.startswith("  v2-other") and "0.3200" in line for line in lines)


def test_rollback_skips_broken_versions_and_lands_on_the_newest_good_one(models: Path) -> None:
    make_version(models, "v3-broken", seed=3)
    corrupt("garbage model.so", models / "v3-broken", models / "v2-other")
    make_version(models, "v4-new", seed=4)
    registry.promote(models, "v4-new")
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 0, result.output
    assert "skipped v3-broken" in result.output
    assert registry.current_version(models) == "v2-other"
    registry.promote(models, "v1-good")
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 1 and "No older version passes" in result.output


def test_batch_score_refuses_a_broken_current_model(models: Path) -> None:
    corrupt("truncated model.txt (hashes rewritten)", models / "v1-good", models / "v2-other")
    result = runner.invoke(app, ["batch-score", "--no-materialize"])
    assert result.exit_code == 1, result.output
    assert "Current model refused: v1-good: loading the model crashed" in result.output
