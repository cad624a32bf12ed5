"""EFT builder: graded responses in the right score order, parsable judgments, safe templates."""

from __future__ import annotations

import os
import random
import re
from importlib import resources
from statistics import mean

import pytest

from srlm.data.eft_builder import DEGRADATIONS, build_eft, eft_stats, judge_sft_rows, split_heldout
from srlm.data.seed import bundled_path, load_eft, load_ift, write_jsonl
from srlm.judging.parse import parse_score

SCORE_RANGE = {
    "good": {4, 5},
    "partial": {2, 3},
    "vague": {1},
    "truncated": {1, 2},
    "off_topic": {0},
}
LAST_LINE = re.compile(r"\nScore: ([0-5])\Z")


@pytest.fixture(scope="module")
def seed_rows() -> list[dict]:
    return load_ift(bundled_path("ift_seed.jsonl"))


@pytest.fixture(scope="module")
def eft(seed_rows) -> list[dict]:
    return build_eft(seed_rows, seed=0)


@pytest.fixture(scope="module")
def template() -> str:
    source = resources.files("srlm.judging") / "templates" / "judge_additive_5pt.txt"
    return source.read_text(encoding="utf-8")


def by_kind(row: dict) -> dict[str, dict]:
    return {r["kind"]: r for r in row["responses"]}


def test_rows_have_the_load_eft_format(eft, seed_rows, tmp_path):
    path = tmp_path / "eft.jsonl"
    write_jsonl(path, eft)
    loaded = load_eft(path)
    assert len(loaded) == len(seed_rows)
    assert loaded[0]["id"] == f"eft-{seed_rows[0]['id']}"
    assert loaded[0]["prompt"] == seed_rows[0]["prompt"]
    assert all("judgment" in r and "score" in r for row in loaded for r in row["responses"])


def test_every_kind_is_built_for_nearly_every_seed_row(eft):
    stats = eft_stats(eft)
    assert stats["per_kind"]["good"] == stats["per_kind"]["vague"] == len(eft)
    assert stats["per_kind"]["off_topic"] == len(eft)
    assert stats["missing"]["partial"] < 0.2 * len(eft)
    assert stats["missing"]["truncated"] < 0.05 * len(eft)


def test_scores_follow_the_rubric_ranges_per_kind(eft):
    for row in eft:
        for resp in row["responses"]:
            assert resp["score"] in SCORE_RANGE[resp["kind"]], (row["id"], resp["kind"])


def test_score_order_good_over_partial_over_truncated_and_off_topic(eft):
    for row in eft:
        kinds = by_kind(row)
        good, off = kinds["good"]["score"], kinds["off_topic"]["score"]
        assert all(good > r["score"] for k, r in kinds.items() if k != "good")
        assert all(off < r["score"] for k, r in kinds.items() if k != "off_topic")
        if "partial" in kinds and "truncated" in kinds:
            assert kinds["partial"]["score"] >= kinds["truncated"]["score"]
    mean_of = {
        k: mean(by_kind(r)[k]["score"] for r in eft if k in by_kind(r)) for k in DEGRADATIONS
    }
    assert mean_of["good"] > mean_of["partial"] > mean_of["truncated"] > mean_of["off_topic"]


def test_both_top_grades_and_both_partial_grades_occur(eft):
    histogram = eft_stats(eft)["score_histogram"]
    assert {"0", "1", "2", "3", "4", "5"} <= set(histogram)
    assert min(histogram.values()) >= 0.03 * sum(histogram.values())


def test_judgments_end_with_a_parsable_score_line(eft):
    for row in eft:
        for resp in row["responses"]:
            judgment = resp["judgment"]
            match = LAST_LINE.search(judgment)
            assert match and int(match.group(1)) == resp["score"], judgment
            assert parse_score(judgment) == resp["score"]
            body = judgment.rsplit("\n", 1)[0]
            assert len(judgment.split()) <= 100
            assert 1 <= len(re.findall(r"[.!?](?:\s|$)", body)) <= 3, body
            assert "{" not in body  # no unfilled slot


def test_judgment_wording_varies_within_each_grade(eft):
    bodies: dict[tuple[str, int], set[str]] = {}
    for row in eft:
        for r in row["responses"]:
            bodies.setdefault((r["kind"], r["score"]), set()).add(r["judgment"])
    for grade, texts in bodies.items():
        assert len(texts) >= 3, grade


def test_degraded_texts_are_what_their_kind_says(eft, seed_rows):
    answers = {r["response"] for r in seed_rows}
    for row, ift in zip(eft, seed_rows, strict=True):
        kinds = by_kind(row)
        assert kinds["good"]["text"] == ift["response"]
        cut = kinds["truncated"]["text"] if "truncated" in kinds else None
        if cut is not None:
            assert ift["response"].startswith(cut) and len(cut) < len(ift["response"])
            assert not cut.endswith((".", "!", "?"))
        if "partial" in kinds:
            partial = kinds["partial"]["text"]
            kept = os.path.commonprefix([partial, ift["response"]])
            filler = partial[len(kept) :].strip()
            assert len(kept.split()) >= 3 and filler and filler not in ift["response"]
        off = kinds["off_topic"]
        assert off["text"] in answers and off["text"] != ift["response"]
        assert kinds["vague"]["text"] not in answers


