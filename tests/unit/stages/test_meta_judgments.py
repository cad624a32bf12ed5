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

# ---------------------------------------------------------------------------------------------
# Helpers: hand-made targets and a model-free backend


def target(scores: Sequence[float], lengths: Sequence[int] | None = None, samples: Sequence[int] | None = None) -> meta.Target:
    """A target whose judgment k has ``lengths[k]`` words and ends with ``Score: scores[k]``."""
    lengths = lengths or [5] * len(scores)
    texts = tuple(" ".join([f"w{k}"] * (n - 2)) + f" Score: {s:g}" for k, (s, n) in enumerate(zip(scores, lengths)))
    return meta.Target("p0", "p0-c0", "Name a colour.", "Blue.", texts, tuple(float(s) for s in scores), tuple(samples or range(len(scores))))


def table_from(size: int, winner: Callable[[int, int], int | None]) -> meta.Table:
    """Every ordered pair (first, second) of ``size`` judgments, decided by ``winner``."""
    return {(m, n): winner(m, n) for m in range(size) for n in range(size) if m != n}


_SHOWN = re.compile(r"Judgment A: (?P<a>.*?)\n\nJudgment B: (?P<b>.*?)\n\nAfter examining", re.S)


class ScriptedBackend(FakeBackend):
    """Meta-judge requests get ``policy(judgment_a, judgment_b)``; tokens are words."""

    def __init__(self, policy: Callable[[str, str], str]) -> None:
        self.policy = policy
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, conversations: Sequence[list[dict]], sampling: Sampling) -> list[list[str]]:
        self.calls += 1
        out = []
        for conversation in conversations:
            shown = _SHOWN.search(conversation[-1]["content"])
            assert shown is not None, "only meta-judge requests are expected here"
            out.append([self.policy(shown["a"], shown["b"])] * sampling.n)
        return out


def score_of(judgment: str) -> float:
    return float(judgment.rsplit("Score:", 1)[1])


def prefers_higher_score(a: str, b: str) -> str:
    """A meta-judge that rewards generous judges (a bias MR section 5 warns about)."""
    if score_of(a) == score_of(b):
        return "Both are fine. Winner: Judgment A | Judgment B"  # unparsable: dropped
    return "Winner: Judgment A" if score_of(a) > score_of(b) else "Winner: Judgment B"


def make_ctx(tmp_path: Path, backend: ScriptedBackend, iteration: int = 1, *overrides: str) -> StageContext:
    config = load_config(None, ["method=meta_rewarding", f"runs_dir={tmp_path}", "backend.batch_size=4", *overrides])
    return StageContext(config=config, run=RunDir(tmp_path / "run"), iteration=iteration, backend_factory=lambda path, cfg: backend)


def judged_prompts() -> tuple[list[dict], list[dict]]:
    """Two prompts with 2 candidates each: p0 has disagreement on c1, p1 has none anywhere."""
    candidates = [{"id": f"p{p}-c{c}", "prompt_id": f"p{p}", "prompt": f"Question {p}?", "response": f"Answer {p}{c}."} for p in range(2) for c in range(2)]
    texts = {
        "p0-c0": ["Fine. Score: 4", "Fine. Score: 4", "Fine. Score: 4"],
        "p0-c1": ["Short. Score: 2", "no score here", "A much longer and more generous judgment. Score: 5", "Middling. Score: 3"],
        "p1-c0": ["Ok. Score: 3", "Ok. Score: 3"],
        "p1-c1": ["Ok. Score: 1", "unparsable"],
    }
    judgments = []
    for cid, ts in texts.items():
        scores = [score_of(t) if "Score:" in t else None for t in ts]
        judgments.append({"id": cid, "prompt_id": cid[:2], "judgments": ts, "scores": scores})
    return candidates, judgments


# ---------------------------------------------------------------------------------------------
# 1. Targets and comparisons


def test_targets_take_the_most_varied_response_and_only_its_parsed_judgments() -> None:
    candidates, judgments = judged_prompts()
    targets, considered = meta.pick_targets(candidates, judgments)
    assert considered == 2
    assert [t.candidate_id for t in targets] == ["p0-c1"]  # p1 has no disagreement
    assert targets[0].samples == (0, 2, 3)  # sample 1 did not parse: never compared
    assert targets[0].scores == (2.0, 5.0, 3.0)


