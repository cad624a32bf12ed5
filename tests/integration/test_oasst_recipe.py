"""docs/reproduce.md's recipe on an Open Assistant-format fixture, end to end: import and split
by tree, build the EFT training set (agreement filter, down-sampling), run the paper config's
data section on a tiny random model. The split must be disjoint and every filter's count right.

The fixture (tests/fixtures/oasst_recipe.trees.jsonl, oasst1's trees format) holds 14 English
trees, one German and one Spanish. The judge here scores a response by its length (one point
per four words, at most 5), so the fixture's human ranks agree with it except in t09 (the best
answer is the shortest) and t10 (a judge tie that people broke); t01 and t15 ask the same
question in different trees.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from srlm import pipeline
from srlm.cli import main
from srlm.config import load_config
from srlm.data.disjoint import prompt_key
from srlm.data.seed import load_eft, load_ift
from srlm.evaluation import judges
from srlm.runtime.rundir import read_json
from tests.helpers.fakes import FakeBackend
from tests.helpers.scripted import scripted_factory, tiny_overrides

REPO = Path(__file__).resolve().parents[2]
EXPORT = REPO / "tests" / "fixtures" / "oasst_recipe.trees.jsonl"
PAPER = REPO / "configs" / "paper_70b.yaml"
DISAGREE = {"t09", "t10"}


def length_score(text: str) -> int:
    return min(5, len(text.split()) // 4)


class LengthJudge(FakeBackend):
    """Writes "Score: N" with N from the judged response's length."""

    def generate(self, conversations, sampling):
        responses = [c[-1]["content"].split("<response>")[1].split("</response>")[0] for c in conversations]
        return [[f"Judged by its length.\nScore: {length_score(r)}"] * sampling.n for r in responses]


def test_recipe_from_an_export_to_a_run(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(judges, "BACKEND_FACTORY", lambda model_dir, config: LengthJudge())
    paper, meta = load_config(PAPER), load_config(REPO / "configs" / "meta_llama3_8b.yaml")
    data = paper.data
    assert (data.ift, data.eft, data.eft_heldout) == ("data/oasst/ift.jsonl", "data/oasst/eft_train.jsonl", "data/oasst/eft_heldout.jsonl")
    assert (meta.data.ift, meta.data.eft, meta.data.eft_heldout) == (data.ift, data.eft, data.eft_heldout)
    assert (data.oasst.ift, data.oasst.eft_train, data.oasst.eft_heldout) == (3200, 1630, 531)  # SR 3.1

    # 1. import and split by tree (the fixture is far smaller than SR's sizes: ask for less)
    assert main(["import-oasst", str(EXPORT), "--out-dir", "data/oasst", "--config", str(PAPER), "--ift", "3", "--eft-heldout", "3"]) == 0
    split = read_json(tmp_path / "data/oasst/stats.json")
    assert split["dropped"] == {"deleted": 1, "fewer_than_2_ranked": 3, "lang_mismatch": 2, "not_first_turn": 2, "parent_dropped": 3}
    ift, pool, heldout = load_ift(data.ift), load_eft("data/oasst/eft_ranked_train.jsonl"), load_eft(data.eft_heldout)
    trees = [{r["message_tree_id"] for r in rows} for rows in (ift, pool, heldout)]
    assert not (trees[0] & trees[1] or trees[0] & trees[2] or trees[1] & trees[2])
    assert not {prompt_key(r["prompt"]) for r in heldout} & {prompt_key(r["prompt"]) for r in ift + pool}
    assert split["overlap"]["heldout_prompts_in_training"] == 0 and len(heldout) == 3 and trees[0] == {"t11", "t12", "t16"}
    assert len(pool) + len(heldout) + split["split"]["set_aside_same_prompt_as_heldout"] == 11  # English trees with a ranked group

    # 2. judge, filter and down-sample the EFT-train pool only
    assert main(["build-eft", "--ranked", "data/oasst/eft_ranked_train.jsonl", "--model", str(tiny_model_dir),
                 "--out-train", data.eft, "--config", str(PAPER)]) == 0
    built = read_json(tmp_path / "data/oasst/eft_train.stats.json")
    kept = [r for r in pool if r["message_tree_id"] not in DISAGREE]
    assert built["judged_prompts"] == len(pool) and built["heldout_prompts"] == 0
    assert built["dropped_prompts"] == ({"order_disagrees": len(pool) - len(kept)} if len(kept) < len(pool) else {})
    histogram = Counter(str(length_score(x["text"])) for r in kept for x in r["responses"])
    assert built["score_histogram_kept"] == dict(sorted(histogram.items()))
    (top, most), (_, second) = histogram.most_common(2)
    assert (built["downsampling"]["score"], built["downsampling"]["from"], built["downsampling"]["to"]) == (top, most, second)
    assert built["train_judgments"] == sum(histogram.values()) - (most - second) == sum(len(r["responses"]) for r in load_eft(data.eft))
    assert built["warnings"] == [f"train judgments: {built['train_judgments']} of 1630 asked"]  # SR's size not reached: said
    assert "srlm: warning: train judgments" in capsys.readouterr().err
    judged = {json.loads(line)["id"].rsplit("-r", 1)[0] for line in Path(built["judgments"]).read_text().splitlines()}
    assert judged == {r["id"] for r in pool}  # the held-out prompts were never judged

    # 3. the run, with the paper config's data section (a tiny model and scripted judge stand in)
    config = load_config(None, tiny_overrides(tiny_model_dir, tmp_path / "runs", "iterations=0", "eval.max_heldout=0", "data.max_ift=0",
                                              f"data.ift={data.ift}", f"data.eft={data.eft}", f"data.eft_heldout={data.eft_heldout}"))
    run = pipeline.run(config, backend_factory=scripted_factory)
    stats = read_json(run.data / "stats.json")
    assert stats["overlap"]["heldout_prompts_in_training"] == 0 == stats["overlap"]["heldout_trees_in_training"]
    assert (stats["ift_rows"], stats["eft_heldout_prompts"], stats["eft_judgments_for_sft"]) == (3, 3, built["train_judgments"])
    judge = read_json(run.eval(1))["judge"]
    assert judge["n_groups"] == 3 and {"pairwise_accuracy_strict", "pairwise_accuracy_untied", "pairwise_accuracy_tie_half", "judge_tie_share"} <= set(judge)
    assert "SR section 3.3" in judge["definitions"]["pairwise_accuracy_strict"]
