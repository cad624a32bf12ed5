"""Optional fallback score: the expected value of the digit after a forced ``Score: ``.

Off by default (``judge.expected_score_fallback``). When a judgment has no parsable score, the
judge's text is continued with ``"\\nScore: "`` and the probabilities of the next token being
"0".."5" give an expected score. It needs the model's logits, so it works with the in-process
transformers backend only.
"""

from __future__ import annotations

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
