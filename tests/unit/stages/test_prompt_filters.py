"""Filters for self-generated prompts: every drop has a counted reason."""

from __future__ import annotations

from types import SimpleNamespace

from srlm.config import load_config
from srlm.stages.prompt_filters import DuplicateIndex, clean_prompt, length_problem, rouge_l, words
from srlm.stages.prompts import fewshot_message, filter_prompts

SEED = [
    {"id": "s1", "prompt": "Explain why the sky is blue in simple terms."},
    {"id": "s2", "prompt": "Write a haiku about autumn leaves falling."},
    {"id": "s3", "prompt": "List three tips for saving money on groceries."},
]


def _ctx(**prompt_gen: object) -> SimpleNamespace:
    overrides = [f"prompt_gen.{k}={v}" for k, v in prompt_gen.items()]
    return SimpleNamespace(config=load_config(None, overrides), iteration=1)


def _raw(text: str, k: int, shots: tuple[str, ...] = ("s1", "s2")) -> dict:
    return {"id": f"r{k}", "round": 0, "fewshot_ids": list(shots), "raw": text}


def test_each_reason_is_counted() -> None:
    raw = [
        _raw("", 0),
        _raw("Hi there", 1),
        _raw("word " * 200, 2),
        _raw("Explain why the sky is blue in simple terms.", 3),  # copy of its few-shot example
        _raw("List three tips for saving money on groceries!", 4, shots=("s1",)),  # seed near-duplicate
        _raw("Describe how a bicycle gear system works for a beginner.", 5),
        _raw("Describe how a bicycle gear system works for beginners.", 6),  # duplicate of r5
        _raw("Task 9: Suggest a name for a bakery that sells only bread.\nTask 10: more", 7),
    ]
    kept, dropped = filter_prompts(raw, SEED, _ctx())
    assert [row["prompt"] for row in kept] == [
        "Describe how a bicycle gear system works for a beginner.",
        "Suggest a name for a bakery that sells only bread.",
    ]
    assert dict(dropped) == {
        "empty": 1, "too_short": 1, "too_long": 1, "copied_fewshot": 1,
        "near_duplicate_of_seed": 1, "near_duplicate_of_generated": 1,
    }
    assert sum(dropped.values()) + len(kept) == len(raw)
    assert kept[0]["fewshot_ids"] == ["s1", "s2"] and kept[0]["source_id"] == "r5"


def test_threshold_is_configurable() -> None:
    raw = [_raw("Describe how a bicycle gear system works for a beginner.", 0), _raw("Describe how a bicycle gear system works for beginners.", 1)]
    kept_strict, _ = filter_prompts(raw, SEED, _ctx(dedup_threshold=0.99))
    assert len(kept_strict) == 2


def test_rouge_l_matches_hand_computation() -> None:
    # LCS("a b c d", "a c d e") = "a c d" = 3; P = 3/4, R = 3/4, F = 0.75
    assert rouge_l(words("a b c d"), words("a c d e")) == 0.75
    assert rouge_l(words("x y"), words("p q")) == 0.0


def test_duplicate_index_and_length() -> None:
    index = DuplicateIndex(0.7, ["How do plants make food from sunlight?"])
    assert index.is_duplicate("How do plants make their food from sunlight?")
    assert not index.is_duplicate("What is the tallest mountain in Africa?")
    assert length_problem("one two", 3, 10) == "too_short" and length_problem("a b c", 3, 10) is None


def test_fewshot_message_numbers_tasks() -> None:
    text = fewshot_message(["First.", "Second."])
    assert "Task 1: First." in text and text.endswith("Task 3:")
    assert clean_prompt("Task 3: Do X.\n\nTask 4: Do Y.") == "Do X."
    assert clean_prompt("\"Quoted request?\"") == "Quoted request?"
