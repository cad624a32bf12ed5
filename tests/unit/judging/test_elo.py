"""Meta-judge battles: position weights, battle matrix, Elo fit and the judge pair."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_expit

from srlm.judging.elo import battle_matrix, elo_scores, judge_pair, position_counts, position_weights


def all_orders(n: int, winner_of) -> dict[tuple[int, int], int | None]:
    """Verdicts for every ordered pair, with ``winner_of(first, second)`` deciding each."""
    return {(m, k): winner_of(m, k) for m, k in itertools.permutations(range(n), 2)}


def test_position_weights_by_hand() -> None:
    assert position_weights(3, 1) == (0.25, 0.75)
    assert position_weights(1, 1) == (0.5, 0.5)
    assert position_weights(0, 0) == (0.5, 0.5)
    assert position_weights(5, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        position_weights(-1, 2)


def test_position_counts_skip_unparsed() -> None:
    verdicts = {(0, 1): 0, (1, 0): 0, (0, 2): 0, (2, 0): 2, (1, 2): None, (2, 1): 1}
    # First position won (0,1), (0,2), (2,0); second position won (1,0), (2,1).
    assert position_counts(verdicts) == (3, 2)


def test_battle_matrix_by_hand() -> None:
    # j0 beats j1 in both orders; j2 vs j0 split by position; j1 vs j2 one verdict unparsed.
    verdicts = {(0, 1): 0, (1, 0): 0, (0, 2): 0, (2, 0): 2, (1, 2): None, (2, 1): 1}
    w1, w2 = 0.4, 0.6
    expected = np.array(
        [
            [0.0, w1 + w2, w1],  # j0 over j1 first and second; over j2 when first
            [0.0, 0.0, w2],  # j1 over j2 when shown second
            [w1, 0.0, 0.0],  # j2 over j0 when shown first
        ]
    )
    np.testing.assert_allclose(battle_matrix(verdicts, 3, w1, w2), expected)


@pytest.mark.parametrize(
    "bad", [{(0, 0): 0}, {(0, 3): 0}, {(0, 1): 2}, {(-1, 1): 1}]
)
def test_battle_matrix_rejects_impossible_verdicts(bad: dict) -> None:
    with pytest.raises(ValueError):
        battle_matrix(bad, 3, 0.5, 0.5)


def independent_mle(battles: np.ndarray) -> np.ndarray:
    """Bradley-Terry MLE with eps_0 fixed at 0, derivative-free, then centred."""

    def negative_log_likelihood(free: np.ndarray) -> float:
        eps = np.concatenate([[0.0], free])
        return -float(np.sum(battles * log_expit(eps[:, None] - eps[None, :])))

    start = np.zeros(battles.shape[0] - 1)
    fit = minimize(negative_log_likelihood, start, method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    eps = np.concatenate([[0.0], fit.x])
    return eps - eps.mean()


def minorize_maximize(battles: np.ndarray, steps: int = 5000) -> np.ndarray:
    """Hunter's (2004) MM iterations for Bradley-Terry strengths, on the log scale, centred."""
    wins = battles.sum(axis=1)
    games = battles + battles.T
    strength = np.ones(len(battles))
    for _ in range(steps):
        strength = wins / (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        strength /= strength.sum()
    eps = np.log(strength)
    return eps - eps.mean()


# Every pair has wins both ways, so the unregularised likelihood has a finite maximum.
MIXED = np.array(
    [
        [0.0, 1.5, 0.8, 1.2],
        [0.5, 0.0, 1.0, 0.7],
        [0.6, 0.4, 0.0, 1.1],
        [0.3, 0.9, 0.2, 0.0],
    ]
)


def test_elo_matches_independent_maximum_likelihood() -> None:
    reference = independent_mle(MIXED)
    np.testing.assert_allclose(elo_scores(MIXED, l2=0.0), reference, atol=1e-5)
    np.testing.assert_allclose(minorize_maximize(MIXED), reference, atol=1e-5)
    # The default regularisation moves the estimate only slightly and keeps the order.
    regularised = elo_scores(MIXED)
    np.testing.assert_allclose(regularised, reference, atol=1e-2)
    assert list(np.argsort(regularised)) == list(np.argsort(reference))


def test_elo_is_mean_zero() -> None:
    assert abs(elo_scores(MIXED).mean()) < 1e-9


def test_judgment_winning_everything_ranks_first_and_stays_finite() -> None:
    w1, w2 = position_weights(1, 1)
    battles = battle_matrix(all_orders(4, lambda m, k: 2 if 2 in (m, k) else m), 4, w1, w2)
    elo = elo_scores(battles)
    assert np.all(np.isfinite(elo))
    assert int(np.argmax(elo)) == 2
    assert judge_pair(elo, [50, 50, 50, 50], max_chosen_length=None)[0] == 2


def test_first_position_bias_is_cancelled() -> None:
    # A meta-judge that always prefers "Judgment A": all wins are first-position wins.
    verdicts = all_orders(5, lambda first, second: first)
    w1, w2 = position_weights(*position_counts(verdicts))
    assert (w1, w2) == (0.0, 1.0)
    elo = elo_scores(battle_matrix(verdicts, 5, w1, w2))
    np.testing.assert_allclose(elo, np.zeros(5), atol=1e-12)
    assert judge_pair(elo, [10] * 5, max_chosen_length=None) is None


def test_no_battles_gives_zeros() -> None:
    np.testing.assert_array_equal(elo_scores(np.zeros((3, 3))), np.zeros(3))


def test_elo_rejects_bad_matrices() -> None:
    with pytest.raises(ValueError):
        elo_scores(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        elo_scores(np.array([[0.0, -1.0], [1.0, 0.0]]))


def test_judge_pair_rules() -> None:
    elo = np.array([0.2, 1.0, -1.0, 1.0])
    assert judge_pair(elo, [5, 6, 7, 8], max_chosen_length=None) == (1, 2)  # tie -> lowest index
    assert judge_pair(elo, [5, 6, 7, 8], max_chosen_length=6) == (1, 2)  # at the limit is fine
    assert judge_pair(elo, [5, 7, 7, 8], max_chosen_length=6) is None
    assert judge_pair(np.array([0.3, 0.3]), [1, 1], max_chosen_length=None) is None
    assert judge_pair(np.array([0.3]), [1], max_chosen_length=None) is None
    with pytest.raises(ValueError):
        judge_pair(elo, [1, 2], max_chosen_length=None)
