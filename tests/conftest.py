"""Shared fixtures: a tiny random model made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_model import build_tiny_model


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``vllm_cpu`` tests start real vLLM servers (minutes each): they run only when ``-m``
    names them (``make test-vllm``), so ``make test`` keeps its time."""
    if "vllm_cpu" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="vLLM-CPU server test: run with make test-vllm (pytest -m vllm_cpu)")
    for item in items:
        if "vllm_cpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a 2-layer random Llama with a ChatML tokenizer (integration tests)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")
