import json
from pathlib import Path

import pytest

from recsys import registry


def _version(models: Path, name: str) -> Path:
    return registry.write_version(
        models, name, {"metadata.json": json.dumps({"version": name}), "model.txt": "tree"}
    )


def test_versions_are_immutable_and_current_switches_atomically(tmp_path: Path) -> None:
    models = tmp_path / "models"
    _version(models, "v1")
    with pytest.raises(FileExistsError):
        _version(models, "v1")
    assert registry.current_dir(models) is None
    registry.promote(models, "v1")
    assert registry.current_version(models) == "v1"
    _version(models, "v2")
    registry.promote(models, "v2")
    assert registry.current_version(models) == "v2"
    assert (models / "current").is_symlink()
    assert registry.versions(models) == ["v1", "v2"]
    assert not list(models.glob(".*"))  # no temporary leftovers


def test_gate_refuses_a_worse_model_and_says_why() -> None:
    decision = registry.gate(
        new={"NDCG@10": 0.20},
        current={"NDCG@10": 0.25},
        current_version="v1",
        metric="NDCG@10",
        window="test window W",
    )
    assert not decision.promoted
    assert "0.2000 < 0.2500" in decision.reason and "v1" in decision.reason
    assert "test window W" in decision.reason
    assert registry.gate(
        new={"NDCG@10": 0.25},
        current={"NDCG@10": 0.25},
        current_version="v1",
        metric="NDCG@10",
        window="W",
    ).promoted
    assert registry.gate(
        new={"NDCG@10": 0.1}, current=None, current_version=None, metric="NDCG@10", window="W"
    ).promoted
