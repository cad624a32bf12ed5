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


@torch.inference_mode()
def expected_score(backend: Any, conversation: Conversation, judgment: str, max_score: int = 5) -> float | None:
    """Expected score from the digit probabilities after ``judgment + "\\nScore: "``."""
    model, tokenizer = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
    if model is None or tokenizer is None:
        return None
    digits = digit_token_ids(tokenizer, max_score)
    if digits is None:
        return None
    suffix = tokenizer(judgment.rstrip() + "\nScore: ", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([backend.encode(conversation) + suffix], device=model.device)
    logits = model(input_ids=ids).logits[0, -1]
    probs = torch.softmax(logits[digits].float(), dim=-1)
    return float((probs * torch.arange(max_score + 1, device=probs.device)).sum())


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
    score that separates responses the sampled digits would tie. The backend computes the
    logits in batches, with the judge rubric's cached KV (one forward of each suffix).
    """
    tokenizer = getattr(backend, "tokenizer", None)
    digits = digit_token_ids(tokenizer, max_score) if tokenizer is not None else None
    if digits is None or not hasattr(backend, "next_token_logits"):
        return [None] * len(judgments)
    rows = [backend.encode(c) + tokenizer(up_to_score(j), add_special_tokens=False)["input_ids"] for c, j in zip(conversations, judgments)]
    if not rows:
        return []
    probs = torch.softmax(backend.next_token_logits(rows)[:, digits], dim=-1)
    return [float(p) for p in probs @ torch.arange(max_score + 1, dtype=torch.float32)]
