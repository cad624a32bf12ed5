"""Pairwise verdict parser, score verdicts, judge specs and the two-order bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.config import load_config
from srlm.errors import UserError
from srlm.evaluation.judges import EvalContext, parse_openai_spec, work_file
from srlm.judging.pairwise import (JudgeSettings, head_to_head_verdicts, load_pairwise_template, pairwise_conversation, score_verdict)
from srlm.judging.parse import parse_verdict
from srlm.judging.templates import placeholders
from srlm.evaluation.metrics import head_to_head


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


def test_shipped_template_has_the_three_placeholders_and_ends_with_the_verdict_lines() -> None:
    text = load_pairwise_template()
    assert placeholders(text) == {"prompt", "response_a", "response_b"}
    assert text.rstrip().endswith("Winner: Response A\nWinner: Response B")
    request = pairwise_conversation(text, "Q {response_b}", "first", "second")[0]["content"]
    assert "Q {response_b}" in request  # inserted text is never re-filled
    assert request.index("first") < request.index("second")


def test_user_template_must_have_the_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("{prompt} {response_a}")
    with pytest.raises(UserError, match="response_b"):
        load_pairwise_template(str(path))


def test_score_verdict() -> None:
    assert score_verdict(3.0, 2.5) == "A"
    assert score_verdict(1.0, 4.0) == "B"
    assert score_verdict(3.0, 3.0) is None
    assert score_verdict(3.0, None) is None


def test_openai_spec() -> None:
    assert parse_openai_spec("openai:gpt-4o@http://127.0.0.1:8000/v1") == ("gpt-4o", "http://127.0.0.1:8000/v1")
    assert parse_openai_spec("openai:org/model@name@https://h/v1") == ("org/model@name", "https://h/v1")
    assert parse_openai_spec("models/m1") is None
    with pytest.raises(UserError, match="openai:<model_name>@<base_url>"):
        parse_openai_spec("openai:gpt-4o")


def test_work_file_changes_with_identity(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert work_file(out, "x", 1, "a") == work_file(out, "x", 1, "a")
    assert work_file(out, "x", 1, "a") != work_file(out, "x", 1, "b")
    assert work_file(out, "x", 1).parent == tmp_path / "r.work"


class PositionBiased:
    """A judge that always prefers whatever it is shown first."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def generate(self, conversations, sampling):
        self.requests += [c[-1]["content"] for c in conversations]
        return [["Response A is better.\nWinner: Response A"] for _ in conversations]


class PrefersLonger:
    """A judge that prefers the longer response and names no winner on equal length."""

    def generate(self, conversations, sampling):
        out = []
        for c in conversations:
            text = c[-1]["content"]
            a = text.split("[Response A]\n")[1].split("\n[End of Response A]")[0]
            b = text.split("[Response B]\n")[1].split("\n[End of Response B]")[0]
            out.append(["Equal." if len(a) == len(b) else f"Winner: Response {'A' if len(a) > len(b) else 'B'}"])
        return out


def _ctx(backend) -> EvalContext:
    return EvalContext(load_config(None, ["backend.batch_size=3"]), "fake", lambda: backend)


ITEMS = [
    {"id": "p1", "prompt": "q1", "answer_a": "long answer", "answer_b": "short"},
    {"id": "p2", "prompt": "q2", "answer_a": "x", "answer_b": "longer"},
    {"id": "p3", "prompt": "q3", "answer_a": "same", "answer_b": "four"},
]


def test_a_position_biased_judge_gives_only_ties(tmp_path: Path) -> None:
    judge = PositionBiased()
    ab, ba, details = head_to_head_verdicts(_ctx(judge), ITEMS, JudgeSettings(), tmp_path / "log.jsonl", "t")
    assert ab == ["A", "A", "A"] and ba == ["B", "B", "B"]
    result = head_to_head(ab, ba, n_boot=50)
    assert (result["wins"], result["ties"], result["losses"]) == (0, 3, 0)
    assert len(judge.requests) == 6
    # The second request of each prompt shows B's answer first.
    assert judge.requests[1].index("short") < judge.requests[1].index("long answer")
    assert details[0]["judgment_a_first"].endswith("Winner: Response A")


def test_a_consistent_judge_gives_wins_and_losses_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    ab, ba, _ = head_to_head_verdicts(_ctx(PrefersLonger()), ITEMS, JudgeSettings(), log, "t")
    assert ab == ["A", "B", None] and ba == ["A", "B", None]
    result = head_to_head(ab, ba, n_boot=50)
    assert (result["wins"], result["ties"], result["losses"], result["n_unparsed"]) == (1, 1, 1, 1)
    again = PositionBiased()  # a finished log is read back, the judge is never asked
    assert head_to_head_verdicts(_ctx(again), ITEMS, JudgeSettings(), log, "t")[:2] == (ab, ba)
    assert again.requests == []


class ScoresByLength:
    """An additive judge: the score is the response's length in characters, capped at 5."""

    def generate(self, conversations, sampling):
        out = []
        for c in conversations:
            response = c[-1]["content"].split("<response>")[1].split("</response>")[0]
            out.append([f"Score: {min(5, len(response))}"] * sampling.n)
        return out


def test_additive_method_scores_each_answer(tmp_path: Path) -> None:
    settings = JudgeSettings.from_config(load_config(None), "additive")
    assert settings.template == "additive_5pt"
    items = [{"id": "p", "prompt": "q", "answer_a": "abc", "answer_b": "ab"}, {"id": "r", "prompt": "q", "answer_a": "abcdefg", "answer_b": "abcdefgh"}]
    ab, ba, details = head_to_head_verdicts(_ctx(ScoresByLength()), items, settings, tmp_path / "log.jsonl", "t")
    assert ab == ba == ["A", None]  # both capped at 5: a tie
    assert details[0] == {"score_a": 3.0, "score_b": 2.0}


def test_unknown_method_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--method"):
        JudgeSettings.from_config(load_config(None), "elo")
