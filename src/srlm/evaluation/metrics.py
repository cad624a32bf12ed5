"""Evaluation metrics: how well the judge agrees with people, and head-to-head win rates.

Reward modelling (Yuan et al. 2024, section 3.3 and Table 4): each
*group* is one held-out prompt with several responses, the judge's score of each response
(``None`` when no judgment parsed) and the human quality of each. Human quality is given as
ranks (0 = best, as in Open Assistant) or as scores (higher = better); ranks are turned into
``quality = -rank`` so that everywhere below higher = better, and a positive correlation
means the judge agrees with people.

Choices, made once for every metric:

* A group needs at least two responses to say anything about ranking; smaller ones are counted
  (``n_groups_too_small``) and skipped.
* An unparsed judge score is not a score: pairs that involve one are skipped and counted
  (``n_pairs_unparsed``); exact match skips groups with one (``n_groups_unparsed``); the
  correlations use the group's parsed responses only. ``parse_rate`` reports how many parsed.
* Pairs of responses that people rated equal carry no order and are skipped (counted).
* Pairwise accuracy comes in two readings, both reported (docs/evaluation.md): *strict*, a judge
  tie on a pair that people ordered earns nothing (``pairwise_accuracy_strict``, the papers'
  reading: SR section 3.3 counts "how many times the order ... agrees"); and *tie-half*, such a
  tie earns ``tie_credit`` = 0.5, a coin flip (``pairwise_accuracy``, kept under its old name,
  and ``pairwise_accuracy_tie_half``). ``pairwise_accuracy_untied`` leaves judge ties out
  altogether; ``judge_tie_share`` says how far apart the readings can be. Compare with a
  paper's figure through the strict value (docs/evaluation.md says why the untied one is
  reported beside it).
* Exact match requires the judge's weak order to equal the human one: for every pair the judge
  must prefer the same response, or tie exactly where people tie.
* Spearman and Kendall (tau-b), with ties handled as ``scipy.stats`` handles them, are by
  default computed per group and averaged over groups (rankings are per prompt); ``pooling=
  "pooled"`` computes one correlation over all responses instead. A group whose parsed judge
  scores are all equal counts as correlation 0 (a saturated judge expresses no order; scipy
  would say NaN and the group would vanish, hiding the failure); a group whose human quality
  is constant is skipped.

Head-to-head (Yuan et al. 2024, section 3.2): each prompt is judged twice, once with each
model's answer shown first; both verdicts for A is a win, both for B a loss, anything else
(disagreement, an unparsed verdict) a tie.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from srlm.judging.parse import ModelVerdict

Pooling = Literal["per_group", "pooled"]


@dataclass(frozen=True)
class Group:
    """One prompt: judge score per response (``None`` = unparsed) and human quality (higher =
    better)."""

    judge: tuple[float | None, ...]
    quality: tuple[float, ...]

    @classmethod
    def from_ranks(cls, judge: Sequence[float | None], ranks: Sequence[float]) -> Group:
        """A group whose human labels are ranks, 0 = best."""
        return cls._make(judge, [-float(r) for r in ranks])

    @classmethod
    def from_scores(cls, judge: Sequence[float | None], scores: Sequence[float]) -> Group:
        """A group whose human labels are scores, higher = better."""
        return cls._make(judge, [float(s) for s in scores])

    @classmethod
    def _make(cls, judge: Sequence[float | None], quality: list[float]) -> Group:
        if len(judge) != len(quality):
            raise ValueError(f"{len(judge)} judge scores but {len(quality)} human labels")
        parsed = tuple(None if s is None or math.isnan(s) else float(s) for s in judge)
        return cls(parsed, tuple(quality))


GroupLike = Group | Mapping[str, Any]


def as_group(group: GroupLike) -> Group:
    """A ``Group``, or a mapping ``{"judge": [...], "human_rank" | "human_score": [...]}``."""
    if isinstance(group, Group):
        return group
    has_rank, has_score = "human_rank" in group, "human_score" in group
    if has_rank == has_score:
        raise ValueError("a group needs exactly one of 'human_rank' and 'human_score'")
    if has_rank:
        return Group.from_ranks(group["judge"], group["human_rank"])
    return Group.from_scores(group["judge"], group["human_score"])


def _groups(groups: Iterable[GroupLike]) -> list[Group]:
    return [as_group(g) for g in groups]


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _pairwise(groups: list[Group], tie_credit: float) -> tuple[float | None, dict[str, int]]:
    """Pairwise accuracy and the counts behind it."""
    counts = dict.fromkeys(
        ["agree", "disagree", "judge_tie", "pairs_unparsed", "pairs_human_tie"], 0
    )
    for group in groups:
        for i, j in itertools.combinations(range(len(group.judge)), 2):
            human = _sign(group.quality[i] - group.quality[j])
            if human == 0:
                counts["pairs_human_tie"] += 1
            elif group.judge[i] is None or group.judge[j] is None:
                counts["pairs_unparsed"] += 1
            else:
                judge = _sign(group.judge[i] - group.judge[j])  # type: ignore[operator]
                key = "judge_tie" if judge == 0 else "agree" if judge == human else "disagree"
                counts[key] += 1
    compared = counts["agree"] + counts["disagree"] + counts["judge_tie"]
    value = (counts["agree"] + tie_credit * counts["judge_tie"]) / compared if compared else None
    return value, counts


def pairwise_accuracy(groups: Iterable[GroupLike], tie_credit: float = 0.5) -> float | None:
    """Share of human-ordered response pairs that the judge orders the same way.

    Below, two pairs agree, one is a judge tie (half credit), three involve the unparsed score.

    >>> round(pairwise_accuracy([Group.from_ranks([5, 3, 3, None], [0, 1, 2, 3])]), 4)
    0.8333
    """
    return _pairwise(_groups(groups), tie_credit)[0]


def _exact(groups: list[Group]) -> tuple[float | None, dict[str, int]]:
    """Exact-match rate and the counts behind it."""
    matched = evaluated = unparsed = 0
    for group in groups:
        if len(group.judge) < 2:
            continue
        if any(s is None for s in group.judge):
            unparsed += 1
            continue
        evaluated += 1
        matched += all(
            _sign(group.judge[i] - group.judge[j])  # type: ignore[operator]
            == _sign(group.quality[i] - group.quality[j])
            for i, j in itertools.combinations(range(len(group.judge)), 2)
        )
    return (matched / evaluated if evaluated else None), {
        "groups_exact_evaluated": evaluated,
        "groups_unparsed": unparsed,
    }


def exact_match(groups: Iterable[GroupLike]) -> float | None:
    """Share of prompts whose judge ranking equals the human ranking (ties must match too).

    >>> exact_match([Group.from_ranks([5, 4, 2], [0, 1, 2]), Group.from_ranks([4, 4], [0, 1])])
    0.5
    """
    return _exact(_groups(groups))[0]


def _five_best(groups: list[Group], top: float) -> tuple[float | None, int]:
    """The 5-best share and the number of responses the judge gave the top score."""
    top_scored = best = 0
    for group in groups:
        if len(group.judge) < 2:
            continue
        best_quality = max(group.quality)
        for score, quality in zip(group.judge, group.quality):
            if score is not None and score >= top:
                top_scored += 1
                best += quality == best_quality
    return (best / top_scored if top_scored else None), top_scored


def five_best(groups: Iterable[GroupLike], top: float = 5.0) -> float | None:
    """Of the responses the judge scored ``top``, the share people ranked best in their group.

    Responses tied for the human best all count as best.

    >>> five_best([Group.from_ranks([5, 5, 1], [0, 1, 2]), Group.from_ranks([5, 2], [0, 1])])
    0.6666666666666666
    """
    return _five_best(_groups(groups), top)[0]


def _correlation(
    groups: list[Group], method: str, pooling: Pooling
) -> tuple[float | None, dict[str, int]]:
    """Spearman or Kendall correlation of judge score with human quality, and its counts."""
    compute = stats.spearmanr if method == "spearman" else stats.kendalltau
    if pooling not in ("per_group", "pooled"):
        raise ValueError(f"pooling must be 'per_group' or 'pooled', got {pooling!r}")
    pairs = [
        [(s, q) for s, q in zip(g.judge, g.quality) if s is not None]
        for g in groups
        if len(g.judge) >= 2
    ]
    if pooling == "pooled":
        pairs = [[p for group in pairs for p in group]]
    values, constant_judge = [], 0
    for group in pairs:
        judge, human = [p[0] for p in group], [p[1] for p in group]
        if len(group) < 2 or len(set(human)) < 2:
            continue  # no human order to agree with
        if len(set(judge)) < 2:
            constant_judge += 1
            values.append(0.0)
            continue
        values.append(float(compute(judge, human).statistic))
    value = float(np.mean(values)) if values else None
    return value, {"groups_correlated": len(values), "groups_constant_judge": constant_judge}


def spearman(groups: Iterable[GroupLike], pooling: Pooling = "per_group") -> float | None:
    """Spearman's rho between judge scores and human quality (see module notes on pooling).

    >>> round(spearman([Group.from_ranks([5, 3, 4], [0, 1, 2])]), 3)
    0.5
    """
    return _correlation(_groups(groups), "spearman", pooling)[0]


def kendall(groups: Iterable[GroupLike], pooling: Pooling = "per_group") -> float | None:
    """Kendall's tau-b between judge scores and human quality (see module notes on pooling).

    >>> round(kendall([Group.from_ranks([5, 3, 4], [0, 1, 2])]), 3)
    0.333
    """
    return _correlation(_groups(groups), "kendall", pooling)[0]


def bootstrap_intervals(
    groups: Iterable[GroupLike], draws: int = 2000, seed: int = 0, tie_credit: float = 0.5,
) -> dict[str, list[float] | None]:
    """95 % percentile-bootstrap intervals of pairwise accuracy (with ``tie_credit``, and strict)
    and Spearman, prompts resampled.

    Each group's contribution is computed once (its pairwise credit and pair count, its
    Spearman), so a resample only re-adds them: the same numbers as recomputing the metrics
    on every resampled set of groups, thousands of times faster.

    >>> g = [Group.from_scores([1, 2, 3], [1, 2, 3]), Group.from_scores([3, 2, 1], [1, 2, 3])]
    >>> bootstrap_intervals(g, draws=200)["pairwise_accuracy"]
    [0.0, 1.0]
    """
    groups = _groups(groups)
    pair_stats = [_pairwise([g], tie_credit)[1] for g in groups]
    compared = np.array([c["agree"] + c["disagree"] + c["judge_tie"] for c in pair_stats], dtype=float)
    credit = np.array([c["agree"] + tie_credit * c["judge_tie"] for c in pair_stats], dtype=float)
    agree = np.array([c["agree"] for c in pair_stats], dtype=float)
    rho = np.array([_correlation([g], "spearman", "per_group")[0] for g in groups], dtype=object)
    has_rho = np.array([r is not None for r in rho])
    rho_values = np.array([r if r is not None else 0.0 for r in rho], dtype=float)
    rng = np.random.default_rng(seed)
    pairwise, strict, spearman_draws = [], [], []
    for _ in range(draws):
        pick = rng.integers(0, len(groups), len(groups)) if groups else np.array([], dtype=int)
        if compared[pick].sum():
            pairwise.append(credit[pick].sum() / compared[pick].sum())
            strict.append(agree[pick].sum() / compared[pick].sum())
        if has_rho[pick].any():
            spearman_draws.append(rho_values[pick][has_rho[pick]].mean())

    def interval(values: list[float]) -> list[float] | None:
        return [round(float(np.percentile(values, 2.5)), 4), round(float(np.percentile(values, 97.5)), 4)] if values else None

    return {"pairwise_accuracy": interval(pairwise), "pairwise_accuracy_strict": interval(strict), "spearman": interval(spearman_draws)}


def reward_model_metrics(
    groups: Iterable[GroupLike], top: float = 5.0, tie_credit: float = 0.5,
    pooling: Pooling = "per_group",
) -> dict[str, float | int | None]:
    """All reward-model metrics plus the counts needed to trust them, as a JSON-ready dict."""
    groups = _groups(groups)
    responses = [s for g in groups for s in g.judge]
    parsed = [s for s in responses if s is not None]
    pairwise, pair_counts = _pairwise(groups, tie_credit)
    strict, half = _pairwise(groups, 0.0)[0], _pairwise(groups, 0.5)[0]
    compared = pair_counts["agree"] + pair_counts["disagree"] + pair_counts["judge_tie"]
    ordered = pair_counts["agree"] + pair_counts["disagree"]
    exact, exact_counts = _exact(groups)
    best, n_top = _five_best(groups, top)
    rho, rho_counts = _correlation(groups, "spearman", pooling)
    tau, _ = _correlation(groups, "kendall", pooling)
    return {
        "pairwise_accuracy": pairwise,  # with tie_credit (0.5 by default): the name older files use
        "pairwise_accuracy_strict": strict,  # judge ties earn nothing: the papers' reading
        "pairwise_accuracy_tie_half": half,
        "pairwise_accuracy_untied": pair_counts["agree"] / ordered if ordered else None,  # judge ties left out
        "judge_tie_share": pair_counts["judge_tie"] / compared if compared else None,
        "exact_match": exact,
        "five_best": best,
        "spearman": rho,
        "kendall": tau,
        "parse_rate": len(parsed) / len(responses) if responses else None,
        "share_top_score": n_top / len(parsed) if parsed else None,  # saturation watch
        "mean_judge_score": float(np.mean(parsed)) if parsed else None,
        "n_groups": len(groups),
        "n_groups_too_small": sum(len(g.judge) < 2 for g in groups),
        "n_responses": len(responses),
        "n_unparsed": len(responses) - len(parsed),
        "n_top_score": n_top,
        "n_pairs": compared,
        **{f"n_{key}": value for key, value in pair_counts.items()},
        **{f"n_{key}": value for key, value in exact_counts.items()},
        **{f"n_{key}": value for key, value in rho_counts.items()},
    }


# What each reward-model number means and where it comes from; written into every eval.json
# beside the numbers (docs/evaluation.md has the long form).
DEFINITIONS = {
    "pairwise_accuracy_strict": "share of human-ordered response pairs the judge orders the same way; a judge tie earns 0 "
                                "(SR section 3.3 and Table 4: compare paper figures with this one)",
    "pairwise_accuracy_tie_half": "the same share with a judge tie earning 1/2 (a coin flip); not the papers' reading",
    "pairwise_accuracy_untied": "the same share over the pairs the judge did not tie (judge ties left out): the other reading "
                                "SR Table 4's numbers allow (docs/evaluation.md)",
    "pairwise_accuracy": "pairwise accuracy with the tie credit asked for (default 1/2, = pairwise_accuracy_tie_half); kept for older readers",
    "judge_tie_share": "share of human-ordered pairs the judge tied: the gap between the two pairwise readings",
    "exact_match": "share of prompts whose judge ordering equals the human ordering, ties included (SR section 3.3, Table 4)",
    "five_best": "of the responses the judge scored 5 (mean of its samples), the share people ranked best in their prompt (SR section 3.3, Table 4)",
    "spearman": "Spearman rho of judge score with human quality, per prompt, averaged over prompts (SR Table 4; per prompt is srlm's choice)",
    "kendall": "Kendall tau-b, per prompt, averaged over prompts (SR Table 4; per prompt is srlm's choice)",
}


def head_to_head(
    verdicts_ab: Sequence[ModelVerdict],
    verdicts_ba: Sequence[ModelVerdict],
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Win / tie / loss of model A against model B, with bootstrap confidence intervals.

    ``verdicts_ab[i]`` and ``verdicts_ba[i]`` are the judge's verdicts on prompt ``i`` with A's
    answer shown first and with B's shown first, each given as the winning *model* (see
    ``judging.pairwise.unswap``). Both "A" is a win, both "B" a loss, anything else a tie.

    >>> result = head_to_head(["A", "A", "B", None], ["A", "B", "B", "A"], n_boot=200)
    >>> result["wins"], result["ties"], result["losses"], result["score"]
    (1, 2, 1, 0.5)
    """
    if len(verdicts_ab) != len(verdicts_ba):
        raise ValueError(f"{len(verdicts_ab)} A-first verdicts but {len(verdicts_ba)} B-first")
    for verdict in itertools.chain(verdicts_ab, verdicts_ba):
        if verdict not in ("A", "B", None):
            raise ValueError(f"a verdict must be 'A', 'B' or None, got {verdict!r}")
    both = list(zip(verdicts_ab, verdicts_ba))
    wins = sum(pair == ("A", "A") for pair in both)
    losses = sum(pair == ("B", "B") for pair in both)
    unparsed = sum(None in pair for pair in both)
    return {
        **_outcome_summary(wins, len(both) - wins - losses, losses, n_boot, seed, confidence),
        "n_unparsed": unparsed,
    }


