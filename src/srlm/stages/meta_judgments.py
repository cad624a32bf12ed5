"""Stage 3b (Meta-Rewarding only): the meta-judge compares judgments; Elo makes judge pairs.

Wu et al. 2024 (arXiv 2407.19594), section 3.2. Per prompt:

1. pick the response whose judge scores vary most (no disagreement: the prompt gives no pair);
2. the meta-judge compares every ordered pair of that response's parsed judgments, so each
   unordered pair is seen in both orders (``meta_judgments.jsonl``, resumable);
3. position-bias weights w1, w2 from the whole iteration's first/second-position wins;
4. battle matrix, Bradley-Terry "Elo", chosen = highest, rejected = lowest judgment, dropped
   when the chosen judgment is longer than ``meta.max_chosen_judgment_length`` tokens.

Judge pairs (``judge_pairs.jsonl``, rows with ``"kind": "judge"``) train the model as a judge:
the prompt is the judge request for that response, chosen/rejected are two of its judgments.
They join the actor pairs only in ``meta.judge_pairs_iterations`` (MR: iterations 1-2).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from srlm.backends.base import Conversation, Sampling
from srlm.errors import UserError
from srlm.generation import Generation, generate_missing
from srlm.judging.elo import battle_matrix, elo_scores, judge_pair, position_counts, position_weights
from srlm.judging.parse import parse_verdict
from srlm.judging.selection import most_varied
from srlm.judging.templates import fill, load_template
from srlm.records import CandidateRow, JudgePairRow, JudgmentRow, MetaJudgmentRow
from srlm.runtime import distributed
from srlm.runtime.rundir import RowLog, read_rows, write_rows
from srlm.stages.common import StageContext, log

# A verdict table: (index shown first, index shown second) -> index of the winner, or None.
Table = dict[tuple[int, int], int | None]


@dataclass(frozen=True)
class Target:
    """The response of one prompt whose judgments the meta-judge compares.

    ``judgments`` and ``scores`` hold only the parsed judgments; ``samples`` their indices in the
    judge's original samples (so a row in ``meta_judgments.jsonl`` can be traced back).
    """

    prompt_id: str
    candidate_id: str
    prompt: str
    response: str
    judgments: tuple[str, ...]
    scores: tuple[float, ...]
    samples: tuple[int, ...]


@dataclass(frozen=True)
class JudgePick:
    """The outcome for one target: chosen/rejected local indices, or the reason for no pair."""

    elo: tuple[float, ...]
    chosen: int | None = None
    rejected: int | None = None
    dropped: str | None = None


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


# ---------------------------------------------------------------------------------------------
# 1. Which response's judgments to compare


def pick_targets(candidates: list[dict], judgments: list[dict]) -> tuple[list[Target], int]:
    """One target per prompt that has judge disagreement, and the number of prompts considered."""
    judged = {row["id"]: row for row in judgments}
    groups: dict[str, list[dict]] = defaultdict(list)
    for candidate in candidates:
        groups[candidate["prompt_id"]].append(candidate)
    targets = []
    for prompt_id, group in groups.items():
        rows = [judged.get(c["id"], {"judgments": [], "scores": []}) for c in group]
        # MR 3.2: the response with the highest score variance has the most to teach the judge.
        pick = most_varied([row["scores"] for row in rows])
        if pick is not None:
            targets.append(_target(group[pick], rows[pick]))
    return targets, len(groups)


def _target(candidate: dict, judged: dict) -> Target:
    parsed = [(k, text, score) for k, (text, score) in enumerate(zip(judged["judgments"], judged["scores"])) if score is not None]
    return Target(
        prompt_id=candidate["prompt_id"],
        candidate_id=candidate["id"],
        prompt=candidate["prompt"],
        response=candidate["response"],
        judgments=tuple(text for _, text, _ in parsed),
        scores=tuple(float(score) for _, _, score in parsed),
        samples=tuple(k for k, _, _ in parsed),
    )


# ---------------------------------------------------------------------------------------------
# 2. The meta-judge in both orders


def comparisons(targets: list[Target]) -> list[dict]:
    """Every ordered pair (m, n), m != n, of each target's judgments; j_m is shown as "A"."""
    rows = []
    for target in targets:
        size = len(target.judgments)
        for m in range(size):
            for n in range(size):
                if m != n:
                    first, second = target.samples[m], target.samples[n]
                    rows.append({"id": f"{target.candidate_id}-j{first}-j{second}", "target": target, "first": m, "second": n})
    return rows


def meta_conversation(template: str, target: Target, first: int, second: int) -> Conversation:
    """The meta-judge request comparing judgment ``first`` (as A) with ``second`` (as B)."""
    text = fill(template, prompt=target.prompt, response=target.response,
                judgment_a=target.judgments[first], judgment_b=target.judgments[second])
    return [{"role": "user", "content": text}]


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
        rows=lambda chunk, outputs, _: [_meta_row(c, texts[0]) for c, texts in zip(chunk, outputs)],
    )
    generate_missing(job, todo, lambda: ctx.backend, log)
    return log.finish(order=[c["id"] for c in todo])  # type: ignore[return-value]


