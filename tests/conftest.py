"""Shared fixtures: a tiny random model made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a 2-layer random Llama with a ChatML tokenizer (integration tests)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")
