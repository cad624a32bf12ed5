"""The meta-judge (Wu et al. 2024, Meta-Rewarding, section 3.2): which judgments it compares,
how its verdicts become Elo scores, and which two judgments become a judge pair.

Per prompt:

1. the response whose judge scores vary most is the target (no disagreement: no pair);
2. the meta-judge compares every ordered pair of the target's parsed judgments, so each
   unordered pair is seen in both orders (``comparisons``, ``meta_conversation``, ``meta_row``);
3. position-bias weights w1, w2 come from the whole iteration's first/second-position wins
   (``iteration_weights``);
4. battle matrix and Bradley-Terry "Elo" (``judging.elo``): chosen = the highest, rejected =
   the lowest judgment, dropped when the chosen one is longer than the limit (``rank_judgments``).

No files and no model here: ``stages.meta_judgments`` runs the meta-judge and writes the rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from srlm.backends.base import Conversation
from srlm.judging.elo import battle_matrix, elo_scores, judge_pair, position_counts, position_weights
from srlm.judging.parse import parse_verdict
from srlm.judging.selection import most_varied
from srlm.judging.templates import fill
from srlm.records import CandidateRow, JudgePairRow, JudgmentRow, MetaJudgmentRow

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


# ---------------------------------------------------------------------------------------------
# 1. Which response's judgments to compare


def pick_targets(candidates: list[CandidateRow], judgments: list[JudgmentRow]) -> tuple[list[Target], int]:
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


def meta_row(comparison: dict, text: str) -> MetaJudgmentRow:
    """The logged row of one comparison: which judgments were shown, the text, its verdict."""
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


def rank_judgments(table: Table, size: int, w1: float, w2: float, lengths: list[int], max_chosen_length: float) -> JudgePick:
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


def judge_pair_problem(target: Target, pick: JudgePick, min_gap: float, max_gap: float) -> str | None:
    """Why a ranked judge pair is still dropped: the same text twice, or its score gap out of bounds.

    The gap is between the scores the chosen and rejected judgments give the one response
    (MR 3.2 conditions judge pairs on it; ``meta.min_score_gap`` / ``meta.max_score_gap``).

    >>> t = Target("p", "p-c0", "q", "r", ("ok Score: 4", "ok Score: 4", "bad Score: 1"), (4.0, 4.0, 1.0), (0, 1, 2))
    >>> judge_pair_problem(t, JudgePick((0, 0, 0), chosen=0, rejected=1), 0, 5)
    'identical_texts'
    >>> judge_pair_problem(t, JudgePick((0, 0, 0), chosen=0, rejected=2), 0, 2)
    'score_gap_above_max'
    >>> judge_pair_problem(t, JudgePick((0, 0, 0), chosen=2, rejected=0), 0, 5) is None
    True
    """
    c, r = pick.chosen, pick.rejected
    if target.judgments[c].strip() == target.judgments[r].strip():
        return "identical_texts"
    gap = abs(target.scores[c] - target.scores[r])
    if gap < min_gap:
        return "score_gap_below_min"
    if gap > max_gap:
        return "score_gap_above_max"
    return None


def judge_pair_row(judge_template: str, target: Target, pick: JudgePick, lengths: list[int]) -> JudgePairRow:
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
# Bias monitor (MR section 5: a meta-judge that rewards generous judges)


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
