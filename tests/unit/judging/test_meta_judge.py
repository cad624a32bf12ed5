"""The meta-judge's judging: targets, comparisons in both orders, verdict tables, position
weights, Elo ranking, the judge pair and the generosity monitor (no model, no files)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from srlm.judging import meta_judge as meta
from tests.helpers.meta_rows import judged_prompts


def target(scores: Sequence[float], lengths: Sequence[int] | None = None, samples: Sequence[int] | None = None) -> meta.Target:
    """A target whose judgment k has ``lengths[k]`` words and ends with ``Score: scores[k]``."""
    lengths = lengths or [5] * len(scores)
    texts = tuple(" ".join([f"w{k}"] * (n - 2)) + f" Score: {s:g}" for k, (s, n) in enumerate(zip(scores, lengths)))
    return meta.Target("p0", "p0-c0", "Name a colour.", "Blue.", texts, tuple(float(s) for s in scores), tuple(samples or range(len(scores))))


def table_from(size: int, winner: Callable[[int, int], int | None]) -> meta.Table:
    """Every ordered pair (first, second) of ``size`` judgments, decided by ``winner``."""
    return {(m, n): winner(m, n) for m in range(size) for n in range(size) if m != n}


# ---------------------------------------------------------------------------------------------
# 1. Targets and comparisons


def test_targets_take_the_most_varied_response_and_only_its_parsed_judgments() -> None:
    candidates, judgments = judged_prompts()
    targets, considered = meta.pick_targets(candidates, judgments)
    assert considered == 2
    assert [t.candidate_id for t in targets] == ["p0-c1"]  # p1 has no disagreement
    assert targets[0].samples == (0, 2, 3)  # sample 1 did not parse: never compared
    assert targets[0].scores == (2.0, 5.0, 3.0)


def test_every_ordered_pair_is_compared_once_with_traceable_ids() -> None:
    rows = meta.comparisons([target([1, 2, 3], samples=[0, 2, 5])])
    assert len(rows) == 3 * 2
    assert {(r["first"], r["second"]) for r in rows} == {(m, n) for m in range(3) for n in range(3) if m != n}
    assert "p0-c0-j5-j0" in {r["id"] for r in rows}  # original sample indices, j5 shown first


def test_verdict_table_maps_letters_to_judgments_and_keeps_unparsed_as_none() -> None:
    t = target([1, 2, 3], samples=[0, 2, 5])
    rows = [
        {"first": 0, "second": 2, "verdict": "A"},
        {"first": 2, "second": 0, "verdict": "A"},
        {"first": 5, "second": 0, "verdict": "B"},
        {"first": 0, "second": 5, "verdict": None},
    ]
    assert meta.verdict_table(t, rows) == {(0, 1): 0, (1, 0): 1, (2, 0): 0, (0, 2): None}


# ---------------------------------------------------------------------------------------------
# 2. Position-bias weights, Elo and the judge pair


def test_weights_come_from_all_tables_of_the_iteration() -> None:
    first_wins = table_from(2, lambda m, n: m)  # 2 first-position wins
    mixed = {(0, 1): 1, (1, 0): 1, (0, 2): None, (2, 0): 2}  # second, first, -, first
    w1, w2, first, second = meta.iteration_weights([first_wins, mixed])
    assert (first, second) == (4, 1)
    assert (w1, w2) == pytest.approx((1 / 5, 4 / 5))
    assert meta.iteration_weights([]) == (0.5, 0.5, 0, 0)


def test_a_meta_judge_that_always_picks_position_a_gives_no_judge_pair() -> None:
    """All wins are first-position wins, so w1 = 0: the bias cancels and no judgment is preferred."""
    always_a = table_from(4, lambda m, n: m)
    w1, w2, _, _ = meta.iteration_weights([always_a])
    assert (w1, w2) == (0.0, 1.0)
    pick = meta.rank_judgments(always_a, 4, w1, w2, [10] * 4, max_chosen_length=100)
    assert pick.dropped == "no_preference" and pick.chosen is None
    assert pick.elo == (0.0, 0.0, 0.0, 0.0)


def test_the_judgment_that_wins_every_comparison_is_chosen() -> None:
    # Judgment 2 wins in both positions; judgment 0 loses in both; else the first shown wins.
    def winner(m: int, n: int) -> int:
        if 2 in (m, n):
            return 2
        if 0 in (m, n):
            return n if m == 0 else m
        return m

    table = table_from(4, winner)
    w1, w2, _, _ = meta.iteration_weights([table])
    pick = meta.rank_judgments(table, 4, w1, w2, [10] * 4, max_chosen_length=100)
    assert (pick.chosen, pick.rejected) == (2, 0)
    assert pick.elo[2] == max(pick.elo) and pick.elo[0] == min(pick.elo)


def test_the_length_limit_drops_pairs_whose_chosen_judgment_is_too_long() -> None:
    table = table_from(3, lambda m, n: 1 if 1 in (m, n) else min(m, n))
    assert meta.rank_judgments(table, 3, 0.5, 0.5, [10, 51, 10], max_chosen_length=50).dropped == "chosen_too_long"
    kept = meta.rank_judgments(table, 3, 0.5, 0.5, [10, 50, 10], max_chosen_length=50)
    assert (kept.chosen, kept.rejected) == (1, 2)  # the limit is inclusive


def test_unparsed_verdicts_add_nothing() -> None:
    pick = meta.rank_judgments(table_from(3, lambda m, n: None), 3, 0.5, 0.5, [1, 1, 1], 100)
    assert pick.dropped == "no_preference"


def test_higher_score_win_rate_ignores_equal_scores_and_unparsed_verdicts() -> None:
    t = target([1, 3, 3])
    table = {(0, 1): 1, (1, 0): 0, (1, 2): 1, (2, 0): None}
    assert meta.higher_score_win_rate([t], [table]) == 0.5
    assert meta.higher_score_win_rate([t], [{(1, 2): 2}]) is None
