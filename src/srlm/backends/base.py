"""The interface every text-generation backend implements (transformers, vLLM, HTTP).

Callers type their backend arguments with ``Backend``; a backend is any object with these
methods (a ``Protocol``: nothing to inherit). Test doubles implement the same methods.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    """Generates text from conversations and, where the engine allows, scores next tokens."""

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` continuations per conversation, one list per conversation, in input
        order. The backend applies the model's chat template and opens the assistant turn."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` under this backend's tokenizer (for length control)."""
        ...

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        """Per conversation, the mean of ``token_values`` under the next-token distribution
        after its assistant turn opened with its continuation, renormalised over those tokens.

        ``judging.expected`` asks for the digits "0".."5" after ``Score: `` this way. ``None``
        when the engine does not expose next-token probabilities (HTTP servers, vLLM here) or
        a key of ``token_values`` is not a single token of its tokenizer.
        """
        ...

    def close(self) -> None:
        """Release the model's memory (GPU engines); a no-op where there is nothing to free."""
        ...
