"""The Open Assistant split by tree: IFT, EFT-train and held-out are disjoint by construction,
oasst1's own validation split is honoured when the export carries it, sizes smaller than asked
are reported, and exports that leave nothing to measure a judge on are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm.data.disjoint import prompt_key
from srlm.data.oasst import OasstImport, check_usable, import_oasst, split_from_name
from srlm.data.oasst_split import split_trees
from srlm.errors import UserError

RECIPE = Path(__file__).parents[2] / "fixtures" / "oasst_recipe.trees.jsonl"


def _trees(parts: dict) -> dict[str, set[str]]:
    return {name: {r["message_tree_id"] for r in rows} for name, rows in parts.items()}


@pytest.mark.parametrize("seed", range(5))
def test_parts_are_disjoint_by_tree_and_by_prompt(seed: int) -> None:
    result = import_oasst(RECIPE)
    parts, stats = split_trees(result, ift=3, eft_heldout=3, seed=seed)
    trees = _trees(parts)
    assert not (trees["ift"] & trees["eft_train"] or trees["ift"] & trees["eft_heldout"] or trees["eft_train"] & trees["eft_heldout"])
    held = {prompt_key(r["prompt"]) for r in parts["eft_heldout"]}
    assert not held & {prompt_key(r["prompt"]) for r in parts["ift"] + parts["eft_train"]}  # checked here, not read from stats
    assert stats["overlap"]["heldout_prompts_in_training"] == 0 == stats["overlap"]["heldout_trees_in_training"]
    assert len(parts["ift"]) == 3 and len(parts["eft_heldout"]) == 3
    # IFT takes the trees that cannot serve a judge set first (t11, t12, t16 have one ranked reply)
    assert trees["ift"] == {"t11", "t12", "t16"}
    s = stats["split"]
    assert s["eft_train_pool"]["got"] + s["eft_heldout"]["got"] + s["set_aside_same_prompt_as_heldout"] == len(result.eft) == 11
    assert s["trees"] == 14 and stats["warnings"] == []


def test_a_tree_with_a_heldout_prompt_is_set_aside() -> None:
    result = import_oasst(RECIPE)
    for seed in range(40):  # t01 and t15 ask the same question; find a split that holds one of them out
        parts, stats = split_trees(result, ift=3, eft_heldout=5, seed=seed)
        held = _trees(parts)["eft_heldout"]
        if len(held & {"t01", "t15"}) == 1:
            break
    else:
        pytest.fail("no seed holds out exactly one of t01, t15")
    assert stats["split"]["set_aside_same_prompt_as_heldout"] == 1
    assert not {"t01", "t15"} & (_trees(parts)["eft_train"] | _trees(parts)["ift"])


def _messages(tree: str, split: str | None, replies: int = 2, first_rank: int = 0) -> list[dict]:
    root = {"message_id": f"{tree}-p", "parent_id": None, "role": "prompter", "text": f"Question {tree}?", "lang": "en", "message_tree_id": tree}
    rows = [root | ({"split": split} if split else {})]
    rows += [{"message_id": f"{tree}-a{k}", "parent_id": f"{tree}-p", "role": "assistant", "text": f"Answer {k}.", "lang": "en",
              "rank": float(first_rank + k), "message_tree_id": tree} for k in range(replies)]  # float ranks, as the HF dataset stores them
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_oasst1_validation_split_is_the_heldout_source(tmp_path: Path) -> None:
    rows = [m for i in range(8) for m in _messages(f"tr{i}", "train")] + [m for i in range(3) for m in _messages(f"va{i}", "validation")]
    parts, stats = split_trees(import_oasst(_write(tmp_path / "all.jsonl", rows)), ift=2, eft_heldout=5, seed=0)
    trees = _trees(parts)
    assert trees["eft_heldout"] == {"va0", "va1", "va2"}  # only validation trees, never a train tree to fill up
    assert not (trees["ift"] | trees["eft_train"]) & trees["eft_heldout"]
    assert "validation" in stats["split"]["method"] and stats["split"]["trees_by_oasst1_split"] == {"train": 8, "validation": 3}
    assert stats["warnings"] == ["eft_heldout: 3 of 5 asked"]  # smaller than asked: reported


def test_split_read_from_file_names(tmp_path: Path) -> None:
    train = _write(tmp_path / "oasst1-train.jsonl", [m for i in range(4) for m in _messages(f"tr{i}", None)])
    valid = _write(tmp_path / "oasst1-validation.jsonl", [m for i in range(2) for m in _messages(f"va{i}", None)])
    result = import_oasst([train, valid])
    assert {r["split"] for r in result.eft if r["message_tree_id"].startswith("va")} == {"validation"}
    parts, _ = split_trees(result, ift=1, eft_heldout=2, seed=0)
    assert _trees(parts)["eft_heldout"] == {"va0", "va1"}
    assert split_from_name(Path("train-and-validation.jsonl")) is None  # both words: no guess


def test_too_little_data_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    result = import_oasst(_write(tmp_path / "m.jsonl", [m for i in range(3) for m in _messages(f"t{i}", None)]))
    with pytest.raises(UserError, match="no tree left for EFT training"):
        split_trees(result, ift=0, eft_heldout=3, seed=0)
    train_only = import_oasst(_write(tmp_path / "t.jsonl", [m for i in range(3) for m in _messages(f"t{i}", "train")]
                                     + [m for m in _messages("v0", "validation", replies=1)]))
    with pytest.raises(UserError, match="validation split for the held-out judge set"):
        split_trees(train_only, ift=0, eft_heldout=2, seed=0)
    judge_only = [m for i in range(3) for m in _messages(f"j{i}", None, first_rank=1)]  # no rank-0 reply: no IFT row
    ift_only = [m for i in range(2) for m in _messages(f"i{i}", None, replies=1)]
    parts, stats = split_trees(import_oasst(_write(tmp_path / "s.jsonl", judge_only + ift_only)), ift=5, eft_heldout=1, seed=0)
    assert len(parts["ift"]) == 2 and len(parts["eft_train"]) == 2 and stats["warnings"] == ["ift: 2 of 5 asked"]


@pytest.mark.parametrize("rows, lang, message", [
    ([m | {"rank": None} for m in _messages("t", None)], "en", r"m.jsonl:2: key 'rank' is null or missing on every reply"),
    (_messages("t", None, replies=1), "en", r"m.jsonl:1 \(1 ranked reply\): no prompt has two or more ranked"),
    ([m | {"lang": "de"} for m in _messages("t", None)], "en", r"m.jsonl:1: no conversation in language 'en' .* de \(1\)"),
])
def test_unusable_exports_are_refused_with_file_and_line(tmp_path: Path, rows: list[dict], lang: str, message: str) -> None:
    result = import_oasst(_write(tmp_path / "m.jsonl", rows), lang=lang)
    with pytest.raises(UserError, match=message):
        check_usable(result, lang)
    assert isinstance(result, OasstImport)


def test_hugging_face_parquet_files_with_their_split_in_the_name(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, trees in (("train", ["tr0", "tr1", "tr2"]), ("validation", ["va0"])):
        rows = [m | {"split": None} for t in trees for m in _messages(t, None)]  # float ranks with nulls, as the dataset has
        rows[0]["rank"] = None
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{split}-00000-of-00001.parquet")
    result = import_oasst(sorted(tmp_path.glob("*.parquet")))
    parts, stats = split_trees(result, ift=1, eft_heldout=1, seed=0)
    assert _trees(parts)["eft_heldout"] == {"va0"} and stats["split"]["trees_by_oasst1_split"] == {"train": 3, "validation": 1}
    with pytest.raises(UserError, match="cannot read parquet file"):
        import_oasst(_write(tmp_path / "broken.parquet", [{"a": 1}]))