def test_off_topic_comes_from_another_category_and_its_judgment_names_it(eft, seed_rows):
    category_of = {r["response"]: r["category"] for r in seed_rows}
    for row in eft:
        off = by_kind(row)["off_topic"]
        assert category_of[off["text"]] != row["category"]


def test_deterministic_for_a_seed_and_different_across_seeds(seed_rows):
    first = build_eft(seed_rows, seed=7)
    assert build_eft(seed_rows, seed=7) == first
    assert build_eft(seed_rows, seed=8) != first


def test_kinds_selects_and_validates(seed_rows):
    rows = build_eft(seed_rows[:5], kinds=("good", "off_topic"))
    assert all({r["kind"] for r in row["responses"]} == {"good", "off_topic"} for row in rows)
    with pytest.raises(ValueError, match="nonsense"):
        build_eft(seed_rows[:5], kinds=("good", "nonsense"))


def test_kinds_that_cannot_be_made_are_left_out_and_counted():
    rows = [{"id": "only", "prompt": "Passive voice?", "response": "It was done."}]
    eft = build_eft(rows)
    assert {r["kind"] for r in eft[0]["responses"]} == {"good", "vague"}
    stats = eft_stats(eft)
    missing = {"good": 0, "partial": 1, "vague": 0, "truncated": 1, "off_topic": 1}
    assert stats["missing"] == missing
    assert stats["rows"] == 1 and stats["responses"] == 2


def test_off_topic_falls_back_to_the_same_category_when_there_is_no_other():
    rows = [
        {"id": "a", "category": "math", "prompt": "What is 2 + 2?", "response": "It is 4."},
        {"id": "b", "category": "math", "prompt": "What is 3 + 3?", "response": "It is 6."},
    ]
    eft = build_eft(rows)
    assert [by_kind(r)["off_topic"]["text"] for r in eft] == ["It is 6.", "It is 4."]
    assert all(by_kind(r)["off_topic"]["judgment"].endswith("\nScore: 0") for r in eft)


def test_braces_in_prompts_and_answers_survive(template):
    rows = [
        {"id": "a", "prompt": "Explain {response} and {prompt} and {0}.", "response": _BRACES},
        {"id": "b", "prompt": "Print {}.", "response": "Use print({'k': 1}). It shows {'k': 1}."},
    ]
    eft = build_eft(rows, seed=3)
    sft = judge_sft_rows(eft, template)
    assert len(sft) == sum(len(r["responses"]) for r in eft)
    for out in sft:
        row = next(r for r in eft if out["id"].startswith(r["id"] + "-"))
        resp = row["responses"][int(out["id"].rsplit("-", 1)[1])]
        expected = template.replace("{prompt}", "\0").replace("{response}", resp["text"])
        assert out["prompt"] == expected.replace("\0", row["prompt"])
        assert out["response"] == resp["judgment"]
    # The literal "{response}" inside the first prompt was not replaced by the answer.
    assert "Explain {response} and {prompt} and {0}." in sft[0]["prompt"]


_BRACES = (
    "In Python, f-strings such as f'{name}' insert values, while '{}'.format(x) does the same "
    "with format. Literal braces are doubled, like '{{' and '}}'. Templates that use {response} "
    "must therefore never be filled with str.format."
)


def test_judge_sft_rows_skip_responses_without_judgment(template):
    ranked = {"id": "r", "prompt": "P", "responses": [{"text": "A", "rank": 0}]}
    one = [{"id": "x", "prompt": "Q", "response": "Short answer here."}]
    scored = build_eft(one, kinds=("good",))
    sft = judge_sft_rows([ranked, *scored], template)
    assert [s["id"] for s in sft] == ["eft-x-0"]
    assert sft[0]["kind"] == "good"
    assert "User: Q" in sft[0]["prompt"]
    assert "<response>Short answer here.</response>" in sft[0]["prompt"]


def test_split_heldout_is_a_deterministic_partition(eft):
    train, held = split_heldout(eft, 0.25, seed=1)
    assert len(held) == round(0.25 * len(eft)) and len(train) + len(held) == len(eft)
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in held)
    assert split_heldout(eft, 0.25, seed=1) == (train, held)
    assert split_heldout(eft, 0.25, seed=2)[1] != held
    positions = {r["id"]: i for i, r in enumerate(eft)}
    assert [positions[r["id"]] for r in held] == sorted(positions[r["id"]] for r in held)


def test_split_heldout_does_not_depend_on_input_order(eft):
    shuffled = list(eft)
    random.Random(0).shuffle(shuffled)
    held = {r["id"] for r in split_heldout(eft, 0.3, seed=5)[1]}
    assert {r["id"] for r in split_heldout(shuffled, 0.3, seed=5)[1]} == held


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_heldout_rejects_bad_fractions(eft, fraction):
    with pytest.raises(ValueError, match="fraction"):
        split_heldout(eft, fraction, seed=0)


def test_split_heldout_zero_keeps_everything_for_training(eft):
    assert split_heldout(eft, 0.0, seed=0) == (list(eft), [])


def test_eft_stats_counts(eft):
    stats = eft_stats(eft)
    assert stats["rows"] == len(eft)
    assert stats["responses"] == sum(len(r["responses"]) for r in eft)
    assert stats["responses"] == sum(stats["per_kind"].values())
    assert sum(stats["score_histogram"].values()) == stats["responses"]
