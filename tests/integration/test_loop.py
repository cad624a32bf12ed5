"""The Self-Rewarding loop on a tiny random model: two iterations, files, counts, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from srlm.errors import UserError
from srlm.runtime.rundir import read_rows
from tests.helpers.scripted import Crash as ScriptedCrash
from tests.helpers.scripted import crashing_factory, scripted_factory, tiny_overrides


def _run(tiny_model_dir: Path, runs: Path, *extra: str, factory=scripted_factory, force: bool = False):
    config = load_config(None, tiny_overrides(tiny_model_dir, runs, *extra))
    return pipeline.run(config, force=force, backend_factory=factory)


def test_two_iterations_write_every_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = _run(tiny_model_dir, tmp_path)
    for t in (1, 2, 3):
        assert (run.model(t) / "model.safetensors").is_file()
        assert json.loads(run.eval(t).read_text())["judge"]["n_groups"] == 2
    for t in (1, 2):
        stats = json.loads((run.iteration(t) / "stats.json").read_text())
        assert set(stats) >= {"prompts", "candidates", "judgments", "pairs", "train"}
        judged = read_rows(run.iteration(t) / "judgments.jsonl")
        unparsed = sum(s is None for row in judged for s in row["scores"])
        assert stats["judgments"]["unparsed"] == unparsed
        assert stats["judgments"]["parsed"] + unparsed == stats["judgments"]["judgments"]
        pairs = read_rows(run.iteration(t) / "pairs.jsonl")
        assert stats["pairs"]["kept"] == len(pairs)
        assert stats["pairs"]["kept"] + sum(stats["pairs"]["dropped"].values()) == stats["pairs"]["prompts"]
        for pair in pairs:
            assert pair["chosen_score"] > pair["rejected_score"]  # ties never become pairs
            assert set(pair) >= {"prompt", "chosen", "rejected", "prompt_id"}
    assert not (run.root / "run.lock").exists()


def test_rerun_of_a_finished_run_changes_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = _run(tiny_model_dir, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in run.root.rglob("*.jsonl")}
    _run(tiny_model_dir, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in run.root.rglob("*.jsonl")} == before


def test_changed_config_is_refused_without_force(tiny_model_dir: Path, tmp_path: Path) -> None:
    _run(tiny_model_dir, tmp_path, "iterations=0")
    with pytest.raises(UserError, match="differs"):
        _run(tiny_model_dir, tmp_path, "iterations=0", "dpo.beta=0.2")
    _run(tiny_model_dir, tmp_path, "iterations=0", "dpo.beta=0.2", force=True)


class Crash(Exception):
    pass


def _crashing_factory(stage_mark: str, after_calls: int):
    """A scripted backend that raises on its Nth call whose request contains ``stage_mark``."""
    seen = {"n": 0}

    def factory(model_dir, config):
        backend = scripted_factory(model_dir, config)
        real_generate = backend.generate

        def generate(conversations, sampling):
            if any(stage_mark in c[-1]["content"] for c in conversations):
                seen["n"] += 1
                if seen["n"] == after_calls:
                    raise Crash(stage_mark)
            return real_generate(conversations, sampling)

        backend.generate = generate
        return backend

    return factory


@pytest.mark.parametrize("stage_mark", ["Reply with the new request", "additive 5-point"], ids=["prompts", "judging"])
def test_resume_after_crash_gives_the_same_rows(tiny_model_dir: Path, tmp_path: Path, stage_mark: str) -> None:
    extra = ("iterations=1", "eval.judge_metrics=false", "prompt_gen.num_prompts=6", "backend.batch_size=3")
    reference = _run(tiny_model_dir, tmp_path / "ref", *extra)
    with pytest.raises(Crash):
        _run(tiny_model_dir, tmp_path / "crash", *extra, factory=_crashing_factory(stage_mark, 2))
    crashed = _run(tiny_model_dir, tmp_path / "crash", *extra)
    for name in ("prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "pairs.jsonl"):
        assert read_rows(crashed.iteration(1) / name) == read_rows(reference.iteration(1) / name), name


def test_candidates_resume_skips_written_rows(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A crash in the middle of candidates: the rerun writes each row exactly once."""
    extra = ("iterations=1", "eval.judge_metrics=false", "prompt_gen.num_prompts=6", "backend.batch_size=3")
    reference = _run(tiny_model_dir, tmp_path / "ref", *extra)
    with pytest.raises(ScriptedCrash):
        _run(tiny_model_dir, tmp_path / "crash", *extra, factory=crashing_factory(3))
    partial = read_rows(tmp_path / "crash" / "t" / "iter1" / "candidates.jsonl.partial")
    assert 0 < len(partial) < len(read_rows(reference.iteration(1) / "candidates.jsonl"))
    crashed = _run(tiny_model_dir, tmp_path / "crash", *extra)
    rows = read_rows(crashed.iteration(1) / "candidates.jsonl")
    assert rows == read_rows(reference.iteration(1) / "candidates.jsonl")
    assert len({r["id"] for r in rows}) == len(rows)


