"""Evaluation of M(t) after it is made: ``M<t>/eval.json`` (SR section 3.3, Table 4; 3.2).

1. M(t) as a judge on the run's held-out EFT prompts (``evaluation.judge_eval.judge_metrics``):
   pairwise accuracy (strict, the papers' reading, and with ties counted half), the judge-tie
   share, exact match, 5-best %, Spearman, Kendall, parse rate, and each one's definition. The judgments are
   kept in ``M<t>/eval_judgments.jsonl`` (resumable), so every number traces to model text.
2. For t >= 2 with ``eval.win_rate_prompts`` > 0: M(t) against the frozen M1 head to head
   (``evaluation.win_rate``), added to the same file.
"""

from __future__ import annotations

import logging

from srlm.evaluation import win_rate
from srlm.evaluation.judge_eval import judge_metrics
from srlm.records import SeedBundle
from srlm.runtime import distributed
from srlm.runtime.model_card import write_model_card
from srlm.runtime.rundir import write_json
from srlm.stages.common import StageContext

log = logging.getLogger("srlm")


def run(ctx: StageContext, seeds: SeedBundle) -> dict:
    """Measure M(t) (``ctx.iteration`` = t) and write ``M<t>/eval.json``."""
    result = judge_eval(ctx, seeds)
    if ctx.iteration >= 2 and ctx.config.eval.win_rate_prompts > 0:
        win_rate.update_eval(ctx, seeds, ctx.config.eval.win_rate_method)
    # The card shows the metrics: rewritten whenever eval.json is (written, or updated above).
    distributed.on_main(write_model_card, ctx.run, ctx.iteration)
    return result


def judge_eval(ctx: StageContext, seeds: SeedBundle) -> dict:
    """M(t)'s judge metrics on the held-out EFT prompts, written to ``M<t>/eval.json``."""
    cfg = ctx.config.eval
    t = ctx.iteration
    heldout = seeds["eft_heldout"][: cfg.max_heldout] if cfg.max_heldout else seeds["eft_heldout"]
    log_path = ctx.run.model_dir(t) / "eval_judgments.jsonl"
    metrics = judge_metrics(ctx, heldout, log_path, cfg.judge_samples, cfg.judge_temperature, f"M{t} judge eval")
    result = {"model": f"M{t}", "judge": metrics, "heldout_prompts": len(heldout), "judge_samples": cfg.judge_samples, "judge_temperature": cfg.judge_temperature}
    if distributed.is_main():
        write_json(ctx.run.eval(t), result)
    log.info("M%d judge: pairwise strict=%s (untied %s, ties 1/2 %s, judge ties %s) spearman=%s parse_rate=%s", t, _fmt(metrics["pairwise_accuracy_strict"]),
             _fmt(metrics["pairwise_accuracy_untied"]), _fmt(metrics["pairwise_accuracy_tie_half"]), _fmt(metrics["judge_tie_share"]),
             _fmt(metrics["spearman"]), _fmt(metrics["parse_rate"]))
    return result


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
