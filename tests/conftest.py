"""Shared fixtures: a tiny random model made once per test session."""

from __future__ import annotations

import os
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Under ``SRLM_REQUIRE_ENGINES=1`` (``make test-http``, ``make test-vllm``, so ``.ci/run``) a
    skipped test is a failure: an engine that did not install or start must fail CI, not pass it
    with every test skipped."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("SRLM_REQUIRE_ENGINES") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under SRLM_REQUIRE_ENGINES=1, which makes a skip a failure: {reason}"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a 2-layer random Llama with a ChatML tokenizer (integration tests)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")
