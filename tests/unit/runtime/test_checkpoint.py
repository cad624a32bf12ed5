"""Checkpoint integrity: a safetensors file's size must match its header; shards must exist."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from srlm.runtime.checkpoint import CheckpointDamaged, verify_checkpoint, verify_run
from srlm.runtime.rundir import RunDir, mark_model_done


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    save_file({"a": np.zeros((4, 4), dtype=np.float32), "b": np.ones(3, dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def test_a_whole_checkpoint_passes(tmp_path: Path) -> None:
    verify_checkpoint(_model(tmp_path / "m"))


@pytest.mark.parametrize("cut", [1, 8, 40, 100])
def test_a_truncated_file_is_named_with_the_fix(tmp_path: Path, cut: int) -> None:
    model = _model(tmp_path / "M3" / "model")
    weights = model / "model.safetensors"
    os.truncate(weights, weights.stat().st_size - cut)
    with pytest.raises(CheckpointDamaged, match=r"model\.safetensors: checkpoint file is truncated.*delete the folder .*M3 to retrain it"):
        verify_checkpoint(model)


def test_shards_named_by_the_index_must_exist(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "model.safetensors").rename(model / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointDamaged, match="model-00002-of-00002.safetensors: checkpoint file is missing; the model folder"):
        verify_checkpoint(model)


def test_verify_run_checks_complete_models_only(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    mark_model_done(_model(run.model(1)))
    unmarked = _model(run.model(2))
    os.truncate(unmarked / "model.safetensors", 10)  # not complete: it will be retrained anyway
    assert verify_run(run) == 1
    os.truncate(run.model(1) / "model.safetensors", 10)
    with pytest.raises(CheckpointDamaged, match="M1"):
        verify_run(run)
