"""Filters for self-generated prompts: length, copies of the few-shot context, near-duplicates.

Near-duplicates use ROUGE-L F1 over lower-cased word tokens, as Self-Instruct (Wang et al.
2023) did with a 0.7 threshold.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens.

    >>> words("Write a Poem, please!")
    ['write', 'a', 'poem', 'please']
    """
    return _WORD.findall(text.lower())


def _lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 between two token lists.

    >>> rouge_l(words("the cat sat"), words("the cat sat"))
    1.0
    >>> round(rouge_l(words("the cat sat on the mat"), words("the dog sat on a log")), 3)
    0.5
    >>> rouge_l([], words("x"))
    0.0
    """
    if not a or not b:
        return 0.0
    lcs = _lcs_length(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(b), lcs / len(a)
    return 2 * precision * recall / (precision + recall)


class DuplicateIndex:
    """Prompts kept so far; answers whether a new one is a near-duplicate of any of them."""

    def __init__(self, threshold: float, texts: list[str] = ()) -> None:
        self.threshold = threshold
        self.tokens: list[list[str]] = [words(t) for t in texts]
        self._sets: list[set[str]] = [set(t) for t in self.tokens]

    def is_duplicate(self, text: str) -> bool:
        tokens = words(text)
        token_set = set(tokens)
        for other, other_set in zip(self.tokens, self._sets):
            # The LCS is at most the shared vocabulary's size: a cheap bound skips most pairs.
            shared = sum(min(tokens.count(w), other.count(w)) for w in token_set & other_set)
            if shared and 2 * shared / (len(tokens) + len(other)) > self.threshold and rouge_l(tokens, other) > self.threshold:
                return True
        return False

    def add(self, text: str) -> None:
        self.tokens.append(words(text))
        self._sets.append(set(self.tokens[-1]))


def clean_prompt(raw: str) -> str:
    """The first request in a model's completion, without list markers or a leading label.

    >>> clean_prompt("Task 9: Name three rivers in Africa.\\nTask 10: ...")
    'Name three rivers in Africa.'
    >>> clean_prompt("  \\n")
    ''
    """
    text = re.split(r"\n\s*(?:###\s*)?(?:Task|Request|Instruction)\s*\d+\s*[:.]", "\n" + raw.strip(), maxsplit=2)
    first = next((part for part in text if part.strip()), "")
    first = re.sub(r"^\s*(?:###\s*)?(?:Task|Request|Instruction)\s*\d*\s*[:.]\s*", "", first.strip())
    return first.strip().strip('"').strip()


def length_problem(text: str, min_words: int, max_words: int) -> str | None:
    """'empty', 'too_short', 'too_long' or None."""
    count = len(words(text))
    if not text.strip():
        return "empty"
    if count < min_words:
        return "too_short"
    if count > max_words:
        return "too_long"
    return None
