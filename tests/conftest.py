"""Shared fixtures: a tiny random model made once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a 2-layer random Llama with a ChatML tokenizer (integration tests)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")
