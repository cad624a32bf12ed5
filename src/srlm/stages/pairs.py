"""Stage 4: preference pairs from the judged candidates of each prompt.

SR: chosen = highest mean score, rejected = lowest; prompts whose best and worst tie, or with
fewer than two scored candidates, are dropped and counted. MR adds length control (rho). The
"positive examples only" variant (SR ablation) keeps responses scoring 5 as SFT rows instead.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from srlm.config import rho_for
from srlm.judging.selection import choose_pair, positive_examples
from srlm.records import CandidateRow, JudgmentRow, PairRow, PositiveRow
from srlm.runtime.rundir import read_rows, write_rows
from srlm.stages.common import StageContext


def run(ctx: StageContext, candidates: list[CandidateRow], judgments: list[JudgmentRow]) -> list[PairRow] | list[PositiveRow]:
    """Write ``pairs.jsonl`` (mode 'pairs') or ``positives.jsonl`` (mode 'positive_only')."""
    name = "pairs.jsonl" if ctx.config.pairs.mode == "pairs" else "positives.jsonl"
    final = ctx.path(name)
    if final.exists():
        return read_rows(final)
    groups = group_by_prompt(candidates, judgments)
    if ctx.config.pairs.mode == "pairs":
        rows, stats = make_pairs(ctx, groups)
    else:
        rows, stats = positives(ctx, groups)
    ctx.record("pairs", stats)
    write_rows(final, rows)
    return rows


def group_by_prompt(candidates: list[CandidateRow], judgments: list[JudgmentRow]) -> dict[str, list[tuple[CandidateRow, float | None]]]:
    """prompt id -> [(candidate, mean score)] in sample order."""
    score_of = {row["id"]: row["mean_score"] for row in judgments}
    groups: dict[str, list] = defaultdict(list)
    for candidate in candidates:
        groups[candidate["prompt_id"]].append((candidate, score_of.get(candidate["id"])))
    return groups


def _length(ctx: StageContext, text: str) -> int:
    if ctx.config.pairs.length_unit == "chars":
        return len(text)
    return ctx.backend.count_tokens(text)


def make_pairs(ctx: StageContext, groups: dict) -> tuple[list[dict], dict]:
    cfg = ctx.config.pairs
    rho = rho_for(ctx.config, ctx.iteration)
    rows, dropped = [], Counter()
    for prompt_id, group in groups.items():
        scores = [score for _, score in group]
        lengths = [_length(ctx, c["response"]) for c, _ in group]
        choice = choose_pair(scores, lengths, rho=rho, min_margin=cfg.min_margin)
        if choice.dropped:
            dropped[choice.dropped] += 1
            continue
        chosen, rejected = group[choice.chosen], group[choice.rejected]
        rows.append({
            "prompt_id": prompt_id,
            "prompt": chosen[0]["prompt"],
            "chosen": chosen[0]["response"],
            "rejected": rejected[0]["response"],
            "chosen_score": chosen[1],
            "rejected_score": rejected[1],
            "chosen_length": lengths[choice.chosen],
            "rejected_length": lengths[choice.rejected],
            "kind": "actor",
        })
    return rows, _pair_stats(rows, dropped, len(groups), rho)


def _pair_stats(rows: list[dict], dropped: Counter, prompts: int, rho: float) -> dict:
    def mean(key: str) -> float | None:
        return round(sum(r[key] for r in rows) / len(rows), 3) if rows else None

    return {
        "prompts": prompts,
        "kept": len(rows),
        "dropped": dict(dropped),
        "length_rho": rho,
        "mean_chosen_score": mean("chosen_score"),
        "mean_rejected_score": mean("rejected_score"),
        "mean_chosen_length": mean("chosen_length"),
        "mean_rejected_length": mean("rejected_length"),
    }


def positives(ctx: StageContext, groups: dict) -> tuple[list[dict], dict]:
    """Responses whose mean score reaches the threshold, as extra SFT rows (SR ablation)."""
    threshold = ctx.config.pairs.positive_threshold
    rows = []
    for pid, group in groups.items():
        for k in positive_examples([score for _, score in group], threshold):
            candidate, score = group[k]
            rows.append({"prompt_id": pid, "prompt": candidate["prompt"], "response": candidate["response"], "score": score})
    total = sum(len(group) for group in groups.values())
    return rows, {"prompts": len(groups), "kept": len(rows), "threshold": threshold, "dropped": {"below_threshold_or_unscored": total - len(rows)}}
