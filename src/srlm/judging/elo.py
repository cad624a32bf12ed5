"""Rank judgments by meta-judge battles: position-bias weights, battle matrix, Elo, judge pair.

Wu et al. 2024 (Meta-Rewarding LMs, arXiv 2407.19594), section 3.2 (judge preference
data). For one response with judgments ``j_0 .. j_{n-1}``, the meta-judge
compares every ordered pair ``(m, n)``, with ``j_m`` shown first (as "Judgment A"). ``verdicts``
maps that ordered pair to the index of the winning judgment, or ``None`` when the meta-judge's
output could not be parsed (it then contributes nothing).

"Elo" here is the Bradley-Terry maximum-likelihood strength on the natural-log scale (the paper's
objective), not the 400-point chess scale; only the order and differences matter.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

Verdicts = Mapping[tuple[int, int], int | None]


def position_counts(verdicts: Verdicts) -> tuple[int, int]:
    """How many parsed verdicts went to the judgment shown first, and to the one shown second.

    Sum these over the whole run before calling :func:`position_weights` (the paper's weights
    are run-level).

    >>> position_counts({(0, 1): 0, (1, 0): 1, (0, 2): 2, (2, 0): None})
    (2, 1)
    """
    first = sum(1 for (m, _), winner in verdicts.items() if winner is not None and winner == m)
    second = sum(1 for (_, n), winner in verdicts.items() if winner is not None and winner == n)
    return first, second


def position_weights(first_wins: int, second_wins: int) -> tuple[float, float]:
    """``(w1, w2)``: the weight of a win in the first position and of a win in the second.

    w1 = second / (first + second), w2 = first / (first + second): the position the meta-judge
    favours is down-weighted so that, in expectation, both positions carry equal total weight.
    With no parsed verdicts at all there is no bias to correct, so 0.5 / 0.5.

    >>> position_weights(30, 10)
    (0.25, 0.75)
    >>> position_weights(0, 0)
    (0.5, 0.5)
    """
    if first_wins < 0 or second_wins < 0:
        raise ValueError(f"win counts must be non-negative, got {first_wins}, {second_wins}")
    total = first_wins + second_wins
    if total == 0:
        return 0.5, 0.5
    return second_wins / total, first_wins / total


def battle_matrix(verdicts: Verdicts, n: int, w1: float, w2: float) -> np.ndarray:
    """``B[m][k] = w1 * [r^{mk} = m] + w2 * [r^{km} = m]``: weighted wins of ``j_m`` over ``j_k``.

    ``r^{mk}`` is the verdict with ``j_m`` shown first. Missing or ``None`` verdicts add nothing.

    >>> battle_matrix({(0, 1): 0, (1, 0): 0, (0, 2): None, (2, 0): 0}, 3, 0.25, 0.75)
    array([[0.  , 1.  , 0.75],
           [0.  , 0.  , 0.  ],
           [0.  , 0.  , 0.  ]])
    """
    battles = np.zeros((n, n))
    for (first, second), winner in verdicts.items():
        _check_verdict(first, second, winner, n)
        if winner == first:
            battles[first, second] += w1
        elif winner == second:
            battles[second, first] += w2
    return battles


def _check_verdict(first: int, second: int, winner: int | None, n: int) -> None:
    """Reject verdicts that cannot come from comparing two of ``n`` judgments."""
    if not (0 <= first < n and 0 <= second < n) or first == second:
        raise ValueError(f"verdict key {(first, second)} is not a pair of distinct indices < {n}")
    if winner is not None and winner not in (first, second):
        raise ValueError(f"winner {winner} of pair {(first, second)} is neither judgment")


def elo_scores(battles: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """``argmax_eps sum_{m,k} B[m][k] log sigmoid(eps_m - eps_k) - l2/2 |eps|^2``, mean zero.

    The likelihood alone is unbounded when one judgment wins every comparison (its strength
    runs to infinity) and is unchanged by adding a constant to all strengths. The small L2
    penalty makes the optimum finite and unique and, since the likelihood's gradient sums to
    zero, puts its mean at zero; with ``l2 = 0`` a mean-zero gauge term still fixes the shift
    (then the data must not be separable). No battles at all gives all zeros.

    >>> elo = elo_scores(np.array([[0.0, 2.0], [1.0, 0.0]]), l2=0.0)
    >>> bool(np.allclose(elo, [np.log(2) / 2, -np.log(2) / 2]))
    True
    """
    battles = _check_battles(battles)
    size = battles.shape[0]

    def objective(eps: np.ndarray) -> tuple[float, np.ndarray]:
        diff = eps[:, None] - eps[None, :]
        loss = -np.sum(battles * log_expit(diff)) + 0.5 * l2 * eps @ eps + 0.5 * eps.sum() ** 2
        # d/d eps_m of -B[m,k] log sigmoid(eps_m - eps_k) is -B[m,k] sigmoid(eps_k - eps_m).
        pull = battles * expit(-diff)
        grad = -pull.sum(axis=1) + pull.sum(axis=0) + l2 * eps + eps.sum()
        return float(loss), grad

    def hessian(eps: np.ndarray) -> np.ndarray:
        diff = eps[:, None] - eps[None, :]
        curvature = battles * expit(diff) * expit(-diff)
        coupling = curvature + curvature.T  # a weighted graph Laplacian
        laplacian = np.diag(coupling.sum(axis=1)) - coupling
        return laplacian + l2 * np.eye(size) + np.ones((size, size))

    result = minimize(objective, np.zeros(size), jac=True, hess=hessian, method="trust-exact",
                      options={"gtol": 1e-10})
    return result.x - result.x.mean()


def _check_battles(battles: np.ndarray) -> np.ndarray:
    """``battles`` as a float array, after checking it is square, finite and non-negative."""
    battles = np.asarray(battles, dtype=float)
    if battles.ndim != 2 or battles.shape[0] != battles.shape[1]:
        raise ValueError(f"battle matrix must be square, got shape {battles.shape}")
    if not np.all(np.isfinite(battles)) or np.any(battles < 0):
        raise ValueError("battle matrix entries must be finite and non-negative")
    return battles


def judge_pair(
    elo: np.ndarray, lengths: list[int], max_chosen_length: int | None, tol: float = 1e-6
) -> tuple[int, int] | None:
    """``(chosen, rejected)`` judgment indices: highest Elo vs lowest Elo, or ``None``.

    ``None`` when all Elo scores are equal within ``tol`` (the meta-judge expressed no
    preference), or when the chosen judgment is longer than ``max_chosen_length`` (Wu et al.:
    the meta-judge favours long judgments, so long winners are not trained on). Equal Elo
    scores are broken by the lowest index.

    >>> judge_pair(np.array([0.4, -0.9, 0.5]), [120, 80, 95], max_chosen_length=100)
    (2, 1)
    >>> judge_pair(np.array([0.4, -0.9, 0.5]), [120, 80, 130], max_chosen_length=100) is None
    True
    """
    elo = np.asarray(elo, dtype=float)
    if len(lengths) != len(elo):
        raise ValueError(f"{len(elo)} Elo scores but {len(lengths)} lengths")
    if len(elo) < 2 or float(elo.max() - elo.min()) <= tol:
        return None
    chosen, rejected = int(np.argmax(elo)), int(np.argmin(elo))
    if max_chosen_length is not None and lengths[chosen] > max_chosen_length:
        return None
    return chosen, rejected
