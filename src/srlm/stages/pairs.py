"""Stage 4: preference pairs from the judged candidates of each prompt.

SR: chosen = highest mean score, rejected = lowest; prompts whose best and worst tie, or with
fewer than two scored candidates, are dropped and counted. MR adds length control (rho) and, in
its first iteration, a cap on the chosen response's length (``pairs.max_chosen_length``). The
"positive examples only" variant (SR ablation) keeps responses scoring 5 as SFT rows instead.

Before either, a prompt's candidates that repeat an earlier candidate's text are removed and
counted (``duplicates_removed``): two copies of one text are one response, and best vs worst
must never pair a text with itself. A pair whose chosen and rejected texts are still equal is
dropped and counted (``identical_texts``) all the same.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from srlm.config import per_iteration, rho_for
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
    groups, duplicates = unique_responses(group_by_prompt(candidates, judgments))
    if ctx.config.pairs.mode == "pairs":
        rows, stats = make_pairs(ctx, groups)
    else:
        rows, stats = positives(ctx, groups)
    ctx.record("pairs", {**stats, "duplicates_removed": duplicates})
    write_rows(final, rows)
    return rows


def group_by_prompt(candidates: list[CandidateRow], judgments: list[JudgmentRow]) -> dict[str, list[tuple[CandidateRow, float | None]]]:
    """prompt id -> [(candidate, mean score)] in sample order."""
    score_of = {row["id"]: row["mean_score"] for row in judgments}
    groups: dict[str, list] = defaultdict(list)
    for candidate in candidates:
        groups[candidate["prompt_id"]].append((candidate, score_of.get(candidate["id"])))
    return groups


def unique_responses(groups: dict[str, list[tuple[CandidateRow, float | None]]]) -> tuple[dict[str, list], int]:
    """Each prompt's candidates without repeated texts, and how many repeats were removed.

    Texts are compared after stripping surrounding white space. Of identical copies the first
    one with a score is kept (the first copy if none has one): a copy's judgments score the
    same text, so keeping one is judging the text once.
    """
    unique: dict[str, list] = {}
    removed = 0
    for prompt_id, group in groups.items():
        kept: dict[str, int] = {}  # text -> index in ``out``
        out: list = []
        for candidate, score in group:
            text = candidate["response"].strip()
            if text not in kept:
                kept[text] = len(out)
                out.append((candidate, score))
                continue
            removed += 1
            if out[kept[text]][1] is None and score is not None:
                out[kept[text]] = (candidate, score)
        unique[prompt_id] = out
    return unique, removed


def _length(ctx: StageContext, text: str) -> int:
    if ctx.config.pairs.length_unit == "chars":
        return len(text)
    return ctx.backend.count_tokens(text)


def make_pairs(ctx: StageContext, groups: dict) -> tuple[list[dict], dict]:
    cfg = ctx.config.pairs
    rho = rho_for(ctx.config, ctx.iteration)
    cap = per_iteration(cfg.max_chosen_length, ctx.iteration)
    rows, dropped = [], Counter()
    for prompt_id, group in groups.items():
        scores = [score for _, score in group]
        lengths = [_length(ctx, c["response"]) for c, _ in group]
        choice = choose_pair(scores, lengths, rho=rho, min_margin=cfg.min_margin, rejected_rule=cfg.rejected_rule)
        reason = choice.dropped or _pair_problem(group, lengths, choice.chosen, choice.rejected, cap)
        if reason:
            dropped[reason] += 1
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
    return rows, {**_pair_stats(rows, dropped, len(groups), rho), "max_chosen_length": cap}


def _pair_problem(group: list, lengths: list[int], chosen: int, rejected: int, cap: float) -> str | None:
    """Why a selected pair is still dropped: the same text twice, or a chosen response over the cap.

    The cap drops the pair rather than choosing the next response: that one was not the best.
    """
    if group[chosen][0]["response"].strip() == group[rejected][0]["response"].strip():
        return "identical_texts"
    if cap and lengths[chosen] > cap:
        return "chosen_too_long"
    return None


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
