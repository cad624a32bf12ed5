"""Stage 4b (Meta-Rewarding only, after pairs): the meta-judge compares judgments; Elo makes judge pairs.

Wu et al. 2024 (arXiv 2407.19594), section 3.2; the judging itself is ``judging.meta_judge``'s,
this stage runs the meta-judge over the iteration and writes the files. Per prompt:

1. pick the response whose judge scores vary most (no disagreement: the prompt gives no pair);
2. the meta-judge compares every ordered pair of that response's parsed judgments, so each
   unordered pair is seen in both orders (``meta_judgments.jsonl``, resumable);
3. position-bias weights w1, w2 from the whole iteration's first/second-position wins;
4. battle matrix, Bradley-Terry "Elo", chosen = highest, rejected = lowest judgment, dropped
   when the chosen judgment is longer than ``meta.max_chosen_judgment_length`` (in
   ``meta.judgment_length_unit``, per iteration), when the scores the two judgments give differ
   by less than ``meta.min_score_gap`` or more than ``meta.max_score_gap``, or when the two
   texts are the same (each counted by reason).

Judge pairs (``judge_pairs.jsonl``, rows with ``"kind": "judge"``) train the model as a judge:
the prompt is the judge request for that response, chosen/rejected are two of its judgments.
They join the actor pairs only in ``meta.judge_pairs_iterations`` (MR: iterations 1-2).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from srlm.backends.base import Sampling
from srlm.errors import UserError
from srlm.generation import Generation, generate_missing
from srlm.config import per_iteration
from srlm.judging.meta_judge import Target, comparisons, higher_score_win_rate, iteration_weights, judge_pair_problem, judge_pair_row, meta_conversation, meta_row, pick_targets, rank_judgments, verdict_table
from srlm.judging.templates import load_template
from srlm.records import CandidateRow, JudgePairRow, JudgmentRow, MetaJudgmentRow
from srlm.runtime import distributed
from srlm.runtime.rundir import RowLog, read_rows, write_rows
from srlm.stages.common import StageContext, log


def run(ctx: StageContext, candidates: list[CandidateRow], judgments: list[JudgmentRow]) -> list[JudgePairRow]:
    """Write ``meta_judgments.jsonl`` and ``judge_pairs.jsonl``; return the judge pairs to train on.

    The stage runs (and records its ``meta`` stats) in every iteration, so the meta-judge's biases
    are monitored even when, as in MR iterations 3-4, its pairs are not trained on.
    """
    if ctx.config.pairs.mode != "pairs":
        raise UserError("config key 'pairs.mode': method meta_rewarding trains with DPO pairs; 'positive_only' cannot take judge pairs")
    final = ctx.path("judge_pairs.jsonl")
    if final.exists():
        rows = read_rows(final)
    else:
        targets, considered = pick_targets(candidates, judgments)
        log_rows = meta_judge(ctx, targets)
        rows = distributed.main_first(_write_judge_pairs, ctx, targets, considered, log_rows)
    return rows if _trains(ctx) else []


def _write_judge_pairs(ctx: StageContext, targets: list[Target], considered: int, log_rows: list[dict]) -> list[dict]:
    """Rank the judgments into ``judge_pairs.jsonl`` and record the ``meta`` stats; read it where it exists."""
    final = ctx.path("judge_pairs.jsonl")
    if final.exists():
        return read_rows(final)
    rows, stats = make_judge_pairs(ctx, targets, log_rows)
    no_disagreement = considered - len(targets)
    stats["dropped"] = {"no_disagreement": no_disagreement, **stats["dropped"]}
    ctx.record("meta", {"prompts": considered, "no_disagreement": no_disagreement, **stats, "judge_pairs_trained_on": _trains(ctx)})
    write_rows(final, rows)
    return rows


def _trains(ctx: StageContext) -> bool:
    """MR trains on judge pairs in iterations 1-2 only (``meta.judge_pairs_iterations``)."""
    return ctx.iteration in {int(t) for t in ctx.config.meta.judge_pairs_iterations}


def meta_judge(ctx: StageContext, targets: list[Target]) -> list[MetaJudgmentRow]:
    """The rows of ``meta_judgments.jsonl``: one meta-judgment per ordered pair, resumable."""
    cfg = ctx.config.meta
    template = load_template(cfg.template, ("prompt", "response", "judgment_a", "judgment_b"))
    log = RowLog(ctx.path("meta_judgments.jsonl"))
    todo = comparisons(targets)
    if log.done:
        return log.rows  # type: ignore[return-value]
    # Chunk boundaries and seeds depend only on the (final) judgments, so a resumed run samples
    # exactly what an uninterrupted one would.
    job = Generation(
        label=f"iter{ctx.iteration} meta-judging", unit="verdict", chunk_size=ctx.config.backend.batch_size,
        sampling=lambda index: Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, n=1, seed=ctx.seed("meta_judgments", index)),
        request=lambda c: meta_conversation(template, c["target"], c["first"], c["second"]),
        rows=lambda chunk, outputs, _: [meta_row(c, texts[0]) for c, texts in zip(chunk, outputs)],
    )
    generate_missing(job, todo, lambda: ctx.backend, log)
    return log.finish(order=[c["id"] for c in todo])  # type: ignore[return-value]


def make_judge_pairs(ctx: StageContext, targets: list[Target], log_rows: list[dict]) -> tuple[list[dict], dict]:
    """Judge pair rows for DPO and the ``meta`` stats (counts, weights, bias monitors)."""
    by_candidate: dict[str, list[dict]] = defaultdict(list)
    for row in log_rows:
        by_candidate[row["candidate_id"]].append(row)
    tables = [verdict_table(t, by_candidate[t.candidate_id]) for t in targets]
    w1, w2, first, second = iteration_weights(tables)
    judge_template = load_template(ctx.config.judge.template, ("prompt", "response"))
    cfg = ctx.config.meta
    limit = per_iteration(cfg.max_chosen_judgment_length, ctx.iteration)
    rows, dropped = [], Counter()
    for target, table in zip(targets, tables):
        lengths = [ctx.backend.count_tokens(text) for text in target.judgments]  # the rows' lengths, for DPO's limit
        measured = lengths if cfg.judgment_length_unit == "tokens" else [len(text) for text in target.judgments]
        pick = rank_judgments(table, len(target.judgments), w1, w2, measured, limit)
        reason = pick.dropped or judge_pair_problem(target, pick, cfg.min_score_gap, cfg.max_score_gap)
        if reason:
            dropped[reason] += 1
        else:
            row = judge_pair_row(judge_template, target, pick, lengths)
            row["prompt_length"] = ctx.backend.count_tokens(row["prompt"])
            rows.append(row)
    stats = {
        **verdict_stats(log_rows, first, second, w1, w2),
        "higher_score_win_rate": higher_score_win_rate(targets, tables),
        **pair_stats(rows, dropped),
        "max_chosen_judgment_length": limit,
        "judgment_length_unit": cfg.judgment_length_unit,
        "over_dpo_max_length": over_length(ctx, rows),
    }
    return rows, stats


def over_length(ctx: StageContext, rows: list[dict]) -> int:
    """Judge pairs that DPO will cut: the judge request is long, and truncation keeps the start."""
    limit = ctx.config.dpo.max_length
    over = sum(1 for r in rows if r["prompt_length"] + max(r["chosen_length"], r["rejected_length"]) > limit)
    if over:
        log.warning("iter%d: %d of %d judge pairs exceed dpo.max_length=%d tokens; their judgments (and scores) are truncated in training", ctx.iteration, over, len(rows), limit)
    return over


# ---------------------------------------------------------------------------------------------
# Counts and bias monitors (MR section 5: position bias, score bias, length growth)


def verdict_stats(log_rows: list[dict], first: int, second: int, w1: float, w2: float) -> dict:
    parsed = sum(1 for row in log_rows if row["verdict"] is not None)
    return {
        "comparisons": len(log_rows),
        "verdicts_parsed": parsed,
        "verdicts_unparsed": len(log_rows) - parsed,
        "first_position_wins": first,
        "second_position_wins": second,
        "first_position_win_rate": round(first / (first + second), 4) if first + second else None,
        "w1": round(w1, 4),
        "w2": round(w2, 4),
    }


def pair_stats(rows: list[dict], dropped: Counter) -> dict:
    def mean(key: str) -> float | None:
        return round(float(np.mean([r[key] for r in rows])), 3) if rows else None

    return {
        "judge_pairs": len(rows),
        "dropped": dict(dropped),
        "mean_chosen_length": mean("chosen_length"),
        "mean_rejected_length": mean("rejected_length"),
        "mean_chosen_judgment_score": mean("chosen_judgment_score"),
        "mean_rejected_judgment_score": mean("rejected_judgment_score"),
    }
