"""Reward-model metrics on hand-computed cases and against scipy; head-to-head win rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from srlm.evaluation.metrics import Group, as_group, exact_match, five_best, head_to_head, kendall, pairwise_accuracy, reward_model_metrics, spearman
from srlm.judging.pairwise import unswap

# Three held-out prompts, ranks 0 = best, as in Open Assistant.
GROUPS = [
    Group.from_ranks([5.0, 4.0, 2.0, 1.0], [0, 1, 2, 3]),  # perfect order
    Group.from_ranks([4.0, 4.0, 3.0], [1, 0, 2]),  # judge tie on the top pair
    Group.from_ranks([2.0, None, 5.0], [0, 1, 2]),  # one unparsed, one pair reversed
]


def test_group_normalises_ranks_and_scores() -> None:
    assert Group.from_ranks([1, None], [0, 1]).quality == (0.0, -1.0)
    assert Group.from_scores([1, 2], [3.5, 1.0]).quality == (3.5, 1.0)
    assert Group.from_ranks([math.nan, 2], [0, 1]).judge == (None, 2.0)
    assert as_group({"judge": [1, 2], "human_rank": [1, 0]}) == Group.from_ranks([1, 2], [1, 0])
    assert as_group({"judge": [1], "human_score": [7]}) == Group.from_scores([1], [7])
    with pytest.raises(ValueError):
        as_group({"judge": [1], "human_rank": [0], "human_score": [1]})
    with pytest.raises(ValueError):
        Group.from_ranks([1, 2], [0])


def test_pairwise_accuracy_by_hand() -> None:
    # Group 1: 6 agreeing pairs. Group 2: (0,1) judge tie, (0,2) and (1,2) agree.
    # Group 3: (0,2) reversed; (0,1) and (1,2) unparsed.  -> (6 + 2 + 0.5) / 10
    assert pairwise_accuracy(GROUPS) == pytest.approx(8.5 / 10)
    assert pairwise_accuracy(GROUPS, tie_credit=0.0) == pytest.approx(8 / 10)
    assert pairwise_accuracy([]) is None


def test_pairwise_accuracy_skips_human_ties() -> None:
    group = Group.from_scores([5, 1, 0], [2.0, 2.0, 1.0])  # people tie responses 0 and 1
    assert pairwise_accuracy([group]) == 1.0
    counts = reward_model_metrics([group])
    assert counts["n_pairs_human_tie"] == 1 and counts["n_pairs"] == 2


def test_exact_match_by_hand() -> None:
    # Group 1 matches, group 2 has a judge tie people did not make, group 3 has an unparsed score.
    assert exact_match(GROUPS) == 0.5
    # Ties must match both ways: a judge tie where people tie is an exact match.
    assert exact_match([Group.from_scores([3, 3, 1], [2, 2, 0])]) == 1.0
    assert exact_match([Group.from_scores([4, 3, 1], [2, 2, 0])]) == 0.0
    assert exact_match([Group.from_ranks([None, 3], [0, 1])]) is None


def test_five_best_by_hand() -> None:
    groups = [
        Group.from_ranks([5, 5, 3], [0, 1, 2]),  # one of two fives is the human best
        Group.from_ranks([4.67, 5, None], [0, 1, 2]),  # the five is not the best
        Group.from_scores([5, 5], [1.0, 1.0]),  # both tied for best: both count
        Group.from_ranks([5], [0]),  # single response: says nothing, skipped
    ]
    assert five_best(groups) == pytest.approx(3 / 5)
    assert five_best(groups, top=4.5) == pytest.approx(4 / 6)  # 4.67 is a human best
    assert five_best([Group.from_ranks([1, 2], [0, 1])]) is None


def scipy_mean(method, groups: list[tuple[list[float], list[float]]]) -> float:
    return float(np.mean([method(j, q).statistic for j, q in groups]))


def test_correlations_agree_with_scipy_per_group() -> None:
    judge_a, quality_a = [5.0, 4.0, 4.0, 1.0, 3.0], [4.0, 3.0, 2.0, 1.0, 0.0]
    judge_b, quality_b = [2.0, 3.0, 1.0], [0.0, -1.0, -2.0]  # ranks 0, 1, 2 as quality
    groups = [Group.from_scores(judge_a, quality_a), Group.from_ranks(judge_b, [0, 1, 2])]
    pairs = [(judge_a, quality_a), (judge_b, quality_b)]
    assert spearman(groups) == pytest.approx(scipy_mean(stats.spearmanr, pairs))
    assert kendall(groups) == pytest.approx(scipy_mean(stats.kendalltau, pairs))


def test_correlations_agree_with_scipy_pooled() -> None:
    groups = [
        Group.from_ranks([5, 2, None, 4], [0, 1, 2, 3]),
        Group.from_ranks([3, 3, 1], [0, 1, 2]),
    ]
    judge, quality = [5, 2, 4, 3, 3, 1], [0, -1, -3, 0, -1, -2]
    assert spearman(groups, pooling="pooled") == pytest.approx(
        stats.spearmanr(judge, quality).statistic
    )
    assert kendall(groups, pooling="pooled") == pytest.approx(
        stats.kendalltau(judge, quality).statistic
    )


def test_correlations_on_random_groups_match_scipy() -> None:
    rng = np.random.default_rng(7)
    groups, pairs = [], []
    for _ in range(20):
        judge = rng.integers(0, 6, size=4).astype(float)
        ranks = rng.permutation(4)
        if len(set(judge)) < 2:
            continue
        groups.append(Group.from_ranks(list(judge), list(ranks)))
        pairs.append((list(judge), list(-ranks.astype(float))))
    assert spearman(groups) == pytest.approx(scipy_mean(stats.spearmanr, pairs))
    assert kendall(groups) == pytest.approx(scipy_mean(stats.kendalltau, pairs))


def test_saturated_judge_counts_as_no_correlation() -> None:
    perfect = Group.from_ranks([5, 3, 1], [0, 1, 2])
    saturated = Group.from_ranks([5, 5, 5], [0, 1, 2])
    no_human_order = Group.from_scores([5, 1, 3], [1, 1, 1])
    assert spearman([perfect, saturated, no_human_order]) == pytest.approx(0.5)
    assert kendall([perfect, saturated, no_human_order]) == pytest.approx(0.5)
    assert spearman([no_human_order]) is None
    with pytest.raises(ValueError):
        spearman([perfect], pooling="average")  # type: ignore[arg-type]


def test_reward_model_metrics_dict() -> None:
    result = reward_model_metrics(GROUPS + [Group.from_ranks([5], [0])])
    assert result["pairwise_accuracy"] == pytest.approx(0.85)
    assert result["exact_match"] == 0.5
    assert result["parse_rate"] == pytest.approx(10 / 11)
    assert result["n_groups"] == 4 and result["n_groups_too_small"] == 1
    assert result["n_responses"] == 11 and result["n_unparsed"] == 1
    assert result["n_pairs"] == 10 and result["n_pairs_unparsed"] == 2
    assert result["n_judge_tie"] == 1 and result["n_groups_unparsed"] == 1
    assert result["n_top_score"] == 2  # the single-response group is not counted
    assert set(result) >= {"five_best", "spearman", "kendall", "share_top_score"}


# Head-to-head: scripted judges see (first answer, second answer) and name a position.


def run_judge(judge, answers_a: list[str], answers_b: list[str]):
    """Both orders for every prompt, verdicts converted to the winning model."""
    ab = [unswap(judge(a, b), swapped=False) for a, b in zip(answers_a, answers_b)]
    ba = [unswap(judge(b, a), swapped=True) for a, b in zip(answers_a, answers_b)]
    return ab, ba


ANSWERS_A = ["a long, careful answer"] * 30
ANSWERS_B = ["short"] * 30


def test_first_position_judge_gives_all_ties() -> None:
    result = head_to_head(*run_judge(lambda first, second: "A", ANSWERS_A, ANSWERS_B))
    assert (result["wins"], result["ties"], result["losses"]) == (0, 30, 0)
    assert result["score"] == 0.5 and result["score_ci"] == [0.5, 0.5]
    assert result["win_rate_ci"] == [0.0, 0.0]


def test_consistent_judge_gives_all_wins() -> None:
    def prefers_longer(first: str, second: str) -> str:
        return "A" if len(first) > len(second) else "B"

    result = head_to_head(*run_judge(prefers_longer, ANSWERS_A, ANSWERS_B))
    assert (result["wins"], result["ties"], result["losses"]) == (30, 0, 0)
    assert result["win_rate"] == 1.0 and result["score_ci"] == [1.0, 1.0]


def test_head_to_head_unparsed_is_a_tie_and_intervals_behave() -> None:
    ab = ["A"] * 50 + ["B"] * 20 + [None] * 10 + ["A"] * 20
    ba = ["A"] * 50 + ["B"] * 20 + ["A"] * 10 + ["B"] * 20
    result = head_to_head(ab, ba, n_boot=4000, seed=3)
    counts = (result["wins"], result["ties"], result["losses"], result["n_unparsed"])
    assert counts == (50, 30, 20, 10)
    assert result["score"] == pytest.approx(0.65)
    low, high = result["score_ci"]
    assert 0.5 < low < 0.65 < high < 0.8
    assert result == head_to_head(ab, ba, n_boot=4000, seed=3)  # seeded: reproducible


def test_multinomial_bootstrap_matches_resampling_prompts() -> None:
    outcomes = np.array([1.0] * 50 + [0.5] * 30 + [0.0] * 20)
    rng = np.random.default_rng(0)
    direct = outcomes[rng.integers(0, 100, size=(20000, 100))].mean(axis=1)
    expected = np.percentile(direct, [2.5, 97.5])
    ab = ["A"] * 50 + ["A"] * 30 + ["B"] * 20
    ba = ["A"] * 50 + ["B"] * 30 + ["B"] * 20
    got = head_to_head(ab, ba, n_boot=20000, seed=1)["score_ci"]
    np.testing.assert_allclose(got, expected, atol=0.01)


def test_head_to_head_input_checks_and_empty() -> None:
    with pytest.raises(ValueError):
        head_to_head(["A"], [])
    with pytest.raises(ValueError):
        head_to_head(["first"], ["A"])  # type: ignore[list-item]
    empty = head_to_head([], [])
    assert empty["n"] == 0 and empty["score"] is None and empty["score_ci"] is None


def test_both_pairwise_readings_and_the_tie_share() -> None:
    """SR Table 4's pairwise accuracy counts a judge tie as wrong; the tie-half value is beside it."""
    from srlm.evaluation.metrics import DEFINITIONS, bootstrap_intervals

    groups = [Group.from_ranks([5, 3, 3], [0, 1, 2]), Group.from_ranks([4, 4], [0, 1])]  # 4 pairs: 2 agree, 2 judge ties
    result = reward_model_metrics(groups)
    assert result["pairwise_accuracy_strict"] == pytest.approx(2 / 4)
    assert result["pairwise_accuracy_tie_half"] == pytest.approx(3 / 4) == result["pairwise_accuracy"]
    assert result["judge_tie_share"] == pytest.approx(2 / 4)
    assert result["pairwise_accuracy_untied"] == 1.0  # the two pairs the judge ordered, it ordered right
    assert reward_model_metrics(groups, tie_credit=0.0)["pairwise_accuracy_tie_half"] == pytest.approx(3 / 4)
    ci = bootstrap_intervals(groups, draws=200)
    assert ci["pairwise_accuracy_strict"][1] <= ci["pairwise_accuracy"][1]
    assert {"pairwise_accuracy_strict", "pairwise_accuracy_tie_half", "exact_match", "five_best", "spearman", "kendall"} <= set(DEFINITIONS)
    assert reward_model_metrics([])["judge_tie_share"] is None
