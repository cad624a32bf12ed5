"""The head-to-head judge: its template, score verdicts and the two-order bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlm.config import load_config
from srlm.errors import UserError
from srlm.evaluation.judges import EvalContext
from srlm.evaluation.metrics import head_to_head
from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts, load_pairwise_template, pairwise_conversation, score_verdict
from srlm.judging.templates import placeholders
from tests.helpers.fakes import FakeBackend


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


class PositionBiased(FakeBackend):
    """A judge that always prefers whatever it is shown first."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def generate(self, conversations, sampling):
        self.requests += [c[-1]["content"] for c in conversations]
        return [["Response A is better.\nWinner: Response A"] for _ in conversations]


class PrefersLonger(FakeBackend):
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


class ScoresByLength(FakeBackend):
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
