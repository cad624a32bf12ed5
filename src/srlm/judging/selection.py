"""Turn judge scores into the actor's preference pair (or a counted reason to drop the prompt).

Self-Rewarding (Yuan et al. 2024, section 2.3): chosen = highest mean score, rejected = lowest,
the prompt discarded on a tie. Meta-Rewarding (Wu et al. 2024, section 3.1) adds length control
with a parameter rho in [0, 1]: chosen from the top score tier, rejected from the bottom one.
Scores are means of the parsed judgments; ``None`` (nothing parsed) is never a score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

DropReason = Literal["fewer_than_two_valid", "tie", "below_margin"]
RejectedRule = Literal["longest_in_bottom_tier", "lowest_score"]

# Tier bounds are computed in floating point; a score on the bound belongs to the tier.
_EPS = 1e-9


@dataclass(frozen=True)
class PairChoice:
    """Indices of the chosen and rejected responses, or why the prompt gives no pair."""

    chosen: int | None = None
    rejected: int | None = None
    dropped: DropReason | None = None

    @property
    def kept(self) -> bool:
        """Whether this prompt yields a preference pair."""
        return self.dropped is None


def _valid(score: float | None) -> bool:
    return score is not None and not math.isnan(score)


def choose_pair(
    scores: Sequence[float | None],
    lengths: Sequence[int],
    rho: float = 0.0,
    min_margin: float = 0.0,
    rejected_rule: RejectedRule = "longest_in_bottom_tier",
) -> PairChoice:
    """The actor preference pair for one prompt.

    ``rho = 0``: plain best vs worst (Yuan et al.), lengths ignored, equal scores broken by the
    lowest index. ``rho > 0`` (Wu et al. length control): chosen = the shortest response in the
    top tier ``[(1-rho) Smax + rho Smin, Smax]``, rejected = the longest in the bottom tier
    ``[Smin, (1-rho) Smin + rho Smax]``; equal lengths go to the better (for chosen) or worse
    (for rejected) score, then the lowest index. ``rejected_rule="lowest_score"`` applies length
    control to the chosen side only: rejected = the lowest score (lowest index on equal scores).

    Dropped, with the reason: ``fewer_than_two_valid`` scores; ``tie`` when Smax == Smin;
    ``below_margin`` when chosen does not score strictly above rejected or by less than
    ``min_margin`` (this also catches rho > 0.5, where the tiers overlap and the same response
    can land on both sides).

    >>> choose_pair([3.0, 4.5, None, 1.0, 4.5], [90, 300, 10, 20, 120])
    PairChoice(chosen=1, rejected=3, dropped=None)
    >>> choose_pair([3.0, 4.5, None, 1.0, 4.5, 1.5], [90, 300, 10, 20, 120, 200], rho=0.3)
    PairChoice(chosen=4, rejected=5, dropped=None)
    >>> choose_pair([3.0, 4.5, None, 1.0, 4.5, 1.5], [90, 300, 10, 20, 120, 200], rho=0.3, rejected_rule="lowest_score")
    PairChoice(chosen=4, rejected=3, dropped=None)
    >>> choose_pair([4.0, 4.0], [10, 20]).dropped
    'tie'
    """
    _check_arguments(scores, lengths, rho, min_margin)
    valid = [i for i, s in enumerate(scores) if _valid(s)]
    if len(valid) < 2:
        return PairChoice(dropped="fewer_than_two_valid")
    score = {i: float(scores[i]) for i in valid}  # type: ignore[arg-type]
    best, worst = max(score.values()), min(score.values())
    if best == worst:
        return PairChoice(dropped="tie")
    chosen, rejected = _select(score, lengths, rho, rejected_rule)
    margin = score[chosen] - score[rejected]
    if margin <= 0 or margin < min_margin:
        return PairChoice(dropped="below_margin")
    return PairChoice(chosen=chosen, rejected=rejected)


def _select(score: dict[int, float], lengths: Sequence[int], rho: float, rejected_rule: RejectedRule) -> tuple[int, int]:
    """(chosen, rejected) among the scored responses ``score`` (index -> mean score)."""
    best, worst = max(score.values()), min(score.values())
    lowest = min(i for i in score if score[i] == worst)
    if rho == 0:
        return min(i for i in score if score[i] == best), lowest
    top = [i for i in score if score[i] >= (1 - rho) * best + rho * worst - _EPS]
    bottom = [i for i in score if score[i] <= (1 - rho) * worst + rho * best + _EPS]
    chosen = min(top, key=lambda i: (lengths[i], -score[i], i))
    if rejected_rule == "lowest_score":
        return chosen, lowest
    return chosen, min(bottom, key=lambda i: (-lengths[i], score[i], i))


def _check_arguments(
    scores: Sequence[float | None], lengths: Sequence[int], rho: float, min_margin: float
) -> None:
    """Programming errors, not data problems: these raise instead of dropping the prompt."""
    if len(scores) != len(lengths):
        raise ValueError(f"{len(scores)} scores but {len(lengths)} lengths")
    if not 0 <= rho <= 1:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    if min_margin < 0:
        raise ValueError(f"min_margin must be >= 0, got {min_margin}")


def positive_examples(scores: Sequence[float | None], threshold: float = 5.0) -> list[int]:
    """Indices of responses whose mean score reaches ``threshold``, for extra SFT data.

    The "positive examples only" ablation of Yuan et al. 2024 (section 3.4) keeps responses
    scored 5 instead of building pairs. With several judge samples, a mean of 5 means every
    parsed sample gave 5.

    >>> positive_examples([5.0, 4.67, None, 5.0])
    [0, 3]
    """
    return [i for i, s in enumerate(scores) if _valid(s) and s >= threshold]  # type: ignore


def most_varied(judgment_scores: Sequence[Sequence[float | None]]) -> int | None:
    """The response whose parsed judgment scores vary most (Wu et al. 2024, section 3.2).

    This is the response whose judgments the meta-judge compares. ``None`` when no response
    has two parsed scores that differ: then the judgments give no disagreement to learn from.
    Equal variances go to the lowest index.

    >>> most_varied([[4, 4, 4], [2, 5, None], [3, 4, 5]])
    1
    >>> most_varied([[4, 4], [5, None]]) is None
    True
    """
    best, best_spread = None, 0.0
    for i, scores in enumerate(judgment_scores):
        parsed = [float(s) for s in scores if _valid(s)]
        if len(parsed) < 2:
            continue
        mean = sum(parsed) / len(parsed)
        spread = sum((s - mean) ** 2 for s in parsed) / len(parsed)
        if spread > best_spread:
            best, best_spread = i, spread
    return best