def test_every_ordered_pair_is_compared_once_with_traceable_ids() -> None:
    rows = meta.comparisons([target([1, 2, 3], samples=[0, 2, 5])])
    assert len(rows) == 3 * 2
    assert {(r["first"], r["second"]) for r in rows} == {(m, n) for m in range(3) for n in range(3) if m != n}
    assert "p0-c0-j5-j0" in {r["id"] for r in rows}  # original sample indices, j5 shown first


def test_verdict_table_maps_letters_to_judgments_and_keeps_unparsed_as_none() -> None:
    t = target([1, 2, 3], samples=[0, 2, 5])
    rows = [
        {"first": 0, "second": 2, "verdict": "A"},
        {"first": 2, "second": 0, "verdict": "A"},
        {"first": 5, "second": 0, "verdict": "B"},
        {"first": 0, "second": 5, "verdict": None},
    ]
    assert meta.verdict_table(t, rows) == {(0, 1): 0, (1, 0): 1, (2, 0): 0, (0, 2): None}


# ---------------------------------------------------------------------------------------------
# 2. Position-bias weights, Elo and the judge pair


def test_weights_come_from_all_tables_of_the_iteration() -> None:
    first_wins = table_from(2, lambda m, n: m)  # 2 first-position wins
    mixed = {(0, 1): 1, (1, 0): 1, (0, 2): None, (2, 0): 2}  # second, first, -, first
    w1, w2, first, second = meta.iteration_weights([first_wins, mixed])
    assert (first, second) == (4, 1)
    assert (w1, w2) == pytest.approx((1 / 5, 4 / 5))
    assert meta.iteration_weights([]) == (0.5, 0.5, 0, 0)


def test_a_meta_judge_that_always_picks_position_a_gives_no_judge_pair() -> None:
    """All wins are first-position wins, so w1 = 0: the bias cancels and no judgment is preferred."""
    always_a = table_from(4, lambda m, n: m)
    w1, w2, _, _ = meta.iteration_weights([always_a])
    assert (w1, w2) == (0.0, 1.0)
    pick = meta.rank_judgments(always_a, 4, w1, w2, [10] * 4, max_chosen_length=100)
    assert pick.dropped == "no_preference" and pick.chosen is None
    assert pick.elo == (0.0, 0.0, 0.0, 0.0)


def test_the_judgment_that_wins_every_comparison_is_chosen() -> None:
    # Judgment 2 wins in both positions; judgment 0 loses in both; else the first shown wins.
    def winner(m: int, n: int) -> int:
        if 2 in (m, n):
            return 2
        if 0 in (m, n):
            return n if m == 0 else m
        return m

    table = table_from(4, winner)
    w1, w2, _, _ = meta.iteration_weights([table])
    pick = meta.rank_judgments(table, 4, w1, w2, [10] * 4, max_chosen_length=100)
    assert (pick.chosen, pick.rejected) == (2, 0)
    assert pick.elo[2] == max(pick.elo) and pick.elo[0] == min(pick.elo)


def test_the_length_limit_drops_pairs_whose_chosen_judgment_is_too_long() -> None:
    table = table_from(3, lambda m, n: 1 if 1 in (m, n) else min(m, n))
    assert meta.rank_judgments(table, 3, 0.5, 0.5, [10, 51, 10], max_chosen_length=50).dropped == "chosen_too_long"
    kept = meta.rank_judgments(table, 3, 0.5, 0.5, [10, 50, 10], max_chosen_length=50)
    assert (kept.chosen, kept.rejected) == (1, 2)  # the limit is inclusive


def test_unparsed_verdicts_add_nothing() -> None:
    pick = meta.rank_judgments(table_from(3, lambda m, n: None), 3, 0.5, 0.5, [1, 1, 1], 100)
    assert pick.dropped == "no_preference"


def test_higher_score_win_rate_ignores_equal_scores_and_unparsed_verdicts() -> None:
    t = target([1, 3, 3])
    table = {(0, 1): 1, (1, 0): 0, (1, 2): 1, (2, 0): None}
    assert meta.higher_score_win_rate([t], [table]) == 0.5
    assert meta.higher_score_win_rate([t], [{(1, 2): 2}]) is None


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