def test_zero_pairs_stops_with_an_explanation(tiny_model_dir: Path, tmp_path: Path) -> None:
    """With the real tiny model as judge nothing parses: the run stops instead of training on nothing."""
    from srlm.pipeline import default_backend_factory

    with pytest.raises(UserError, match="no usable training rows"):
        _run(tiny_model_dir, tmp_path, "iterations=1", "eval.judge_metrics=false", factory=default_backend_factory)
    stats = json.loads((tmp_path / "t" / "iter1" / "stats.json").read_text())
    assert stats["judgments"]["parsed"] == 0 and stats["pairs"]["kept"] == 0


def test_positive_only_variant_fine_tunes_on_top_scored_responses(tiny_model_dir: Path, tmp_path: Path) -> None:
    """SR's ablation (section 3.1): responses whose mean score reaches the threshold join the
    seed SFT data, and M2 is that SFT of M0, as M1 was made."""
    run = _run(tiny_model_dir, tmp_path, "iterations=1", "eval.judge_metrics=false", "pairs.mode=positive_only", "pairs.positive_threshold=3.5", "data.max_eft=8")
    rows = read_rows(run.iteration(1) / "positives.jsonl")
    judged = {row["id"]: row["mean_score"] for row in read_rows(run.iteration(1) / "judgments.jsonl")}
    texts = {(c["prompt_id"], c["response"].strip()) for c in read_rows(run.iteration(1) / "candidates.jsonl") if (judged[c["id"]] or 0) >= 3.5}
    assert len(rows) == len(texts) > 0  # one row per distinct top-scored text of a prompt
    assert all(row["score"] >= 3.5 for row in rows)
    assert not (run.iteration(1) / "pairs.jsonl").exists()
    assert (run.model(2) / "model.safetensors").is_file()
    seed = read_rows(run.data / "sft.jsonl")
    train = json.loads((run.iteration(1) / "stats.json").read_text())["train"]
    assert train["trained_from"] == "M0" and train["rows"] == len(seed) + len(rows)
    assert train["rows_by_kind"]["positive"] == len(rows) and train["rows_by_kind"]["ift"] == sum(r.get("kind") == "ift" for r in seed)


def test_a_fixed_prompt_pool_is_written_once_and_never_reused(tiny_model_dir: Path, tmp_path: Path) -> None:
    """MR section 4.1's pool through the whole loop: written by M1 once, sampled per iteration."""
    run = _run(tiny_model_dir, tmp_path, "eval.judge_metrics=false", "sft.enabled=false", "prompt_gen.pool_size=8")
    pool = read_rows(run.root / "prompt_pool" / "prompts.jsonl")
    used = [read_rows(run.iteration(t) / "prompts.jsonl") for t in (1, 2)]
    assert len(pool) == 8 and [len(rows) for rows in used] == [4, 4]
    assert {r["pool_id"] for r in used[0]}.isdisjoint(r["pool_id"] for r in used[1])
    assert all(r["prompt"] == {p["id"]: p["prompt"] for p in pool}[r["pool_id"]] for rows in used for r in rows)
    assert not (run.iteration(2) / "prompts_raw.jsonl").exists()  # iteration 2 wrote no prompts
    second = json.loads((run.iteration(2) / "stats.json").read_text())["prompts"]
    assert second["source"] == "pool" and second["used_before"] == 4 and second["left_after"] == 0


def test_every_backend_is_closed_when_the_run_ends(tiny_model_dir: Path, tmp_path: Path) -> None:
    # A vLLM backend is a server process: the final model's evaluation must release it too.
    made = []

    def factory(model_dir, config):
        backend = scripted_factory(model_dir, config)
        backend.closed = False
        real_close = backend.close

        def close():
            backend.closed = True
            real_close()

        backend.close = close
        made.append(backend)
        return backend

    _run(tiny_model_dir, tmp_path, factory=factory)
    assert len(made) == 3 and all(b.closed for b in made)  # M1, M2 and M3
