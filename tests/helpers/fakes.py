"""The base of the hand-written backends in tests: every ``srlm.backends.base.Backend`` method.

A test double subclasses ``FakeBackend`` and writes only ``generate``; it counts words as
tokens, exposes no next-token probabilities (like an HTTP server) and holds nothing to free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from srlm.backends.base import Conversation, Sampling


class FakeBackend:
    """``Backend`` with scripted text: override ``generate``."""

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        return None

    def close(self) -> None:
        pass
