"""The interface every text-generation backend implements (transformers, vLLM, HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

# A conversation in the Hugging Face chat format: [{"role": "user", "content": "..."}, ...].
Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Decoding settings for one call. ``temperature == 0`` means greedy decoding."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    n: int = 1
    seed: int = 0


class Backend(Protocol):
    """Generates ``sampling.n`` continuations for each conversation.

    Returns one list of ``n`` texts per conversation, in input order. A backend applies the
    model's chat template itself and opens the assistant turn.
    """

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` under this backend's tokenizer (for length control)."""
        ...
