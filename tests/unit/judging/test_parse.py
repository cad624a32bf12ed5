"""Score and verdict parsing on realistic judge outputs, including the ones it must refuse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srlm.judging.parse import parse_score, parse_verdict

RUBRIC_ECHO = 'Conclude with the score using the format: "Score: <total points>"'

SCORES: list[tuple[str, float | None]] = [
    # The forms real judges write.
    ("The response is relevant and complete.\n\nScore: 4", 4.0),
    ("Good but wordy. Score: 4/5", 4.0),
    ("Good but wordy. Score: 4 / 5", 4.0),
    ("**Justification:** Covers most of it.\n\n**Score:** 3", 3.0),
    ("**Score: 3**", 3.0),
    ("Score: **3**", 3.0),
    ("Score**: 2", 2.0),
    ("Score: 3.5", 3.5),
    ("The answer earns the first four points.\nscore: 4 points", 4.0),
    ("Total score: 4", 4.0),
    ("Final Score: 5 out of 5 points", 5.0),
    ("Score: 4 points (out of 5)", 4.0),
    ("Score: 4. The response could be more concise, but it is accurate.", 4.0),
    ("Score: 4 - clear and direct", 4.0),
    ("Score: [4]", 4.0),
    ("Score: <2>", 2.0),
    ("score = 1", 1.0),
    ("The response is off-topic.\nScore: 0", 0.0),
    ("Score: 5/5.", 5.0),
    ("**Score:**\n\n4", 4.0),
    # The last occurrence wins; quoting the rubric's format does not count.
    ("First impression, Score: 2. After checking the facts again: Score: 3", 3.0),
    (f"Score: 3\n\nUser: what is 2+2?\n{RUBRIC_ECHO}", 3.0),
    (f"{RUBRIC_ECHO}\nThe response is fine.\nScore: 4", 4.0),
    ("Score: 4\nScore: N/A", 4.0),
    # Refused: no score, ambiguous, off-scale, wrong scale.
    ("", None),
    ("I cannot evaluate this response without more context.", None),
    (RUBRIC_ECHO, None),
    ("The response deserves four points.", None),
    ("Score: four", None),
    ("Score: 3 or 4", None),
    ("Score: 3-4", None),
    ("Score: 3 to 4", None),
    ("Score: 3, 4", None),
    ("Score: 3,5", None),
    ("Score: 3 + 1 = 4", None),
    ("Score: 8/10", None),
    ("Score: 3/4", None),
    ("Score: 6", None),
    ("Score: -1", None),
    ("Score: 80%", None),
    ("Score: 4th", None),
    ("Score:\n1. The response is relevant (1 point)", None),
    ("Score: 4\nOn second thought, Score: 3 or 4", None),
]


@pytest.mark.parametrize(("text", "expected"), SCORES)
def test_parse_score_table(text: str, expected: float | None) -> None:
    assert parse_score(text) == expected


def test_parse_score_other_scale() -> None:
    assert parse_score("Score: 8/10", max_score=10) == 8.0
    assert parse_score("Score: 4/5", max_score=10) is None


VERDICTS: list[tuple[str, str | None]] = [
    ("Judgment B applies the rubric more faithfully.\n\nWinner: Judgment B", "B"),
    ("Winner: Judgement A", "A"),
    ("**Winner:** Judgment A", "A"),
    ("Winner: [Judgment B]", "B"),
    ('Winner: "Judgement B"', "B"),
    ("Winner: **Judgment A**.", "A"),
    ("winner: judgment b", "B"),
    ("Winner: Judgment A, because Judgment B ignores the second criterion.", "A"),
    ("Winner: Judgment A, a clear winner", "A"),
    ("Winner: A", "A"),
    ("Winner:\n\nJudgment B", "B"),
    ("Winner: Judgment A\n...on reflection...\nWinner: Judgment B", "B"),
    # Refused.
    ("", None),
    ("Both judgments are equally accurate.", None),
    ("Judgment A is better.", None),
    ("Winner: Judgment A | Judgment B", None),
    ("Winner: [Judgment A | Judgment B]", None),
    ("Winner: Judgment A or B", None),
    ("Winner: Judgment A/Judgment B", None),
    ("Winner: Judgment A and Judgment B are tied", None),
    ("Winner: Judgment C", None),
    ("Winner: A good judgment is hard to find", None),
    ("Winner: Judgment B\nThe format was: Winner: [Judgment A | Judgment B]", None),
]


@pytest.mark.parametrize(("text", "expected"), VERDICTS)
def test_parse_verdict_table(text: str, expected: str | None) -> None:
    assert parse_verdict(text) == expected


@given(st.text())
def test_parse_score_never_raises_and_stays_in_range(text: str) -> None:
    score = parse_score(text)
    assert score is None or 0 <= score <= 5


@given(st.text(alphabet=st.sampled_from("Score:0123456789./ \n*-or")))
def test_parse_score_on_score_like_noise(text: str) -> None:
    score = parse_score(text)
    assert score is None or 0 <= score <= 5


@given(st.text(), st.integers(min_value=0, max_value=50).map(lambda tenths: tenths / 10))
def test_parse_score_round_trip(prefix: str, score: float) -> None:
    # Whatever the justification says, a final "Score: x" line decides.
    assert parse_score(f"{prefix}\nScore: {score}") == score
    assert parse_score(f"{prefix}\nScore: {score:g}") == score


@given(st.text())
def test_parse_verdict_never_raises(text: str) -> None:
    assert parse_verdict(text) in ("A", "B", None)


@given(st.text(), st.sampled_from(["A", "B"]), st.sampled_from(["Judgment", "Judgement"]))
def test_parse_verdict_round_trip(prefix: str, letter: str, word: str) -> None:
    assert parse_verdict(f"{prefix}\nWinner: {word} {letter}") == letter


# The pairwise head-to-head judge's verdicts (noun "response").

@pytest.mark.parametrize(
    "text, expected",
    [
        ("Response B is correct and concise.\n\nWinner: Response B", "B"),
        ("**Winner:** Response A", "A"),
        ("Winner: **Response A**.", "A"),
        ("Winner: [Response B]", "B"),
        ("winner: response b", "B"),
        ("Winner:\n\nResponse A", "A"),
        ("Winner: A", "A"),
        ("Winner: B.", "B"),
        ("Winner: Response A\nActually, B is better.\nWinner: Response B", "B"),
        ("Winner: a tie", None),
        ("Winner: Tie", None),
        ("Winner: Neither", None),
        ("Winner: Response A and Response B", None),
        ("Winner: Response A / Response B", None),
        ("Winner: Response A\nWinner: Response B", None),  # the template's options echoed
        ("Winner: Response A\nWinner: Response A", "A"),
        ("Response A wins.", None),
        ("", None),
        ("Winner: Response C", None),
        ("Winner: Responses A", None),
    ],
)
def test_parse_pairwise_verdict(text: str, expected: str | None) -> None:
    assert parse_verdict(text, "response") == expected


def test_a_later_unusable_verdict_overrides_an_earlier_one() -> None:
    assert parse_verdict("Winner: Response A\n\nOn balance they are equal. Winner: tie", "response") is None
