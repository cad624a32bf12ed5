"""The Meta-Rewarding loop on a tiny random model, with the judge and meta-judge scripted.

The random model writes prompts and responses for real; it never writes a parsable ``Score:`` or
``Winner:``, so judge and meta-judge requests (recognised by their template text) get texts that
are a deterministic function of the request. Everything else, Elo and DPO included, is real.
"""

from __future__ import annotations

import json
from pathlib import Path

from srlm import pipeline
from srlm.config import Config, load_config
from srlm.runtime.rundir import read_rows
from tests.helpers.scripted import JUDGE_MARK
from tests.helpers.scripted import meta_scripted_factory as scripted_judges_factory


def meta_config(model_dir: Path, runs_dir: Path) -> Config:
    return load_config(None, [
        "method=meta_rewarding", f"model={model_dir}", f"runs_dir={runs_dir}", "name=meta", "iterations=2",
        "data.max_ift=16", "sft.batch_size=4", "sft.micro_batch_size=2", "sft.learning_rate=1e-3",
        "prompt_gen.num_prompts=4", "prompt_gen.max_new_tokens=24",
        "candidates.n=3", "candidates.max_new_tokens=12", "judge.samples=3", "judge.max_new_tokens=8",
        "pairs.length_rho=[0, 0.32]", "meta.judge_pairs_iterations=[1]",
        "dpo.batch_size=4", "dpo.micro_batch_size=2", "dpo.learning_rate=1e-3",
        "backend.batch_size=8", "eval.max_heldout=2",
    ])


def stats_of(run: pipeline.RunDir, t: int) -> dict:
    return json.loads((run.iteration(t) / "stats.json").read_text())


def test_meta_rewarding_trains_on_judge_pairs_only_in_their_iterations(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = pipeline.run(meta_config(tiny_model_dir, tmp_path), backend_factory=scripted_judges_factory)
    unparsed = 0
    for t in (1, 2):
        stats = stats_of(run, t)
        m = stats["meta"]
        judge_pairs = read_rows(run.iteration(t) / "judge_pairs.jsonl")
        logged = read_rows(run.iteration(t) / "meta_judgments.jsonl")
        # Every prompt is accounted for, and every meta-judgment is parsed or counted as not.
        assert m["prompts"] == stats["pairs"]["prompts"] == 4
        assert m["judge_pairs"] == len(judge_pairs) > 0
        assert m["judge_pairs"] + sum(m["dropped"].values()) == m["prompts"]
        assert m["dropped"]["no_disagreement"] == m["no_disagreement"]
        assert m["comparisons"] == len(logged) == m["verdicts_parsed"] + m["verdicts_unparsed"]
        assert m["verdicts_unparsed"] == sum(r["verdict"] is None for r in logged)
        unparsed += m["verdicts_unparsed"]
        assert m["first_position_wins"] + m["second_position_wins"] == m["verdicts_parsed"]
        assert abs(m["w1"] + m["w2"] - 1) < 1e-3
        for pair in judge_pairs:
            assert pair["kind"] == "judge" and pair["chosen"] != pair["rejected"]
            assert pair["chosen_elo"] > pair["rejected_elo"]
            assert JUDGE_MARK in pair["prompt"]
            assert pair["chosen_length"] <= 256
    assert unparsed > 0  # the script makes a quarter of the verdicts unreadable
    assert stats_of(run, 1)["pairs"]["length_rho"] == 0.0 and stats_of(run, 2)["pairs"]["length_rho"] == 0.32

    # meta.judge_pairs_iterations=[1]: iteration 1 trains on actor + judge pairs, iteration 2 on actor pairs only.
    train1, train2 = stats_of(run, 1)["train"], stats_of(run, 2)["train"]
    assert train1["rows_by_kind"] == {"actor": stats_of(run, 1)["pairs"]["kept"], "judge": stats_of(run, 1)["meta"]["judge_pairs"]}
    assert train2["rows_by_kind"] == {"actor": stats_of(run, 2)["pairs"]["kept"]}
    assert stats_of(run, 1)["meta"]["judge_pairs_trained_on"] and not stats_of(run, 2)["meta"]["judge_pairs_trained_on"]
    assert (run.model(3) / "model.safetensors").is_file()

    status = {row["step"]: row for row in pipeline.status(run)}
    assert status["iter1/judge_pairs.jsonl"]["rows"] == stats_of(run, 1)["meta"]["judge_pairs"]
    assert status["iter2/meta_judgments.jsonl"]["done"]
