"""Actor preference pairs: best vs worst, length control, and every reason to drop a prompt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srlm.judging.selection import PairChoice, choose_pair, most_varied, positive_examples


def test_plain_best_versus_worst() -> None:
    assert choose_pair([2.0, 4.67, 3.0, 1.33], [10, 50, 20, 30]) == PairChoice(1, 3)


def test_rho_zero_breaks_equal_scores_by_lowest_index_not_length() -> None:
    # Two responses share the best and two the worst score; lengths must not matter at rho = 0.
    choice = choose_pair([1.0, 5.0, 1.0, 5.0], [500, 400, 10, 20])
    assert (choice.chosen, choice.rejected) == (1, 0)


def test_unparsed_responses_are_never_chosen_or_rejected() -> None:
    choice = choose_pair([None, 3.0, None, 4.0], [1, 100, 1000, 100])
    assert (choice.chosen, choice.rejected) == (3, 1)


@pytest.mark.parametrize(
    ("scores", "reason"),
    [
        ([None, None, None, None], "fewer_than_two_valid"),
        ([4.0, None, None, None], "fewer_than_two_valid"),
        ([], "fewer_than_two_valid"),
        ([3.0, 3.0, None, 3.0], "tie"),
        ([5.0, 5.0], "tie"),
    ],
)
def test_dropped_prompts(scores: list[float | None], reason: str) -> None:
    choice = choose_pair(scores, [10] * len(scores))
    assert choice == PairChoice(dropped=reason)
    assert not choice.kept


def test_margin() -> None:
    scores, lengths = [4.0, 3.67, 3.33], [10, 10, 10]  # best minus worst = 0.67
    assert choose_pair(scores, lengths, min_margin=0.7) == PairChoice(dropped="below_margin")
    assert choose_pair(scores, lengths, min_margin=0.5) == PairChoice(0, 2)
    assert choose_pair([4.0, 3.0], [1, 1], min_margin=1.0).kept  # equal to the minimum is kept


# Table for length control: scores and lengths of seven responses (K = 7 in Wu et al.).
SCORES = [4.8, 4.5, 3.9, 2.0, 2.5, 4.8, 2.2]
LENGTHS = [400, 150, 90, 60, 300, 380, 500]


@pytest.mark.parametrize(
    ("rho", "chosen", "rejected"),
    [
        # rho = 0: the first 4.8 and the 2.0; lengths ignored.
        (0.0, 0, 3),
        # rho = 0.1: top tier >= 4.52 -> {0, 5}, shortest 5; bottom <= 2.28 -> {3, 6}, longest 6.
        (0.1, 5, 6),
        # rho = 0.32: top >= 3.904 -> {0, 1, 5}, shortest 1;
        # bottom <= 2.896 -> {3, 4, 6}, longest 6.
        (0.32, 1, 6),
        # rho = 0.4: top >= 3.68 -> adds 2 (3.9, 90 tokens); bottom <= 3.12 -> longest still 6.
        (0.4, 2, 6),
    ],
)
def test_length_control_table(rho: float, chosen: int, rejected: int) -> None:
    assert choose_pair(SCORES, LENGTHS, rho=rho) == PairChoice(chosen, rejected)


def test_length_control_equal_lengths_prefer_better_then_worse_score() -> None:
    # Top tier {0, 1} both 100 tokens: the higher score wins; bottom {2, 3} both 100: the lower.
    choice = choose_pair([4.0, 4.5, 1.2, 1.0], [100, 100, 100, 100], rho=0.2)
    assert (choice.chosen, choice.rejected) == (1, 3)


def test_overlapping_tiers_cannot_pair_a_response_with_itself() -> None:
    # rho = 0.6: top >= 2.6 -> {0, 2}, bottom <= 3.4 -> {1, 2}; response 2 is the shortest of
    # the top tier and the longest of the bottom tier, so it would be paired with itself.
    assert choose_pair([5.0, 1.0, 3.0], [100, 5, 50], rho=0.6).dropped == "below_margin"
    # rho = 1 where the shortest response is the worse one: chosen would score below rejected.
    assert choose_pair([5.0, 1.0], [100, 10], rho=1.0).dropped == "below_margin"


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        choose_pair([1.0, 2.0], [1])
    with pytest.raises(ValueError):
        choose_pair([1.0, 2.0], [1, 1], rho=1.5)
    with pytest.raises(ValueError):
        choose_pair([1.0, 2.0], [1, 1], min_margin=-1)


def test_positive_examples() -> None:
    assert positive_examples([5.0, 4.99, None, 5.0]) == [0, 3]
    assert positive_examples([4.0, 3.0], threshold=4.0) == [0]
    assert positive_examples([None, None]) == []


def test_most_varied() -> None:
    assert most_varied([[4, 4, 4], [2, 5, None], [3, 4, 5]]) == 1
    assert most_varied([[1, 5], [5, 1]]) == 0  # equal spread: lowest index
    assert most_varied([[4, 4], [None, 3], []]) is None


scores_strategy = st.lists(
    st.one_of(st.none(), st.integers(0, 15).map(lambda x: x / 3)), min_size=0, max_size=8
)


@given(scores_strategy, st.data())
def test_rho_zero_is_best_versus_worst(scores: list[float | None], data: st.DataObject) -> None:
    lengths = data.draw(st.lists(st.integers(1, 500), min_size=len(scores), max_size=len(scores)))
    choice = choose_pair(scores, lengths)
    valid = [s for s in scores if s is not None]
    if len(valid) < 2:
        assert choice.dropped == "fewer_than_two_valid"
    elif max(valid) == min(valid):
        assert choice.dropped == "tie"
    else:
        assert scores[choice.chosen] == max(valid) and scores[choice.rejected] == min(valid)
        assert choice.chosen == scores.index(max(valid))
        assert choice.rejected == scores.index(min(valid))


@given(scores_strategy, st.floats(0, 1), st.data())
def test_kept_pairs_always_improve(
    scores: list[float | None], rho: float, data: st.DataObject
) -> None:
    lengths = data.draw(st.lists(st.integers(1, 500), min_size=len(scores), max_size=len(scores)))
    choice = choose_pair(scores, lengths, rho=rho)
    if choice.kept:
        assert choice.chosen != choice.rejected
        assert scores[choice.chosen] > scores[choice.rejected]
        valid = [x for x in scores if x is not None]
        best, worst = max(valid), min(valid)
        assert scores[choice.chosen] >= (1 - rho) * best + rho * worst - 1e-9
        assert scores[choice.rejected] <= (1 - rho) * worst + rho * best + 1e-9
