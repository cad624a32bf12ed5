"""Scores from the digit probabilities after ``Score: ``, instead of the sampled digit.

Two uses, both off by default and both needing the model's logits (the in-process
transformers backend only):
- ``judge.expected_score_fallback``: a judgment without a parsable score is continued with
  ``"\\nScore: "`` and the probabilities of the next token being "0".."5" give its score;
- ``judge.scoring: expected``: every judgment's score is the expected digit at its own
  ``Score: `` label (``expected_scores``), a continuous score where sampled digits tie.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from srlm.backends.base import Conversation


def digit_token_ids(tokenizer: Any, max_score: int = 5) -> list[int] | None:
    """Token ids of "0".."max_score" when each digit is a single token, else None."""
    ids = []
    for digit in range(max_score + 1):
        encoded = tokenizer(str(digit), add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            return None
        ids.append(encoded[0])
    return ids


def fallback_scores(backend: Any, conversations: Sequence[Conversation], judgments: Sequence[str], max_score: int = 5) -> list[float | None]:
    """``judge.expected_score_fallback``: the expected digit after each whole judgment continued
    with ``"\\nScore: "`` (for judgments whose written score could not be parsed)."""
    return _digit_expectations(backend, conversations, [j.rstrip() + "\nScore: " for j in judgments], max_score)


def expected_score(backend: Any, conversation: Conversation, judgment: str, max_score: int = 5) -> float | None:
    """Expected score from the digit probabilities after ``judgment + "\\nScore: "``."""
    return fallback_scores(backend, [conversation], [judgment], max_score)[0]


_SCORE_LABEL = re.compile(r"score\s*:", re.IGNORECASE)


def up_to_score(judgment: str) -> str:
    """The judgment up to its last ``Score:`` label, with ``"Score: "`` written the way the
    EFT rows teach it; without a label, ``"\\nScore: "`` is appended.

    >>> up_to_score("Relevant and complete.\\nScore: 4")
    'Relevant and complete.\\nScore: '
    >>> up_to_score("Off topic.")
    'Off topic.\\nScore: '
    """
    labels = list(_SCORE_LABEL.finditer(judgment))
    if not labels:
        return judgment.rstrip() + "\nScore: "
    return judgment[: labels[-1].start()] + "Score: "


def expected_scores(backend: Any, conversations: Sequence[Conversation], judgments: Sequence[str], max_score: int = 5) -> list[float | None]:
    """Expected digit score of each ``(conversation, judgment)``: the probabilities of "0".."5"
    as the next token after the judgment's own ``Score: `` (``judge.scoring: expected``).

    The sampled judgment is kept up to its score label, so the justification the model wrote
    conditions the score, and the sampled digit is replaced by its expectation: a continuous
    score that separates responses the sampled digits would tie.
    """
    return _digit_expectations(backend, conversations, [up_to_score(j) for j in judgments], max_score)


def _digit_expectations(backend: Any, conversations: Sequence[Conversation], continuations: Sequence[str], max_score: int) -> list[float | None]:
    """The expected next digit after each conversation's assistant turn opened with its
    continuation (text ending in ``Score: ``); all ``None`` without the model's logits.

    The backend computes the logits in batches, with the judge rubric's cached KV (one forward
    of each suffix).
    """
    tokenizer = getattr(backend, "tokenizer", None)
    digits = digit_token_ids(tokenizer, max_score) if tokenizer is not None else None
    if digits is None or not hasattr(backend, "next_token_logits"):
        return [None] * len(continuations)
    if not continuations:
        return []
    rows = [backend.encode(c) + tokenizer(text, add_special_tokens=False)["input_ids"] for c, text in zip(conversations, continuations)]
    probs = torch.softmax(backend.next_token_logits(rows)[:, digits], dim=-1)
    return [float(p) for p in probs @ torch.arange(max_score + 1, dtype=torch.float32)]
