"""Meta-judge SFT rows: parsable verdicts, balanced positions, one correct and one wrong judgment.

Also the seed-data stage: meta rows join the SFT set only in a Meta-Rewarding run with
``data.max_meta`` > 0, and never change the held-out split.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from srlm.config import load_config
from srlm.data.eft_builder import build_eft
from srlm.data.meta_builder import build_meta, unusable_responses
from srlm.data.seed import bundled_path, load_ift
from srlm.judging.parse import parse_score, parse_verdict
from srlm.judging.templates import load_template
from srlm.runtime.rundir import RunDir, read_json, read_rows
from srlm.stages import seed_data

# The meta-judge template shows the two judgments between these fixed headings.
_SHOWN = re.compile(r"Judgment A: (?P<A>.*?)\n\nJudgment B: (?P<B>.*?)\n\nAfter examining", re.S)


@pytest.fixture(scope="module")
def template() -> str:
    return load_template("meta_judge", ("prompt", "response", "judgment_a", "judgment_b"))


@pytest.fixture(scope="module")
def eft() -> list[dict]:
    return build_eft(load_ift(bundled_path("ift_seed.jsonl"))[:40], seed=0)


@pytest.fixture(scope="module")
def rows(eft, template) -> list[dict]:
    return build_meta(eft, template, seed=0)


def source(eft: list[dict], row: dict) -> tuple[dict, dict]:
    """The EFT row and the graded response a meta row was built from (id ``meta-<eft id>-<i>``)."""
    eft_id, index = row["id"].removeprefix("meta-").rsplit("-", 1)
    eft_row = next(r for r in eft if r["id"] == eft_id)
    return eft_row, eft_row["responses"][int(index)]


def test_one_row_per_usable_response(eft, rows):
    assert len(rows) == sum(len(r["responses"]) for r in eft)  # every built grade has a rival grade
    assert len({r["id"] for r in rows}) == len(rows)


def test_verdict_line_parses_to_the_correct_position(rows):
    for row in rows:
        assert row["response"].splitlines()[-1] == f"Winner: Judgment {row['verdict']}"
        assert parse_verdict(row["response"]) == row["verdict"]


def test_explanation_is_short(rows):
    for row in rows:
        explanation, _ = row["response"].rsplit("\n", 1)
        assert "\n" not in explanation and 8 <= len(explanation.split()) <= 45
        assert len(re.findall(r"[.!?](?:\s|$)", explanation)) <= 2


@pytest.mark.parametrize("limit", [None, 1, 7, 32])
def test_positions_are_balanced(eft, template, limit):
    counts = Counter(r["verdict"] for r in build_meta(eft, template, seed=3, limit=limit))
    assert abs(counts["A"] - counts["B"]) <= 1
    assert sum(counts.values()) == (limit or sum(len(r["responses"]) for r in eft))


def test_correct_judgment_scores_the_grade_and_the_wrong_one_does_not(eft, rows):
    for row in rows:
        eft_row, resp = source(eft, row)
        shown = _SHOWN.search(row["prompt"])
        assert shown is not None
        wrong_letter = "B" if row["verdict"] == "A" else "A"
        correct, wrong = shown[row["verdict"]], shown[wrong_letter]
        assert correct == resp["judgment"]
        assert parse_score(correct) == resp["score"] == row["score"]
        assert parse_score(wrong) == row["wrong_score"] != resp["score"]
        # The wrong judgment is one written for another grade of the same prompt.
        assert wrong in [r["judgment"] for r in eft_row["responses"] if r is not resp]


def test_wrong_judgments_err_in_both_directions(rows):
    # Otherwise the rows would teach "the more generous judgment wins" (MR's known failure mode).
    directions = Counter(r["wrong_score"] > r["score"] for r in rows)
    assert directions[True] > len(rows) // 4 and directions[False] > len(rows) // 4


def test_filled_prompt_holds_prompt_response_and_both_judgments(eft, rows):
    for row in rows:
        eft_row, resp = source(eft, row)
        assert f"User: {eft_row['prompt']}\n\nResponse: {resp['text']}\n\nJudgment A: " in row["prompt"]
        shown = _SHOWN.search(row["prompt"])
        assert shown["A"] != shown["B"]
        assert "{judgment_a}" not in row["prompt"] and "{judgment_b}" not in row["prompt"]


def test_deterministic_per_seed(eft, template, rows):
    assert build_meta(eft, template, seed=0) == rows
    assert build_meta(list(reversed(eft)), template, seed=0, limit=10) == rows[:10]
    assert build_meta(eft, template, seed=1) != rows


def test_rows_without_usable_grades_are_skipped(template):
    eft = [
        {"id": "ranked", "prompt": "Say hi.", "responses": [{"text": "Hi!", "rank": 0}, {"text": "Go.", "rank": 1}]},
        {"id": "one-grade", "prompt": "Q", "responses": [{"text": "a", "score": 3, "judgment": "Fine.\nScore: 3"},
                                                        {"text": "b", "score": 3, "judgment": "Also.\nScore: 3"}]},
        {"id": "mismatch", "prompt": "Q", "responses": [{"text": "a", "score": 4, "judgment": "Meh.\nScore: 2"},
                                                       {"text": "b", "score": 1, "judgment": "Bad.\nScore: 1"}]},
        {"id": "file", "prompt": "Q {x}", "responses": [{"text": "a", "score": 4, "judgment": "Good.\nScore: 4"},
                                                       {"text": "b", "score": 1, "judgment": "Bad.\nScore: 1"}]},
    ]
    rows = build_meta(eft, template, seed=0)
    # "mismatch": response a's judgment does not say its grade; b has no rival with a parsed score.
    assert sorted(r["id"] for r in rows) == ["meta-file-0", "meta-file-1"]
    # ...and each skipped response is counted by its reason: ranked 2 and mismatch-a have no
    # judgment stating their grade; one-grade's 2 and mismatch-b have no rival grade.
    assert unusable_responses(eft) == {"no_judgment_stating_its_grade": 3, "no_judgment_of_another_grade": 3}
    for row in rows:  # no degradation kind: the generic wordings, still ending in the verdict
        assert parse_verdict(row["response"]) == row["verdict"] and "User: Q {x}" in row["prompt"]


# ---------------------------------------------------------------------------------------------
# The seed-data stage


@pytest.mark.parametrize(
    "method, max_meta, expected",
    [("meta_rewarding", 6, 6), ("meta_rewarding", 0, 0), ("self_rewarding", 6, 0)],
)
def test_seed_data_adds_meta_rows_only_for_meta_rewarding(tmp_path, method, max_meta, expected):
    overrides = [f"method={method}", "data.max_ift=24", "data.max_eft=10", f"data.max_meta={max_meta}"]
    run = RunDir(tmp_path / "run")
    files = seed_data.run(load_config(None, overrides), run)
    kinds = Counter(r["kind"] for r in read_rows(run.data / "sft.jsonl"))
    assert kinds["meta"] == expected and kinds["eft"] == 10
    stats = read_json(run.data / "stats.json")
    assert stats["meta_judgments_for_sft"] == expected and stats["sft_rows"] == len(files["sft"])
    meta_rows = [r for r in files["sft"] if r["kind"] == "meta"]
    assert all(parse_verdict(r["completion"][0]["content"]) in ("A", "B") for r in meta_rows)
    # Meta rows come from EFT training prompts only: no held-out prompt is ever shown.
    heldout = {r["prompt"] for r in files["eft_heldout"]}
    assert not any(f"User: {p}\n\nResponse: " in r["prompt"][0]["content"] for p in heldout for r in meta_rows)


def test_seed_data_meta_rows_leave_the_heldout_split_alone(tmp_path):
    base = ["method=meta_rewarding", "data.max_ift=24"]
    with_meta = seed_data.run(load_config(None, [*base, "data.max_meta=8"]), RunDir(tmp_path / "a"))
    without = seed_data.run(load_config(None, base), RunDir(tmp_path / "b"))
    for name in ("ift", "ift_heldout", "eft_train", "eft_heldout"):
        assert with_meta[name] == without[name]
    assert with_meta["sft"][: len(without["sft"])] == without["sft"]


def test_max_meta_must_not_be_negative():
    from srlm.errors import UserError

    with pytest.raises(UserError, match="data.max_meta"):
        load_config(None, ["data.max_meta=-1"])
