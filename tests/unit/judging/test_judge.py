"""The judge step shared by every caller: requests, judged rows, means, scoring modes, items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from srlm.backends.base import Conversation, Sampling
from srlm.config import load_config
from srlm.evaluation.judges import EvalContext
from srlm.judging.judge import add_expected_means, add_expected_scores, judge_conversation, judge_items, judgment_row, mean_of, response_items, score_rows
from srlm.runtime.rundir import RowLog
from tests.helpers.fakes import FakeBackend


class Digits(FakeBackend):
    """Writes ``Score: <number of words in the response>`` and knows an expected digit: the
    continuation's length in characters, so each call can be traced."""

    def __init__(self) -> None:
        self.expectations: list[str] = []

    def generate(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[str]]:
        out = []
        for c in conversations:
            words = len(c[-1]["content"].split("[[")[1].split("]]")[0].split())
            out.append([f"Fine.\nScore: {min(words, 5)}" if k % 2 == 0 else "no score" for k in range(sampling.n)])
        return out

    def next_token_expectations(self, conversations: Sequence[Conversation], continuations: Sequence[str], token_values: Mapping[str, float]) -> list[float] | None:
        assert list(token_values) == ["0", "1", "2", "3", "4", "5"]
        self.expectations += list(continuations)
        return [len(text) / 10 for text in continuations]


TEMPLATE = "Judge. User: {prompt} <response>[[{response}]]</response>"


def test_judge_conversation_fills_the_template_once() -> None:
    conversation = judge_conversation(TEMPLATE, "Q {response}", "A")
    assert conversation == [{"role": "user", "content": "Judge. User: Q {response} <response>[[A]]</response>"}]


def test_unparsed_judgments_are_kept_and_left_out_of_the_mean() -> None:
    row = judgment_row({"id": "c0", "prompt_id": "p0", "prompt": "q", "response": "r"}, ["Score: 4", "hmm", "Score: 5"])
    assert row == {"id": "c0", "prompt_id": "p0", "judgments": ["Score: 4", "hmm", "Score: 5"], "scores": [4.0, None, 5.0], "mean_score": 4.5}
    assert mean_of([None, None]) is None and mean_of([]) is None


def test_expected_scoring_replaces_the_mean_but_keeps_the_written_digits() -> None:
    backend = Digits()
    rows = [{"id": "c0", "prompt_id": "p0", "judgments": ["Good.\nScore: 4", "Off topic."], "scores": [4.0, None], "mean_score": 4.0}]
    add_expected_means(backend, rows, [[{"role": "user", "content": "x"}]])
    assert backend.expectations == ["Good.\nScore: ", "Off topic.\nScore: "]  # cut at the label, or appended
    assert rows[0]["scores"] == [4.0, None]
    assert rows[0]["expected_scores"] == pytest.approx([1.3, 1.8])
    assert rows[0]["mean_score"] == pytest.approx(1.55)


def test_the_fallback_scores_only_unparsed_samples() -> None:
    backend = Digits()
    row = {"id": "c0", "prompt_id": "p0", "judgments": ["Score: 2", "nothing"], "scores": [2.0, None], "mean_score": 2.0}
    add_expected_scores(backend, row, [{"role": "user", "content": "x"}])
    assert backend.expectations == ["nothing\nScore: "]
    assert row["expected_scores"] == [None, pytest.approx(1.5)] and row["mean_score"] == pytest.approx(1.75)


def test_without_next_token_probabilities_expected_scores_stay_unset() -> None:
    rows = [{"id": "c0", "prompt_id": "p0", "judgments": ["Score: 3"], "scores": [3.0], "mean_score": 3.0}]
    add_expected_means(FakeBackend(), rows, [[{"role": "user", "content": "x"}]])
    assert rows[0]["expected_scores"] == [None] and rows[0]["mean_score"] is None


def test_response_items_number_every_response_of_every_prompt() -> None:
    rows = [{"id": "e1", "prompt": "q1", "responses": [{"text": "a", "rank": 0}, {"text": "b", "rank": 1}]}, {"id": "e2", "prompt": "q2", "responses": [{"text": "c", "score": 3}]}]
    assert [i["id"] for i in response_items(rows)] == ["e1-r0", "e1-r1", "e2-r0"]
    assert [i["response"] for i in response_items(rows, limit=1)] == ["a", "b"]


@pytest.mark.parametrize("scoring, expected_means", [("text", [4.0, 2.0]), ("expected", [pytest.approx(1.45), pytest.approx(1.45)])])
def test_judge_items_judges_each_item_samples_times_with_the_configured_scoring(tmp_path: Path, scoring: str, expected_means: list) -> None:
    config = load_config(None, ["backend.batch_size=4", f"judge.scoring={scoring}", f"judge.template={_template(tmp_path)}"])
    backend = Digits()
    items = [{"id": "a", "prompt_id": "p", "prompt": "q", "response": "one two three four"}, {"id": "b", "prompt_id": "p", "prompt": "q", "response": "one two"}]
    log = RowLog(tmp_path / "judged.jsonl")
    judge_items(EvalContext(config, "fake", lambda: backend), items, log, samples=2, temperature=0.0, label="test")
    assert [row["mean_score"] for row in log.rows] == expected_means
    assert all(len(row["judgments"]) == 2 for row in log.rows)


def test_score_rows_with_text_scoring_and_no_fallback_changes_nothing() -> None:
    rows = [{"id": "c0", "prompt_id": "p0", "judgments": ["hmm"], "scores": [None], "mean_score": None}]
    score_rows(Digits(), load_config(None).judge, rows, [[{"role": "user", "content": "x"}]])
    assert rows == [{"id": "c0", "prompt_id": "p0", "judgments": ["hmm"], "scores": [None], "mean_score": None}]


def _template(tmp_path: Path) -> str:
    path = tmp_path / "judge.txt"
    path.write_text(TEMPLATE)
    return str(path)
