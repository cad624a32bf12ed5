"""Scores from the digit probabilities after ``Score: ``, instead of the sampled digit.

Two uses, both off by default and both needing the model's next-token probabilities, which
only an in-process engine exposes (``Backend.next_token_expectations``; the transformers
backend computes them, the HTTP and vLLM backends return ``None`` and every score stays unset):
- ``judge.expected_score_fallback``: a judgment without a parsable score is continued with
  ``"\\nScore: "`` and the probabilities of the next token being "0".."5" give its score;
- ``judge.scoring: expected``: every judgment's score is the expected digit at its own
  ``Score: `` label (``expected_scores``), a continuous score where sampled digits tie.
"""

from __future__ import annotations

from collections.abc import Sequence

from srlm.backends.base import Backend, Conversation
from srlm.judging.parse import SCORE_LABEL


def fallback_scores(backend: Backend, conversations: Sequence[Conversation], judgments: Sequence[str], max_score: int = 5) -> list[float | None]:
    """``judge.expected_score_fallback``: the expected digit after each whole judgment continued
    with ``"\\nScore: "`` (for judgments whose written score could not be parsed)."""
    return _digit_expectations(backend, conversations, [j.rstrip() + "\nScore: " for j in judgments], max_score)


def expected_score(backend: Backend, conversation: Conversation, judgment: str, max_score: int = 5) -> float | None:
    """Expected score from the digit probabilities after ``judgment + "\\nScore: "``."""
    return fallback_scores(backend, [conversation], [judgment], max_score)[0]


def up_to_score(judgment: str) -> str:
    """The judgment up to its last ``Score:`` label, with ``"Score: "`` written the way the
    EFT rows teach it; without a label, ``"\\nScore: "`` is appended.

    >>> up_to_score("Relevant and complete.\\nScore: 4")
    'Relevant and complete.\\nScore: '
    >>> up_to_score("Off topic.")
    'Off topic.\\nScore: '
    """
    labels = list(SCORE_LABEL.finditer(judgment))
    if not labels:
        return judgment.rstrip() + "\nScore: "
    return judgment[: labels[-1].start()] + "Score: "


def expected_scores(backend: Backend, conversations: Sequence[Conversation], judgments: Sequence[str], max_score: int = 5) -> list[float | None]:
    """Expected digit score of each ``(conversation, judgment)``: the probabilities of "0".."5"
    as the next token after the judgment's own ``Score: `` (``judge.scoring: expected``).

    The sampled judgment is kept up to its score label, so the justification the model wrote
    conditions the score, and the sampled digit is replaced by its expectation: a continuous
    score that separates responses the sampled digits would tie.
    """
    return _digit_expectations(backend, conversations, [up_to_score(j) for j in judgments], max_score)


def _digit_expectations(backend: Backend, conversations: Sequence[Conversation], continuations: Sequence[str], max_score: int) -> list[float | None]:
    """The expected next digit after each conversation's assistant turn opened with its
    continuation (text ending in ``Score: ``); all ``None`` when the backend cannot say.

    The backend renormalises the probabilities of "0".."max_score" and takes their mean
    (``Backend.next_token_expectations``); the transformers backend batches it with the judge
    rubric's cached KV (one forward of each suffix).
    """
    if not continuations:
        return []
    digits = {str(d): float(d) for d in range(max_score + 1)}
    values = backend.next_token_expectations(conversations, continuations, digits)
    return list(values) if values is not None else [None] * len(continuations)
