"""Properties of the score and verdict parsers beyond tests/unit/test_parse.py: what follows the
deciding line, decorations, refusals for any neighbouring text, and independence of the two."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from srlm.judging.parse import parse_score, parse_verdict

SCORES = st.integers(min_value=0, max_value=50).map(lambda tenths: tenths / 10)
NO_SCORE_LABEL = st.text().filter(lambda t: not re.search("score", t, re.IGNORECASE))
NO_WINNER_LABEL = st.text().filter(lambda t: not re.search("winner", t, re.IGNORECASE))
ANY_TEXT = st.text(st.characters(blacklist_categories=()))  # lone surrogates included
DECORATIONS = st.sampled_from([
    "Score: {}", "score: {}", "SCORE: {}", "**Score:** {}", "Score: **{}**", "Score: [{}]", "Score: <{}>",
    "Score: {}/5", "Score: {} / 5", "Score: {} out of 5", "Total score: {} points", "Final Score = {}", "Score: {}.",
])


@given(st.text(), SCORES, NO_SCORE_LABEL)
def test_text_after_the_last_score_line_does_not_change_it(prefix: str, score: float, suffix: str) -> None:
    assert parse_score(f"{prefix}\nScore: {score:g}\n{suffix}") == score


@given(NO_SCORE_LABEL, SCORES, DECORATIONS)
def test_decorations_around_the_score_are_read(prefix: str, score: float, form: str) -> None:
    assert parse_score(f"{prefix}\n{form.format(f'{score:g}')}") == score


@given(st.text(), st.integers(min_value=6, max_value=10**6))
def test_a_last_score_above_the_scale_is_refused_whatever_came_before(prefix: str, score: int) -> None:
    assert parse_score(f"{prefix}\nScore: {score}") is None
    assert parse_score(f"{prefix}\nScore: -{score}") is None


@given(st.text(), st.integers(0, 5), st.integers(0, 5), st.sampled_from([" or ", "-", " to ", ", ", " + ", "/", " | "]))
def test_two_joined_numbers_are_refused(prefix: str, a: int, b: int, joint: str) -> None:
    if joint == "/" and b == 5:
        return  # "Score: 4/5" is a denominator, not two numbers
    assert parse_score(f"{prefix}\nScore: {a}{joint}{b}") is None


@given(st.integers(0, 5), st.integers(1, 100).filter(lambda d: d != 5))
def test_another_scale_is_not_rescaled(score: int, denominator: int) -> None:
    assert parse_score(f"Score: {score}/{denominator}") is None


@given(NO_SCORE_LABEL)
def test_no_score_label_no_score(text: str) -> None:
    assert parse_score(text) is None


@given(ANY_TEXT)
def test_parsers_take_any_string(text: str) -> None:
    score = parse_score(text)
    assert score is None or 0 <= score <= 5
    assert parse_verdict(text) in ("A", "B", None)


@given(st.sampled_from("AB"), st.sampled_from("AB"), NO_WINNER_LABEL)
def test_the_last_verdict_decides(first: str, last: str, between: str) -> None:
    assert parse_verdict(f"Winner: Judgment {first}\n{between}\nWinner: Judgment {last}") == last


@given(st.text(), st.sampled_from([" | ", " or ", " and ", ", ", " / "]))
def test_naming_both_judgments_is_refused(prefix: str, joint: str) -> None:
    assert parse_verdict(f"{prefix}\nWinner: Judgment A{joint}Judgment B") is None


@given(NO_WINNER_LABEL)
def test_no_winner_label_no_verdict(text: str) -> None:
    assert parse_verdict(text) is None


@given(SCORES, st.sampled_from("AB"))
def test_score_and_verdict_lines_do_not_disturb_each_other(score: float, letter: str) -> None:
    text = f"Score: {score:g}\nWinner: Judgment {letter}"
    assert parse_score(text) == score
    assert parse_verdict(text) == letter
