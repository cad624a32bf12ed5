"""Pipeline hook: head-to-head of M(t) against the frozen M1 on held-out IFT prompts.

When ``eval.win_rate_prompts`` > 0, ``update_eval`` adds ``win_rate_vs_M1`` to
``M<t>/eval.json`` for t >= 2 (Yuan et al. 2024 report M2 and M3 against M1 this way). The
judge is ``eval.win_rate_judge``: ``"M1"`` (frozen), ``"current"`` (M(t) itself), a model
directory or name, ``openai:<model_name>@<base_url>`` (key from ``backend.api_key_env``),
``reward_model:<model>`` or ``function:<package.module:function>`` (``judging.kinds``; a
function gets the held-out prompt's reference answer from the run's seed files).
The prompts are the first ``eval.win_rate_prompts`` rows of ``<run>/data/ift_heldout.jsonl``:
never trained on, never used as few-shot examples.

Answers are greedy (reproducible, and the same for M1 at every t); M1's are kept in
``M1/win_rate_answers.jsonl`` and reused, M(t)'s and the judgments live in ``M<t>/``, all
resumable. M(t) is A, M1 is B: a win means M(t) was preferred. The entry holds
``metrics.head_to_head``'s fields (wins, ties, losses, rates, intervals) plus who judged how.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from srlm.backends.base import Backend
from srlm.config import Config
from srlm.evaluation.compare import answer_sampling, generate_answers, summary
from srlm.evaluation.judges import EvalContext, resolve
from srlm.judging.judge import JudgeContext
from srlm.judging.kinds import FixedJudge, fixed_judge, seed_references, split_judge_spec
from srlm.judging.pairwise import JudgeSettings, head_to_head_verdicts
from srlm.records import SeedBundle
from srlm.runtime import distributed
from srlm.runtime.rundir import RunDir, read_json, write_json

log = logging.getLogger("srlm")

KEY = "win_rate_vs_M1"


class IterationContext(JudgeContext, Protocol):
    """What the hook needs of the pipeline's iteration: M(t) (``backend``), the run and a way
    to load other checkpoints (the pipeline's ``StageContext`` is one)."""

    run: RunDir
    iteration: int
    backend_factory: Callable[[Path, Config], Backend]


def pending(ctx: IterationContext) -> bool:
    """Whether ``M<t>/eval.json`` should get a win rate it does not have yet."""
    t, cfg = ctx.iteration, ctx.config.eval
    if t < 2 or cfg.win_rate_prompts <= 0:
        return False
    path = ctx.run.eval(t)
    return not (path.exists() and KEY in read_json(path))


def update_eval(ctx: IterationContext, seeds: SeedBundle, method: str = "pairwise") -> dict | None:
    """Add ``win_rate_vs_M1`` to ``M<t>/eval.json`` (t = ``ctx.iteration``) once; returns it.

    Does nothing for t < 2, when ``eval.win_rate_prompts`` is 0, or when the file already
    has it. Uses ``ctx.backend`` (M(t), already loaded by the pipeline) as actor.
    """
    if not pending(ctx):
        return None
    t, config, run = ctx.iteration, ctx.config, ctx.run
    prompts = [{"id": r["id"], "prompt": r["prompt"]} for r in seeds.get("ift_heldout", [])[: config.eval.win_rate_prompts]]
    if not prompts:
        log.warning("M%d: eval.win_rate_prompts > 0 but the run has no held-out IFT prompts (data/ift_heldout.jsonl is empty)", t)
        result: dict = {"skipped": "no held-out IFT prompts in data/ift_heldout.jsonl"}
    else:
        result = _measure(ctx, prompts, method)
    path = run.eval(t)
    current = read_json(path) if path.exists() else {"model": f"M{t}"}
    if distributed.is_main():
        write_json(path, {**current, KEY: result})
    return result


def _measure(ctx: IterationContext, prompts: list[dict], method: str) -> dict:
    t, config, run = ctx.iteration, ctx.config, ctx.run
    sampling = answer_sampling(config)
    m1 = EvalContext(config, "M1", lambda: ctx.backend_factory(run.model(1), config))
    mine = generate_answers(ctx, prompts, sampling, run.model_dir(t) / "win_rate_answers.jsonl", "win-rate answers")
    theirs = generate_answers(m1, prompts, sampling, run.model_dir(1) / "win_rate_answers.jsonl", "win-rate answers")
    judge = _judge(ctx, m1)
    settings = JudgeSettings.from_config(config, method)
    items = [{"id": p["id"], "prompt": p["prompt"], "answer_a": mine[p["id"]], "answer_b": theirs[p["id"]]} for p in prompts]
    ab, ba, _ = head_to_head_verdicts(judge, items, settings, run.model_dir(t) / "win_rate_judgments.jsonl", f"M{t} vs M1 judging")
    m1.release()
    if judge is not m1 and judge is not ctx:
        judge.release()
    about = summary(f"M{t}", "M1", config.eval.win_rate_judge, settings, ab, ba, config.seed)
    outcome = about.pop("result")
    log.info("M%d vs M1: %d wins, %d ties, %d losses (judge %s)", t, outcome["wins"], outcome["ties"], outcome["losses"], about["judge"])
    # Flat: the outcome's counts and rates at the top level, as the report reads them.
    return outcome | about | {"prompts": len(prompts), "source": "data/ift_heldout.jsonl"}


def _judge(ctx: IterationContext, m1: EvalContext) -> EvalContext | IterationContext | FixedJudge:
    """``eval.win_rate_judge`` as a context: M1, M(t), another model, an HTTP endpoint, a
    reward model or a function (the judge kinds of ``judging.kinds``)."""
    spec, config = ctx.config.eval.win_rate_judge, ctx.config
    if spec == "M1":
        return m1
    if spec == "current":
        return ctx
    kind, name = split_judge_spec(spec)
    if kind != "model":  # an endpoint, a reward model or a function (judging.kinds)
        return fixed_judge(kind, name, config, m1.seed, seed_references(ctx.run.data), ctx.backend_factory)
    path = resolve(name).path
    # Local judges load through the pipeline's engine, like every other model of the run.
    return EvalContext(config, spec, lambda: ctx.backend_factory(path, config))
