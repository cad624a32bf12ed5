"""Evaluation of model M(t) as a judge on held-out EFT prompts (SR section 3.3, Table 4).

Writes ``M<t>/eval.json`` with pairwise accuracy, exact match, 5-best %, Spearman and Kendall
against the human (or graded) quality, plus the parse rate. Judgments are kept in
``M<t>/eval_judgments.jsonl`` (resumable) so every number can be traced to model text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from srlm import distributed
from srlm.backends.base import Sampling
from srlm.config import Config
from srlm.judging.templates import load_template
from srlm.metrics import Group, bootstrap_intervals, reward_model_metrics
from srlm.rundir import RowLog, write_json
from srlm.stages.common import StageContext, chunked, log, progress
from srlm.stages.judgments import judge_conversation, judgment_row, mean_of, score_rows


class JudgeContext(Protocol):
    """What judging needs: a config, a backend (loaded on first use) and per-chunk seeds.

    A ``StageContext`` is one; ``srlm.evaluation.judges.EvalContext`` is one without a run.
    """

    config: Config

    @property
    def backend(self) -> Any: ...

    def seed(self, stage: str, *chunk: int) -> int: ...


def heldout_items(heldout: list[dict], limit: int = 0) -> list[dict]:
    """One item per (held-out prompt, response)."""
    rows = heldout[:limit] if limit else heldout
    return [
        {"id": f"{row['id']}-r{k}", "prompt_id": row["id"], "prompt": row["prompt"], "response": resp["text"]}
        for row in rows
        for k, resp in enumerate(row["responses"])
    ]


def text_mean(row: dict) -> float | None:
    """The mean of the digits the judge wrote (the score under ``judge.scoring: text``)."""
    return mean_of(row["scores"])


def groups_from(heldout: list[dict], judged: dict[str, dict], score: Callable[[dict], float | None] = lambda row: row["mean_score"]) -> list[Group]:
    """Metric groups: the judge's score (``score`` of its row) and the human label of each response."""
    groups = []
    for row in heldout:
        scores = [score(judged[f"{row['id']}-r{k}"]) for k in range(len(row["responses"]))]
        if "rank" in row["responses"][0]:
            groups.append(Group.from_ranks(scores, [r["rank"] for r in row["responses"]]))
        else:
            groups.append(Group.from_scores(scores, [r["score"] for r in row["responses"]]))
    return groups


def judge_items(ctx: JudgeContext, items: list[dict], log_file: RowLog, samples: int, temperature: float, desc: str) -> None:
    """Judge every item not yet in ``log_file``, a chunk at a time."""
    cfg = ctx.config.judge
    template = load_template(cfg.template, ("prompt", "response"))
    per_chunk = max(1, ctx.config.backend.batch_size // samples)
    bar = progress(len(items) * samples, desc, "judgment")
    for index, chunk in distributed.shard(chunked(items, per_chunk)):
        if all(item["id"] in log_file.ids for item in chunk):
            bar.update(len(chunk) * samples)
            continue
        sampling = Sampling(temperature=temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=samples, seed=ctx.seed(desc, index))
        conversations = [judge_conversation(template, i["prompt"], i["response"]) for i in chunk]
        outputs = ctx.backend.generate(conversations, sampling)
        rows = [judgment_row(item, texts) for item, texts in zip(chunk, outputs)]
        score_rows(ctx.backend, cfg, rows, conversations)
        log_file.append(rows)
        bar.update(len(chunk) * samples)
    bar.close()


def judge_metrics(ctx: JudgeContext, heldout: list[dict], log_path: Path, samples: int, temperature: float, desc: str) -> dict:
    """Reward-model metrics of ``ctx``'s model judging ``heldout`` (judgments resumable in ``log_path``)."""
    items = heldout_items(heldout)
    judged_log = RowLog(log_path)
    judge_items(ctx, items, judged_log, samples, temperature, desc)
    judged_log.finish(order=[i["id"] for i in items])
    judged = {row["id"]: row for row in judged_log.rows}
    groups = groups_from(heldout, judged)
    metrics = {**reward_model_metrics(groups), "ci95": bootstrap_intervals(groups)}
    if ctx.config.judge.scoring == "expected":  # the written digits too, to compare the two
        text_groups = groups_from(heldout, judged, text_mean)
        metrics["text_scoring"] = {**reward_model_metrics(text_groups), "ci95": bootstrap_intervals(text_groups)}
    return metrics


def run(ctx: StageContext, seeds: dict) -> dict:
    """Measure M(t) (``ctx.iteration`` = t) as a judge and write ``M<t>/eval.json``."""
    cfg = ctx.config.eval
    t = ctx.iteration
    heldout = seeds["eft_heldout"][: cfg.max_heldout] if cfg.max_heldout else seeds["eft_heldout"]
    log_path = ctx.run.model_dir(t) / "eval_judgments.jsonl"
    metrics = judge_metrics(ctx, heldout, log_path, cfg.judge_samples, cfg.judge_temperature, f"M{t} judge eval")
    result = {"model": f"M{t}", "judge": metrics, "heldout_prompts": len(heldout), "judge_samples": cfg.judge_samples, "judge_temperature": cfg.judge_temperature}
    if distributed.is_main():
        write_json(ctx.run.eval(t), result)
    log.info("M%d judge: pairwise=%s spearman=%s parse_rate=%s", t, _fmt(metrics["pairwise_accuracy"]), _fmt(metrics["spearman"]), _fmt(metrics["parse_rate"]))
    return result


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
