"""The Meta-Rewarding stage without a model: verdict tables, weights, Elo picks, stats, resume.

Also the length-controlled actor pairs of ``stages/pairs.py`` (MR section 3.1) as wired to the
config (``pairs.length_rho`` per iteration, ``pairs.length_unit``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Sequence

import pytest

from srlm.backends.base import Sampling
from srlm.config import load_config
from srlm.errors import UserError
from srlm.runtime.rundir import RunDir, read_rows
from srlm.stages import meta_judgments as meta
from srlm.stages import pairs
from srlm.stages.common import StageContext
from tests.helpers.fakes import FakeBackend
from tests.helpers.meta_rows import judged_prompts, score_of

# ---------------------------------------------------------------------------------------------
# Helpers: hand-made targets and a model-free backend


_SHOWN = re.compile(r"Judgment A: (?P<a>.*?)\n\nJudgment B: (?P<b>.*?)\n\nAfter examining", re.S)


class ScriptedBackend(FakeBackend):
    """Meta-judge requests get ``policy(judgment_a, judgment_b)``; tokens are words."""

    def __init__(self, policy: Callable[[str, str], str]) -> None:
        self.policy = policy
        self.calls = 0

    def generate(self, conversations: Sequence[list[dict]], sampling: Sampling) -> list[list[str]]:
        self.calls += 1
        out = []
        for conversation in conversations:
            shown = _SHOWN.search(conversation[-1]["content"])
            assert shown is not None, "only meta-judge requests are expected here"
            out.append([self.policy(shown["a"], shown["b"])] * sampling.n)
        return out


def prefers_higher_score(a: str, b: str) -> str:
    """A meta-judge that rewards generous judges (a bias MR section 5 warns about)."""
    if score_of(a) == score_of(b):
        return "Both are fine. Winner: Judgment A | Judgment B"  # unparsable: dropped
    return "Winner: Judgment A" if score_of(a) > score_of(b) else "Winner: Judgment B"


def make_ctx(tmp_path: Path, backend: ScriptedBackend, iteration: int = 1, *overrides: str) -> StageContext:
    config = load_config(None, ["method=meta_rewarding", f"runs_dir={tmp_path}", "backend.batch_size=4", *overrides])
    return StageContext(config=config, run=RunDir(tmp_path / "run"), iteration=iteration, backend_factory=lambda path, cfg: backend)


# ---------------------------------------------------------------------------------------------
# 3. The stage end to end on a fake backend


def test_stage_writes_judge_pairs_and_meta_stats(tmp_path: Path) -> None:
    backend = ScriptedBackend(prefers_higher_score)
    ctx = make_ctx(tmp_path, backend, 1, "meta.max_chosen_judgment_length=50")
    rows = meta.run(ctx, *judged_prompts())
    assert len(rows) == 1
    pair = rows[0]
    assert pair["kind"] == "judge" and pair["prompt_id"] == "p0"
    assert pair["chosen"].endswith("Score: 5") and pair["rejected"].endswith("Score: 2")
    assert pair["chosen_elo"] > pair["rejected_elo"]
    assert "additive 5-point scoring system" in pair["prompt"] and "Answer 01." in pair["prompt"]
    assert read_rows(ctx.path("judge_pairs.jsonl")) == rows

    logged = read_rows(ctx.path("meta_judgments.jsonl"))
    assert len(logged) == 6 and all(r["verdict"] in ("A", "B") for r in logged)
    stats = json.loads(ctx.path("stats.json").read_text())["meta"]
    assert stats["prompts"] == 2 and stats["no_disagreement"] == 1
    assert stats["comparisons"] == 6 and stats["verdicts_parsed"] == 6 and stats["verdicts_unparsed"] == 0
    assert stats["first_position_wins"] + stats["second_position_wins"] == 6
    assert stats["first_position_win_rate"] == 0.5 and stats["w1"] == stats["w2"] == 0.5
    assert stats["higher_score_win_rate"] == 1.0
    assert stats["judge_pairs"] == 1 and stats["dropped"] == {"no_disagreement": 1}
    assert stats["mean_chosen_length"] == backend.count_tokens(pair["chosen"])
    assert stats["judge_pairs_trained_on"] is True
    assert stats["over_dpo_max_length"] == 0 and pair["prompt_length"] == backend.count_tokens(pair["prompt"])


def test_judge_pairs_that_dpo_would_truncate_are_counted(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 1, "dpo.max_length=16")
    assert len(meta.run(ctx, *judged_prompts())) == 1  # counted and warned about, not dropped
    assert json.loads(ctx.path("stats.json").read_text())["meta"]["over_dpo_max_length"] == 1


def test_stage_counts_position_bias_and_long_winners(tmp_path: Path) -> None:
    always_a = make_ctx(tmp_path / "a", ScriptedBackend(lambda a, b: "Winner: Judgment A"), 1)
    assert meta.run(always_a, *judged_prompts()) == []
    stats = json.loads(always_a.path("stats.json").read_text())["meta"]
    assert stats["first_position_win_rate"] == 1.0 and (stats["w1"], stats["w2"]) == (0.0, 1.0)
    assert stats["dropped"] == {"no_disagreement": 1, "no_preference": 1}

    strict = make_ctx(tmp_path / "b", ScriptedBackend(prefers_higher_score), 1, "meta.max_chosen_judgment_length=5")
    assert meta.run(strict, *judged_prompts()) == []
    assert json.loads(strict.path("stats.json").read_text())["meta"]["dropped"] == {"no_disagreement": 1, "chosen_too_long": 1}


def test_judge_pairs_are_written_but_not_returned_outside_their_iterations(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 3)  # default: iterations 1 and 2
    assert meta.run(ctx, *judged_prompts()) == []
    assert len(read_rows(ctx.path("judge_pairs.jsonl"))) == 1
    assert json.loads(ctx.path("stats.json").read_text())["meta"]["judge_pairs_trained_on"] is False


def test_unparsed_verdicts_are_dropped_and_counted(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(lambda a, b: "I cannot decide."), 1)
    assert meta.run(ctx, *judged_prompts()) == []
    stats = json.loads(ctx.path("stats.json").read_text())["meta"]
    assert stats["verdicts_unparsed"] == 6 and stats["verdicts_parsed"] == 0
    assert stats["first_position_win_rate"] is None and stats["dropped"]["no_preference"] == 1


def test_a_finished_stage_is_not_run_again(tmp_path: Path) -> None:
    backend = ScriptedBackend(prefers_higher_score)
    first = meta.run(make_ctx(tmp_path, backend, 1), *judged_prompts())
    calls = backend.calls
    assert meta.run(make_ctx(tmp_path, backend, 1), *judged_prompts()) == first
    assert backend.calls == calls


def test_a_crash_mid_stage_resumes_without_duplicates(tmp_path: Path) -> None:
    reference = meta.run(make_ctx(tmp_path / "ref", ScriptedBackend(prefers_higher_score), 1), *judged_prompts())

    class Crash(Exception):
        pass

    crashing = ScriptedBackend(prefers_higher_score)
    real = crashing.generate

    def generate(conversations, sampling):  # the second chunk of 4 comparisons fails
        if crashing.calls == 1:
            raise Crash
        return real(conversations, sampling)

    crashing.generate = generate  # type: ignore[method-assign]
    with pytest.raises(Crash):
        meta.run(make_ctx(tmp_path / "crash", crashing, 1), *judged_prompts())
    assert len(read_rows(tmp_path / "crash" / "run" / "iter1" / "meta_judgments.jsonl.partial")) == 4
    resumed = make_ctx(tmp_path / "crash", ScriptedBackend(prefers_higher_score), 1)
    assert meta.run(resumed, *judged_prompts()) == reference
    assert len(read_rows(resumed.path("meta_judgments.jsonl"))) == 6


def test_positive_only_mode_cannot_take_judge_pairs(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 1, "pairs.mode=positive_only")
    with pytest.raises(UserError, match="positive_only"):
        meta.run(ctx, *judged_prompts())


# ---------------------------------------------------------------------------------------------
# 4. Length control in the actor pairs stage (MR 3.1), as configured per iteration


def actor_groups() -> dict:
    """One prompt: a long top answer, a short near-top one, a short bottom one, a long near-bottom."""
    texts = ["long " * 40, "short best", "tiny", "padded " * 30]
    scores = [5.0, 4.6, 1.0, 1.4]
    return {"p0": [({"prompt": "Q?", "response": t}, s) for t, s in zip(texts, scores)]}


def test_rho_zero_is_best_versus_worst(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 1, "pairs.length_rho=[0, 0.2]")
    rows, stats = pairs.make_pairs(ctx, actor_groups())
    assert (rows[0]["chosen_score"], rows[0]["rejected_score"]) == (5.0, 1.0)
    assert stats["length_rho"] == 0.0


def test_rho_of_the_iteration_picks_shortest_top_and_longest_bottom(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 2, "pairs.length_rho=[0, 0.2]")
    rows, stats = pairs.make_pairs(ctx, actor_groups())
    # Tiers with rho 0.2 over [1, 5]: top [4.2, 5], bottom [1, 1.8].
    assert (rows[0]["chosen_score"], rows[0]["rejected_score"]) == (4.6, 1.4)
    assert rows[0]["chosen_length"] == 2 and rows[0]["rejected_length"] == 30  # tokens (words here)
    assert stats["length_rho"] == 0.2
    later = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 5, "pairs.length_rho=[0, 0.2]")
    assert pairs.make_pairs(later, actor_groups())[1]["length_rho"] == 0.2  # the last entry repeats


def test_length_unit_chars_measures_characters(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, ScriptedBackend(prefers_higher_score), 1, "pairs.length_rho=0.2", "pairs.length_unit=chars")
    rows, _ = pairs.make_pairs(ctx, actor_groups())
    assert rows[0]["chosen_length"] == len("short best") and rows[0]["rejected_length"] == len("padded " * 30)
