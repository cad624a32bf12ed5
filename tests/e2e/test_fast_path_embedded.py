"""On the embedded SmolLM2: the fast sampler writes, greedily, what ``generate`` per prompt writes."""

from __future__ import annotations

import pytest
import torch

from srlm.backends.base import Sampling
from srlm.backends.transformers_backend import TransformersBackend
from srlm.judging.templates import fill, load_template
from srlm.runtime.models import embedded_model_dir, load_model, load_tokenizer

pytestmark = pytest.mark.e2e

ANSWERS = [("Why is the sky blue?", "Because air scatters blue light more than red."), ("Name a prime number.", "7"), ("What is 2 + 2?", "5, probably.")]


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    path = str(embedded_model_dir())
    return TransformersBackend(load_model(path), load_tokenizer(path), batch_size=16)


def plain(backend: TransformersBackend, conversation: list[dict], max_new_tokens: int) -> str:
    ids = torch.tensor([backend.encode(conversation)])
    out = backend.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=backend.stop_ids, pad_token_id=backend.tokenizer.pad_token_id)
    return backend.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_judge_requests_with_the_cached_rubric(backend: TransformersBackend) -> None:
    template = load_template("additive_5pt")
    requests = [[{"role": "user", "content": fill(template, prompt=q, response=a)}] for q, a in ANSWERS]
    ours = backend.generate(requests, Sampling(temperature=0, max_new_tokens=8, n=3))
    assert backend._prefix is not None and len(backend._prefix.ids) > 200  # the rubric
    assert [texts[0] for texts in ours] == [plain(backend, r, 8) for r in requests]


def test_answers(backend: TransformersBackend) -> None:
    prompts = [[{"role": "user", "content": q}] for q, _ in ANSWERS]
    ours = backend.generate(prompts, Sampling(temperature=0, max_new_tokens=8))
    assert [texts[0] for texts in ours] == [plain(backend, p, 8) for p in prompts]