def _outcome_summary(
    wins: int, ties: int, losses: int, n_boot: int, seed: int, confidence: float
) -> dict[str, Any]:
    """Counts, rates and percentile-bootstrap intervals of the win rate and of win + tie/2.

    Resampling prompts with replacement only changes how many wins, ties and losses the
    resample holds, so drawing those counts from a multinomial is the same bootstrap at a
    fraction of the cost.
    """
    n = wins + ties + losses
    summary: dict[str, Any] = {"n": n, "wins": wins, "ties": ties, "losses": losses,
                               "n_boot": n_boot, "seed": seed, "confidence": confidence}
    if n == 0:
        return summary | dict.fromkeys(
            ["win_rate", "tie_rate", "loss_rate", "score", "win_rate_ci", "score_ci"]
        )
    counts = np.random.default_rng(seed).multinomial(n, [wins / n, ties / n, losses / n], n_boot)
    tail = 100 * (1 - confidence) / 2

    def interval(samples: np.ndarray) -> list[float]:
        return [float(x) for x in np.percentile(samples, [tail, 100 - tail])]
    return summary | {
        "win_rate": wins / n,
        "tie_rate": ties / n,
        "loss_rate": losses / n,
        "score": (wins + ties / 2) / n,
        "win_rate_ci": interval(counts[:, 0] / n),
        "score_ci": interval((counts[:, 0] + counts[:, 1] / 2) / n),
    }
