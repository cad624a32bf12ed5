"""The optional expected-score fallback on a real (tiny) model's logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srlm.backends.transformers_backend import TransformersBackend, single_token_ids
from srlm.judging.expected import expected_score, expected_scores, up_to_score
from srlm.judging.judge import add_expected_means, add_expected_scores
from srlm.runtime.models import load_model, load_tokenizer

DIGITS = [str(d) for d in range(6)]


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir)))


def test_expected_score_is_a_probability_weighted_digit(backend: TransformersBackend) -> None:
    assert single_token_ids(backend.tokenizer, DIGITS) is not None
    value = expected_score(backend, [{"role": "user", "content": "Judge this."}], "It is fine.")
    assert value is not None and 0.0 <= value <= 5.0


def test_fallback_fills_only_unparsed_samples(backend: TransformersBackend) -> None:
    row = {"judgments": ["Good.\nScore: 4", "no score here"], "scores": [4.0, None], "mean_score": 4.0}
    add_expected_scores(backend, row, [{"role": "user", "content": "Judge this."}])
    assert row["scores"] == [4.0, None]  # the parsed record is never rewritten
    assert row["expected_scores"][0] is None and 0.0 <= row["expected_scores"][1] <= 5.0
    # The fallback continues the whole judgment with "\nScore: ".
    assert row["expected_scores"][1] == pytest.approx(plain_expected(backend.model, backend.tokenizer, backend, [{"role": "user", "content": "Judge this."}], "no score here\nScore: "), abs=1e-4)
    assert row["mean_score"] == pytest.approx((4.0 + row["expected_scores"][1]) / 2)


def test_no_logits_no_fallback() -> None:
    class Remote:  # an engine that exposes no next-token probabilities (an HTTP server)
        def next_token_expectations(self, conversations, continuations, token_values):  # noqa: ANN001, ANN202
            return None

    assert expected_score(Remote(), [{"role": "user", "content": "x"}], "y") is None


def plain_expected(model, tokenizer, backend: TransformersBackend, conversation: list[dict], continuation: str) -> float:  # noqa: ANN001
    """The reference: one unpadded, uncached forward of the whole sequence."""
    ids = backend.encode(conversation) + tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    probs = torch.softmax(logits[single_token_ids(tokenizer, DIGITS)].float(), dim=-1)
    return float((probs * torch.arange(6)).sum())


RUBRIC = "Review the user's question and the response below with the additive five-point rubric, one point per criterion met. " * 3


@pytest.mark.parametrize("fast", [True, False])
def test_batched_expected_scores_equal_one_at_a_time(tiny_model_dir: Path, fast: bool) -> None:
    """Batches (the shared rubric's KV cached, pads between prefix and suffix) change nothing:
    each row's score is what a plain forward of it alone gives."""
    backend = TransformersBackend(load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir)), batch_size=2, fast=fast)
    conversations = [[{"role": "user", "content": RUBRIC + tail}] for tail in ("Short.", "A much longer answer to judge, with more words in it.", "Mid length answer.")]
    judgments = ["Fine.\nScore: 3", "It rambles.\nScore: 1", "no label"]
    batched = expected_scores(backend, conversations, judgments)
    alone = [plain_expected(backend.model, backend.tokenizer, backend, c, up_to_score(j)) for c, j in zip(conversations, judgments)]
    assert batched == pytest.approx(alone, abs=1e-4)
    assert all(0.0 <= value <= 5.0 for value in batched)
    if fast:
        assert backend._prefix is not None and len(backend._prefix.ids) >= 32  # the cached path ran


def test_expected_scoring_scores_every_sample(backend: TransformersBackend) -> None:
    rows = [{"judgments": ["Good.\nScore: 4", "no score here"], "scores": [4.0, None], "mean_score": 4.0}]
    add_expected_means(backend, rows, [[{"role": "user", "content": "Judge this."}]])
    values = rows[0]["expected_scores"]
    assert len(values) == 2 and all(0.0 <= v <= 5.0 for v in values)
    assert rows[0]["scores"] == [4.0, None]  # the written digits stay for parse counts
    assert rows[0]["mean_score"] == pytest.approx(sum(values) / 2)


def test_plain_path_reads_logits_of_a_model_without_logits_to_keep(tiny_model_dir: Path) -> None:
    """A forward without ``logits_to_keep`` sends a model down the plain path; its expected
    scores are still the plain forward's."""
    inner = load_model(str(tiny_model_dir))

    class NoLogitsToKeep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.config, self.generation_config = inner, inner.config, inner.generation_config

        @property
        def device(self) -> torch.device:
            return inner.device

        def forward(self, input_ids, attention_mask=None, position_ids=None):  # noqa: ANN001
            return inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)

    backend = TransformersBackend(NoLogitsToKeep(), load_tokenizer(str(tiny_model_dir)), batch_size=2)
    assert not backend.fast
    conversations = [[{"role": "user", "content": RUBRIC + tail}] for tail in ("Short.", "A much longer answer to judge, with more words.")]
    judgments = ["Fine.\nScore: 3", "It rambles.\nScore: 1"]
    alone = [plain_expected(inner, backend.tokenizer, backend, c, up_to_score(j)) for c, j in zip(conversations, judgments)]
    assert expected_scores(backend, conversations, judgments) == pytest.approx(alone, abs=1e-4)
