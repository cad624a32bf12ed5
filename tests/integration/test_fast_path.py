"""The fast sampler gives, under greedy decoding, the text of a plain ``model.generate`` per prompt.

The tiny model's weights are redrawn at a larger scale: at its initial scale it answers every
prompt with the same token, which would hide a wrong mask or a wrong position.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srlm.backends.base import Sampling
from srlm.backends.transformers_backend import TransformersBackend, plan_batches, sample_next, stop_token_ids
from srlm.judging.templates import fill, load_template
from srlm.runtime.models import load_model, load_tokenizer

QUESTIONS = ["Why is the sky blue?", "Write a poem about the sea.", "Explain", "Add 1 point if the response is relevant and helpful, then explain why the score is 4."]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir: Path):
    model, tokenizer = load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0.0, 0.3, generator=generator)
    return model, tokenizer


def plain_texts(backend: TransformersBackend, conversations: list, max_new_tokens: int) -> list[str]:
    """One ``model.generate`` per prompt, no batching, no cache tricks."""
    texts = []
    for conversation in conversations:
        ids = torch.tensor([backend.encode(conversation)], device=backend.model.device)
        out = backend.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=backend.stop_ids, pad_token_id=backend.tokenizer.pad_token_id)
        new = out[0, ids.shape[1] :].tolist()
        # generate keeps the stop token; a stop token that is not special would be decoded.
        new = next((new[:i] for i, token in enumerate(new) if token in backend.stop_ids), new)
        texts.append(backend.tokenizer.decode(new, skip_special_tokens=True).strip())
    return texts


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("batch_size,n", [(16, 1), (3, 2), (1, 1)])
def test_greedy_fast_path_equals_plain_generate(model_and_tokenizer, batch_size: int, n: int) -> None:
    model, tokenizer = model_and_tokenizer
    backend = TransformersBackend(model, tokenizer, batch_size=batch_size)
    conversations = [user(q) for q in QUESTIONS]
    ours = backend.generate(conversations, Sampling(temperature=0, max_new_tokens=12, n=n))
    expected = plain_texts(backend, conversations, 12)
    assert all(len(set(samples)) == 1 for samples in ours)
    assert [samples[0] for samples in ours] == expected
    assert any(text for text in expected)  # the comparison is about real text


def test_judge_prompts_share_a_cached_prefix_with_identical_output(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    template = load_template("additive_5pt")
    backend = TransformersBackend(model, tokenizer, batch_size=4)
    first = [user(fill(template, prompt=q, response="An answer " * (i + 1))) for i, q in enumerate(QUESTIONS)]
    ours = backend.generate(first, Sampling(temperature=0, max_new_tokens=10))
    assert backend._prefix is not None and len(backend._prefix.ids) >= backend.min_prefix_tokens
    assert [s[0] for s in ours] == plain_texts(backend, first, 10)
    # A second call reuses the cached rubric (cropped to what these prompts share).
    second = [user(fill(template, prompt=q[::-1], response="Other text.")) for q in QUESTIONS[:3]]
    ours = backend.generate(second, Sampling(temperature=0, max_new_tokens=10))
    assert [s[0] for s in ours] == plain_texts(backend, second, 10)


def test_rows_that_stop_early_leave_the_batch_without_changing_the_others(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    backend = TransformersBackend(model, tokenizer, batch_size=8)
    conversations = [user(q) for q in QUESTIONS]
    free = backend.generate_ids(conversations, Sampling(temperature=0, max_new_tokens=10))
    # Make a token that one answer writes early a stop token: rows then end at different steps.
    backend.stop_ids = sorted(set(backend.stop_ids) | {free[0][0][2]})
    ours = backend.generate(conversations, Sampling(temperature=0, max_new_tokens=10))
    expected = plain_texts(backend, conversations, 10)
    assert [s[0] for s in ours] == expected
    assert len(backend.generate_ids(conversations[:1], Sampling(temperature=0, max_new_tokens=10))[0][0]) == 2
    backend.drop_finished = False  # stopped rows stay in the batch: same text
    assert backend.generate(conversations, Sampling(temperature=0, max_new_tokens=10)) == ours


def test_plain_path_is_the_same_as_the_fast_path(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    conversations = [user(q) for q in QUESTIONS]
    sampling = Sampling(temperature=0, max_new_tokens=8, n=2)
    fast = TransformersBackend(model, tokenizer, batch_size=4).generate(conversations, sampling)
    plain = TransformersBackend(model, tokenizer, batch_size=4, fast=False).generate(conversations, sampling)
    assert fast == plain


def test_sampling_depends_on_the_seed_only(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    backend = TransformersBackend(model, tokenizer, batch_size=4)
    conversations = [user(q) for q in QUESTIONS]
    a = backend.generate(conversations, Sampling(temperature=1.0, top_p=0.9, max_new_tokens=8, n=3, seed=1))
    b = backend.generate(conversations, Sampling(temperature=1.0, top_p=0.9, max_new_tokens=8, n=3, seed=1))
    c = backend.generate(conversations, Sampling(temperature=1.0, top_p=0.9, max_new_tokens=8, n=3, seed=2))
    assert a == b and a != c
    assert all(len(samples) == 3 for samples in a)


def test_end_of_turn_token_stops_generation(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    model.generation_config.eos_token_id = None
    try:
        assert tokenizer.convert_tokens_to_ids("<|im_end|>") in stop_token_ids(model, tokenizer)
    finally:
        model.generation_config.eos_token_id = tokenizer.eos_token_id


def test_every_sample_is_planned_once_within_the_batch_size() -> None:
    for lengths, n, size in [([5, 3, 9, 1], 4, 16), ([2, 2, 2], 5, 3), ([7], 1, 1), ([4, 8], 7, 4)]:
        batches = plan_batches(lengths, n, size)
        assert all(sum(count for _, _, count in batch) <= size for batch in batches)
        slots = sorted((conv, first + k) for batch in batches for conv, first, count in batch for k in range(count))
        assert slots == [(conv, k) for conv in range(len(lengths)) for k in range(n)]


def test_nucleus_sampling_keeps_the_tokens_a_full_sort_keeps() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 500, generator=generator) * 3
    logits[3] *= 0.01  # a nearly flat row: the nucleus is most of the vocabulary
    sampling = Sampling(temperature=0.7, top_p=0.9)
    probs = torch.softmax(logits / 0.7, dim=-1)
    ordered, order = probs.sort(dim=-1, descending=True)
    kept = torch.zeros_like(probs, dtype=torch.bool).scatter_(-1, order, ordered.cumsum(-1) - ordered < 0.9)
    for _ in range(200):
        tokens = sample_next(logits, sampling, generator)
        assert kept[torch.arange(6), tokens].all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_greedy_fast_path_equals_plain_generate_on_gpu(model_and_tokenizer) -> None:
    import copy

    model, tokenizer = model_and_tokenizer
    backend = TransformersBackend(copy.deepcopy(model).to("cuda"), tokenizer, batch_size=4)
    template = load_template("additive_5pt")
    conversations = [user(q) for q in QUESTIONS] + [user(fill(template, prompt=q, response="An answer.")) for q in QUESTIONS[:3]]
    ours = backend.generate(conversations, Sampling(temperature=0, max_new_tokens=12, n=2))
    expected = [plain_texts(backend, [c], 12)[0] for c in conversations]
    assert [samples[0] for samples in ours] == expected
    sampled = backend.generate(conversations, Sampling(temperature=0.8, top_p=0.9, max_new_tokens=8, n=3, seed=3))
    assert sampled == backend.generate(conversations, Sampling(temperature=0.8, top_p=0.9, max_new_tokens=8, n=3, seed=3))
