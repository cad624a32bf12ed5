"""Read the score out of a judge's output and the verdict out of a meta-judge's output.

A judgment we cannot read is not a score: both parsers return ``None`` and the caller drops
and counts it (SR section 2.3 averages the judgments that parse; turning one into 0 or -1 would make it the
"rejected" response).

Rules for ``parse_score`` (the judge prompt of Yuan et al. 2024, Fig. 2, asks for
``Score: <total points>`` at the end):

1. An *occurrence* is a ``Score:`` label (any case, so also ``Total score:``, ``**Score:**``,
   ``Score**:``, ``Score =``) followed on the same line by a number; when the rest of that line
   is empty, the next non-blank line counts only if it holds nothing but the number.
   Labels followed by no number (``Score: <total points>`` echoed from the prompt, ``Score: N/A``,
   words) are not occurrences: they are quoting the rubric, not scoring.
2. The **last** occurrence decides, because justifications often quote or revise earlier scores.
3. Accepted decorations: markdown emphasis, brackets (``[4]``, ``<4>``), a denominator
   (``4/5``, ``4 out of 5``, ``(out of 5)``), ``points`` and trailing text after a separator.
4. ``None`` when the deciding occurrence is ambiguous (``3 or 4``, ``3-4``, ``3, 4``, ``3 + 1``),
   has a denominator other than ``max_score`` (``8/10`` is not rescaled: it is not the rubric
   the judge was given), is glued to letters (``4th``), or lies outside ``[0, max_score]``.
   Number words (``four``) are not read.

Rules for ``parse_verdict`` (the meta-judge prompt of Wu et al. 2024, Fig. 2, asks for
``Winner: [Judgment A | Judgment B]``): the last ``Winner:`` label followed by a value decides
(the value on its line, or on the next non-blank line). A verdict is a value that starts with
``Judgment A``/``Judgement B`` (either spelling, any emphasis, brackets or quotes, straight or
curly) or is a bare ``A``/``B`` and nothing else. ``None`` when the deciding value is no single
verdict ("Tie", ``Judgment A | Judgment B``, ``Judgment A or B``), or when the text ends by
copying the template's two options on consecutive lines (an echo, not a decision).

The pairwise head-to-head judge names responses (``noun="response"``); the same rules hold:

>>> parse_verdict('''Response A lists the steps but gets the boiling point wrong. Response B
... is shorter and correct, and answers exactly what was asked.
...
... Winner: Response B''', "response")
'B'
>>> parse_verdict("**Winner:** [Response A]", "response"), parse_verdict("Winner: A", "response")
('A', 'A')
>>> parse_verdict("Winner: Response B\\nOn reflection B misreads the question.\\nWinner: Response A", "response")
'A'
>>> parse_verdict("Both are equally good. Winner: Tie", "response") is None
True
>>> parse_verdict("Winner: Response A or Response B", "response") is None
True
>>> parse_verdict("I will now decide.\\nWinner: Response A\\nWinner: Response B", "response") is None
True
>>> parse_verdict("Response A is better.", "response") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["A", "B"]
# A verdict mapped back to the compared models ("A" = model A won); ``None`` = no decision.
ModelVerdict = Literal["A", "B"] | None
VerdictNoun = Literal["judgment", "response"]

# Emphasis, brackets and quotes a model wraps around a value ("**4**", "[4]", '"Judgment A"').
_OPEN = r"[\s*_\[<(\"'“‘`]*"
_CLOSE = r"[*_\]>)\"'”’`]*"
_NUMBER = r"[+-]?[0-9]+(?:\.[0-9]+)?"

# The label before a score; ``judging.expected`` cuts a judgment at its last one too.
SCORE_LABEL = re.compile(r"(?<![A-Za-z])score[ \t]*[*_]*[ \t]*[:=]", re.IGNORECASE)
_SCORE_VALUE = re.compile(rf"[ \t]*{_OPEN}(?P<num>{_NUMBER})")
# What may follow the number: closing emphasis, a denominator, "points", in any order.
_SCORE_TAIL = re.compile(
    r"(?:[ \t]*[*_\]>)\"'”’`]+"
    r"|[ \t]*\(?[ \t]*(?:/|out[ \t]+of)[ \t]*(?P<den>[0-9]+(?:\.[0-9]+)?)[ \t]*\)?"
    r"|[ \t]*(?:points?|pts)\b)*",
    re.IGNORECASE,
)
# A second number joined to the first ("3 or 4", "3-4", "3, 4", "3 + 1") makes it ambiguous.
_SCORE_SECOND = re.compile(
    rf"[ \t]*(?:or|to|and|nor|&|\+|-|–|—|~|,|/|\|)[ \t]*{_OPEN}[0-9]", re.IGNORECASE
)

_WINNER_LABEL = re.compile(r"(?<![A-Za-z])winner[ \t]*[*_]*[ \t]*:", re.IGNORECASE)
# What a verdict names: the meta-judge's "Judgment A" (either spelling) or the pairwise judge's
# "Response A". Letters are case-sensitive unless the noun precedes them: a bare "a" is an article.
_NOUNS = {"judgment": r"(?i:judge?ment)", "response": r"(?i:response)"}


@dataclass(frozen=True)
class _VerdictPatterns:
    named: re.Pattern[str]
    bare: re.Pattern[str]
    second: re.Pattern[str]


def _verdict_patterns(noun: str) -> _VerdictPatterns:
    label = _NOUNS[noun]
    return _VerdictPatterns(
        named=re.compile(rf"{_OPEN}{label}[ \t]*(?P<letter>[ABab])(?![A-Za-z0-9])"),
        bare=re.compile(rf"{_OPEN}(?P<letter>[AB]){_CLOSE}[ \t]*[.!]?[ \t]*$"),
        # A second option joined to the first ("Judgment A | Judgment B", "Response A or B").
        second=re.compile(rf"{_CLOSE}[ \t]*(?:\||/|&|,|(?i:or|and|nor|vs\.?))[ \t]*{_OPEN}(?:{label}[ \t]*[ABab]|[AB])(?![A-Za-z0-9])"),
    )


_VERDICTS = {noun: _verdict_patterns(noun) for noun in _NOUNS}

# Marks "this label names a value, but not one we can use" (it still counts as the last one).
_UNUSABLE = object()


def parse_score(text: str, max_score: float = 5) -> float | None:
    """The judge's score: the last ``Score:`` with a number, or ``None`` (see module rules).

    A typical Llama-style judgment, with the rubric quoted along the way:

    >>> parse_score('''The response is relevant and addresses most of the question, so it
    ... earns the first two points. It answers the basic elements usefully (third point) and is
    ... written from an AI Assistant's perspective, though a little long-winded.
    ...
    ... Score: 4''')
    4.0
    >>> parse_score("**Justification:** Accurate, but misses the second part.\\n\\n**Score:** 3")
    3.0
    >>> parse_score("The rubric says to end with 'Score: <total points>'. Total score: 4/5 points.")
    4.0
    >>> parse_score("Score: 2\\nOn reflection the answer is complete, so revised Score: 3.5")
    3.5
    >>> parse_score("Score: 4. The response could be more concise.")
    4.0

    Refused: ambiguous, off-scale, or no score at all.

    >>> parse_score("It is between a three and a four. Score: 3 or 4") is None
    True
    >>> parse_score("Score: 8/10") is None
    True
    >>> parse_score("Score: 6") is None
    True
    >>> parse_score("I cannot evaluate this response without more context.") is None
    True
    """
    last: object = None
    for label in SCORE_LABEL.finditer(text):
        value = _score_after(text, label.end(), max_score)
        if value is not None:
            last = value
    return last if isinstance(last, float) else None


def _score_after(text: str, start: int, max_score: float) -> float | object | None:
    """The score right after a label: a float, ``_UNUSABLE``, or ``None`` (no number there)."""
    line, own_line = _value_line(text, start)
    value = _SCORE_VALUE.match(line)
    if value is None:
        return None
    tail = _SCORE_TAIL.match(line, value.end())
    rest = line[tail.end():]
    if own_line and not re.fullmatch(r"[ \t]*[.!]?[ \t]*", rest):
        return None  # a line like "1. The response ..." is a list item, not a score
    if rest[:1].isalpha() or _SCORE_SECOND.match(rest):
        return _UNUSABLE
    score = float(value.group("num"))
    denominator = tail.group("den")
    if denominator is not None and float(denominator) != max_score:
        return _UNUSABLE
    return score if 0 <= score <= max_score else _UNUSABLE


def _value_line(text: str, start: int) -> tuple[str, bool]:
    """The rest of the label's line; if that is blank, the next non-blank line (flag True)."""
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    if line.strip(" \t*_") or end < 0:
        return line, False
    for following in text[end + 1:].split("\n"):
        if following.strip():
            return following, True
    return "", False


