"""A one-iteration run on the tiny model (M1 by SFT, M2 by DPO), made once for the tests that
only read its files (model cards, export, TRL-ready data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from srlm.runtime.rundir import RunDir
from tests.helpers.scripted import scripted_factory, tiny_overrides


@pytest.fixture(scope="session")
def one_iteration_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """Treat as read-only: copy it before changing anything."""
    runs = tmp_path_factory.mktemp("one-iteration-runs")
    return pipeline.run(load_config(None, tiny_overrides(tiny_model_dir, runs, "iterations=1")), backend_factory=scripted_factory)