def _meta_row(comparison: dict, text: str) -> MetaJudgmentRow:
    target: Target = comparison["target"]
    return {
        "id": comparison["id"],
        "prompt_id": target.prompt_id,
        "candidate_id": target.candidate_id,
        "first": target.samples[comparison["first"]],  # judge sample indices, as in judgments.jsonl
        "second": target.samples[comparison["second"]],
        "meta_judgment": text,
        "verdict": parse_verdict(text, "judgment"),  # "A", "B", or None: unparsed verdicts are dropped
    }


def verdict_table(target: Target, rows: list[dict]) -> Table:
    """The target's verdicts by local index: "A" means the judgment shown first won."""
    local = {sample: i for i, sample in enumerate(target.samples)}
    table: Table = {}
    for row in rows:
        first, second = local[row["first"]], local[row["second"]]
        table[(first, second)] = {"A": first, "B": second}.get(row["verdict"])
    return table


# ---------------------------------------------------------------------------------------------
# 3-4. Position-bias weights, Elo and the judge pair


def iteration_weights(tables: list[Table]) -> tuple[float, float, int, int]:
    """``(w1, w2, first_wins, second_wins)`` over all of the iteration's verdicts.

    MR 3.2 counts position wins over the whole data set, not per response: one response has too
    few comparisons to estimate a bias, and the weights must be the same for every battle.
    """
    first = second = 0
    for table in tables:
        a, b = position_counts(table)
        first, second = first + a, second + b
    w1, w2 = position_weights(first, second)
    return w1, w2, first, second


def rank_judgments(table: Table, size: int, w1: float, w2: float, lengths: list[int], max_chosen_length: int) -> JudgePick:
    """Elo of a target's judgments and its judge pair, or why it gives none."""
    elo = elo_scores(battle_matrix(table, size, w1, w2))
    rounded = tuple(round(float(e), 4) for e in elo)
    # judge_pair returns None for two reasons; asking without the limit first tells them apart.
    pick = judge_pair(elo, lengths, max_chosen_length=None)
    if pick is None:
        return JudgePick(rounded, dropped="no_preference")
    if lengths[pick[0]] > max_chosen_length:
        return JudgePick(rounded, dropped="chosen_too_long")
    return JudgePick(rounded, chosen=pick[0], rejected=pick[1])


def make_judge_pairs(ctx: StageContext, targets: list[Target], log_rows: list[dict]) -> tuple[list[dict], dict]:
    """Judge pair rows for DPO and the ``meta`` stats (counts, weights, bias monitors)."""
    by_candidate: dict[str, list[dict]] = defaultdict(list)
    for row in log_rows:
        by_candidate[row["candidate_id"]].append(row)
    tables = [verdict_table(t, by_candidate[t.candidate_id]) for t in targets]
    w1, w2, first, second = iteration_weights(tables)
    judge_template = load_template(ctx.config.judge.template, ("prompt", "response"))
    rows, dropped = [], Counter()
    for target, table in zip(targets, tables):
        lengths = [ctx.backend.count_tokens(text) for text in target.judgments]
        pick = rank_judgments(table, len(target.judgments), w1, w2, lengths, ctx.config.meta.max_chosen_judgment_length)
        if pick.dropped:
            dropped[pick.dropped] += 1
        else:
            row = judge_pair_row(judge_template, target, pick, lengths)
            row["prompt_length"] = ctx.backend.count_tokens(row["prompt"])
            rows.append(row)
    stats = {
        **verdict_stats(log_rows, first, second, w1, w2),
        "higher_score_win_rate": higher_score_win_rate(targets, tables),
        **pair_stats(rows, dropped),
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


def judge_pair_row(judge_template: str, target: Target, pick: JudgePick, lengths: list[int]) -> dict:
    """A DPO row: the judge request as prompt, the Elo winner and loser as chosen/rejected."""
    c, r = pick.chosen, pick.rejected
    return {
        "prompt_id": target.prompt_id,
        "candidate_id": target.candidate_id,
        "prompt": fill(judge_template, prompt=target.prompt, response=target.response),
        "chosen": target.judgments[c],
        "rejected": target.judgments[r],
        "chosen_elo": pick.elo[c],
        "rejected_elo": pick.elo[r],
        "chosen_judgment_score": target.scores[c],
        "rejected_judgment_score": target.scores[r],
        "chosen_length": lengths[c],
        "rejected_length": lengths[r],
        "kind": "judge",
    }


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


def higher_score_win_rate(targets: list[Target], tables: list[Table]) -> float | None:
    """Share of parsed verdicts won by the judgment giving the higher score (scores differing).

    Near 1.0 means the meta-judge rewards generous judges rather than accurate ones (MR 5).
    """
    higher = total = 0
    for target, table in zip(targets, tables):
        for (m, n), winner in table.items():
            if winner is None or target.scores[m] == target.scores[n]:
                continue
            total += 1
            higher += target.scores[winner] == max(target.scores[m], target.scores[n])
    return round(higher / total, 4) if total else None


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
