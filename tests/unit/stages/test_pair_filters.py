"""The papers' filters on pairs without a model (issue 14): duplicate responses, chosen != rejected,
the chosen-length cap per iteration, the rejected rule under length control, and the judge
pairs' score-gap bounds and per-iteration length limit in either unit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.config import load_config
from srlm.errors import UserError
from srlm.stages import meta_judgments as meta
from srlm.stages import pairs
from tests.helpers.meta_rows import judged_prompts
from tests.unit.stages.test_meta_judgments import ScriptedBackend, actor_groups, make_ctx, prefers_higher_score


def _ctx(tmp_path: Path, iteration: int = 1, *overrides: str):
    return make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), iteration, *overrides)


def _judged(texts: list[str], scores: list[float | None]) -> tuple[list[dict], list[dict]]:
    candidates = [{"id": f"p0-c{k}", "prompt_id": "p0", "prompt": "Q?", "response": t} for k, t in enumerate(texts)]
    judgments = [{"id": c["id"], "prompt_id": "p0", "mean_score": s} for c, s in zip(candidates, scores)]
    return candidates, judgments


def test_repeated_responses_are_removed_before_pairing_and_counted(tmp_path: Path) -> None:
    # The best and the worst text are one text: before the filter they made a pair with itself.
    candidates, judgments = _judged(["Same answer.", "Other.", " Same answer.\n", "Third."], [5.0, 3.0, 1.0, 2.0])
    rows = pairs.run(_ctx(tmp_path), candidates, judgments)
    assert len(rows) == 1 and rows[0]["chosen"] != rows[0]["rejected"]
    assert (rows[0]["chosen_score"], rows[0]["rejected_score"]) == (5.0, 2.0)  # the repeat's 1.0 is gone
    stats = json.loads((tmp_path / "run" / "iter1" / "stats.json").read_text())["pairs"]
    assert stats["duplicates_removed"] == 1 and stats["kept"] == 1


def test_a_prompt_with_one_distinct_response_gives_no_pair(tmp_path: Path) -> None:
    candidates, judgments = _judged(["x", "x", "x"], [5.0, 1.0, 3.0])
    assert pairs.run(_ctx(tmp_path), candidates, judgments) == []
    stats = json.loads((tmp_path / "run" / "iter1" / "stats.json").read_text())["pairs"]
    assert stats["duplicates_removed"] == 2 and stats["dropped"] == {"fewer_than_two_valid": 1}


def test_of_identical_copies_the_first_scored_one_is_kept() -> None:
    group = [({"response": "a"}, None), ({"response": "b"}, 2.0), ({"response": "a "}, 4.0), ({"response": "a"}, 1.0)]
    unique, removed = pairs.unique_responses({"p": group})
    assert removed == 2 and [(c["response"], s) for c, s in unique["p"]] == [("a ", 4.0), ("b", 2.0)]


def test_a_pair_of_equal_texts_is_dropped_even_without_the_duplicate_filter(tmp_path: Path) -> None:
    group = {"p0": [({"prompt": "Q?", "response": "same"}, 5.0), ({"prompt": "Q?", "response": "same"}, 1.0)]}
    rows, stats = pairs.make_pairs(_ctx(tmp_path), group)
    assert rows == [] and stats["dropped"] == {"identical_texts": 1}


def test_the_chosen_length_cap_applies_in_the_iterations_that_set_it(tmp_path: Path) -> None:
    # actor_groups: the best answer is 40 words long; the cap is 10 words in iteration 1 only.
    first, stats = pairs.make_pairs(_ctx(tmp_path, 1, "pairs.max_chosen_length=[10, 0]"), actor_groups())
    assert first == [] and stats["dropped"] == {"chosen_too_long": 1} and stats["max_chosen_length"] == 10
    second, stats = pairs.make_pairs(_ctx(tmp_path, 2, "pairs.max_chosen_length=[10, 0]"), actor_groups())
    assert len(second) == 1 and second[0]["chosen_length"] == 40 and stats["max_chosen_length"] == 0
    chars, _ = pairs.make_pairs(_ctx(tmp_path, 1, "pairs.max_chosen_length=200", "pairs.length_unit=chars"), actor_groups())
    assert len(chars) == 1  # "long " * 40 has 200 characters: at the cap is not over it
    assert pairs.make_pairs(_ctx(tmp_path, 1, "pairs.max_chosen_length=199", "pairs.length_unit=chars"), actor_groups())[0] == []


def test_rejected_rule_lowest_score_ignores_length(tmp_path: Path) -> None:
    rows, _ = pairs.make_pairs(_ctx(tmp_path, 1, "pairs.length_rho=0.2", "pairs.rejected_rule=lowest_score"), actor_groups())
    assert (rows[0]["chosen_score"], rows[0]["rejected_score"]) == (4.6, 1.0)
    rows, _ = pairs.make_pairs(_ctx(tmp_path, 1, "pairs.length_rho=0.2"), actor_groups())
    assert rows[0]["rejected_score"] == 1.4  # the default: the longest of the bottom tier


def test_judge_pairs_outside_the_score_gap_bounds_are_dropped_and_counted(tmp_path: Path) -> None:
    # p0's judge pair: chosen gives 5, rejected 2 (gap 3).
    kept = meta.run(_ctx(tmp_path / "a", 1, "meta.min_score_gap=3", "meta.max_score_gap=3"), *judged_prompts())
    assert len(kept) == 1
    assert meta.run(_ctx(tmp_path / "b", 1, "meta.min_score_gap=3.5"), *judged_prompts()) == []
    assert json.loads((tmp_path / "b" / "run" / "iter1" / "stats.json").read_text())["meta"]["dropped"] == {"no_disagreement": 1, "score_gap_below_min": 1}
    assert meta.run(_ctx(tmp_path / "c", 1, "meta.max_score_gap=2"), *judged_prompts()) == []
    assert json.loads((tmp_path / "c" / "run" / "iter1" / "stats.json").read_text())["meta"]["dropped"] == {"no_disagreement": 1, "score_gap_above_max": 1}


def test_judgment_length_limit_per_iteration_in_characters(tmp_path: Path) -> None:
    chosen = "A much longer and more generous judgment. Score: 5"  # 50 characters, 9 words
    limits = "meta.max_chosen_judgment_length=[49, 50]"
    assert meta.run(_ctx(tmp_path / "a", 1, limits, "meta.judgment_length_unit=chars"), *judged_prompts()) == []
    stats = json.loads((tmp_path / "a" / "run" / "iter1" / "stats.json").read_text())["meta"]
    assert stats["dropped"]["chosen_too_long"] == 1 and stats["max_chosen_judgment_length"] == 49 and stats["judgment_length_unit"] == "chars"
    rows = meta.run(_ctx(tmp_path / "b", 2, limits, "meta.judgment_length_unit=chars", "meta.judge_pairs_iterations=[2]"), *judged_prompts())
    assert len(rows) == 1 and rows[0]["chosen"] == chosen and len(chosen) == 50
    assert rows[0]["chosen_length"] == 9  # the rows keep token lengths: DPO's limit is in tokens


@pytest.mark.parametrize("override, key", [
    ("pairs.max_chosen_length=-1", "pairs.max_chosen_length"),
    ("pairs.max_chosen_length=[]", "pairs.max_chosen_length"),
    ("meta.max_chosen_judgment_length=[100, 0]", "meta.max_chosen_judgment_length"),
    ("meta.min_score_gap=3", "meta.min_score_gap"),  # above max_score_gap=2 below
    ("pairs.rejected_rule=shortest", "pairs.rejected_rule"),
    ("prompt_gen.pool_size=-5", "prompt_gen.pool_size"),
])
def test_bad_filter_settings_name_their_key(override: str, key: str) -> None:
    with pytest.raises(UserError, match=f"config key '{key}'"):
        load_config(None, [override, "meta.max_score_gap=2"])


def test_pool_file_and_pool_size_together_are_refused() -> None:
    with pytest.raises(UserError, match="prompt_gen.pool_size.*pool_file"):
        load_config(None, ["prompt_gen.pool_file=pool.jsonl", "prompt_gen.pool_size=10"])