def parse_verdict(text: str, noun: VerdictNoun = "judgment") -> Verdict | None:
    """The verdict ``"A"`` or ``"B"`` from the last ``Winner:`` line that names one, or ``None``.

    ``noun`` is what the prompt asked to name: ``"judgment"`` for the meta-judge (MR Fig. 2,
    ``Winner: [Judgment A | Judgment B]``), ``"response"`` for the pairwise head-to-head judge.
    ``None`` when no line names a winner, the last one names both or something else ("Tie"),
    or the text ends by copying the template's two options on consecutive lines (an echo).

    >>> parse_verdict('''Judgment A awards the fourth point although the response never
    ... answers the second question; Judgment B applies the rubric more faithfully.
    ...
    ... Winner: Judgment B''')
    'B'
    >>> parse_verdict("**Winner:** [Judgement A]")
    'A'
    >>> parse_verdict('Winner: "Judgment A", because Judgment B ignores the rubric.')
    'A'
    >>> parse_verdict("Winner: “Judgment B”")
    'B'
    >>> parse_verdict("Winner: Judgment A | Judgment B") is None
    True
    >>> parse_verdict("Both judgments are equally accurate.") is None
    True
    """
    patterns = _VERDICTS[noun]
    found: list[tuple[int, object]] = []  # (line number, "A" / "B" / _UNUSABLE)
    for label in _WINNER_LABEL.finditer(text):
        line_no = text.count("\n", 0, label.end())
        line, own_line = _value_line(text, label.end())
        value = _verdict_value(line, patterns)
        if value is not None:
            found.append((line_no + _line_offset(text, label.end(), own_line), value))
    if not found or found[-1][1] is _UNUSABLE:
        return None
    if len(found) >= 2 and found[-2][0] == found[-1][0] - 1 and {found[-2][1], found[-1][1]} == {"A", "B"}:
        return None  # "Winner: Judgment A\nWinner: Judgment B": the template's options copied
    return found[-1][1]  # type: ignore[return-value]


def _line_offset(text: str, start: int, own_line: bool) -> int:
    """How many lines below the label its value stands (0 unless it is on a later line)."""
    if not own_line:
        return 0
    rest = text[start:].split("\n")
    return next(k for k, line in enumerate(rest[1:], start=1) if line.strip())


def _verdict_value(line: str, patterns: _VerdictPatterns) -> str | object | None:
    """The verdict at the start of ``line``: ``"A"``/``"B"``, ``_UNUSABLE``, or ``None`` (none named)."""
    if not line.strip(" \t*_"):
        return None
    named = patterns.named.match(line) or patterns.bare.match(line)
    if named is None or patterns.second.match(line, named.end()):
        return _UNUSABLE
    return named.group("letter").upper()
