"""Exercises of notebook 00 (welcome): a first taste of measuring concentration."""

from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import Exercise, Mistake


def top_share(exposures: np.ndarray, fraction: float = 0.1) -> float:
    """Share of all exposures that go to the ``fraction`` most-exposed items.

    top_share = sum of the ceil(fraction * n) largest counts / sum of all counts.
    """
    exposures = np.asarray(exposures, dtype=float)
    if exposures.ndim != 1 or exposures.size == 0 or exposures.sum() <= 0:
        raise ValueError("need a non-empty 1-D array of counts with a positive total")
    n_top = int(np.ceil(fraction * exposures.size))
    return float(np.sort(exposures)[::-1][:n_top].sum() / exposures.sum())


def _test_top_share(candidate) -> None:
    counts = np.array([5, 1, 1, 1, 1, 1, 1, 1, 1, 87])  # one blockbuster among ten items
    got = float(candidate(counts, 0.1))
    if np.isclose(got, 87):
        raise AssertionError("you returned the exposures of the top items (87): divide by the total count.")
    if np.isclose(got, 0.01):
        raise AssertionError(
            "you took the *least* exposed item (1 of 100): sort the counts in decreasing order."
        )
    if np.isclose(got, 0.05):
        raise AssertionError(
            "you took the first item of the array (5 of 100): order must not matter, sort the counts first."
        )
    assert np.isclose(got, 0.87), f"the top 10% (1 item) holds 87 of 100 exposures: expected 0.87, got {got}"
    equal = np.full(20, 5)
    got = float(candidate(equal, 0.5))
    assert np.isclose(got, 0.5), f"with equal exposure the top half holds half: expected 0.5, got {got}"
    got = float(candidate(np.array([3, 0, 7, 0, 0]), 0.2))
    assert np.isclose(got, 0.7), (
        f"order must not matter: the largest of [3, 0, 7, 0, 0] is 7 of 10, got {got}"
    )
    thirteen = np.array([50, 30] + [2] * 11)  # 10% of 13 items is 1.3 items: the top 2 count
    got = float(candidate(thirteen, 0.1))
    if np.isclose(got, 50 / 102):
        raise AssertionError(
            "10% of 13 items is 1.3 items: round the number of top items *up*, ceil(fraction * n) = 2, "
            f"so the top share is 80/102; got {got:.3f} (one item)."
        )
    assert np.isclose(got, 80 / 102), f"the top 2 of 13 items hold 80 of 102 exposures, got {got:.3f}"


def _smallest_first(exposures, fraction=0.1):
    return np.sort(exposures)[: math.ceil(fraction * len(exposures))].sum() / np.sum(exposures)


def _rounded_down(exposures, fraction=0.1):
    return np.sort(exposures)[::-1][: int(fraction * len(exposures))].sum() / np.sum(exposures)


def _unsorted(exposures, fraction=0.1):
    return exposures[: math.ceil(fraction * len(exposures))].sum() / np.sum(exposures)


def _not_divided(exposures, fraction=0.1):
    return np.sort(exposures)[::-1][: math.ceil(fraction * len(exposures))].sum()


def _with_sorted(exposures, fraction=0.1):
    ranked = sorted(exposures, reverse=True)
    return sum(ranked[: math.ceil(fraction * len(ranked))]) / sum(ranked)


def _with_negated_sort(exposures, fraction=0.1):
    counts = np.asarray(exposures, dtype=float)
    return -np.sort(-counts)[: int(np.ceil(fraction * counts.size))].sum() / counts.sum()


top_share_exercise = Exercise(
    "Share of exposures held by the top items",
    test=_test_top_share,
    hints=(
        "Which items are 'the top'? Put the counts in order first, then it is a ratio of two sums.",
        "Sort the counts from largest to smallest, keep the first ceil(fraction * n) of them "
        "(np.ceil rounds 1.3 items up to 2), and divide their sum by the sum of all counts.",
    ),
    reference=top_share,
    mistakes=[
        Mistake("ascending sort (smallest items)", _smallest_first, "sort the counts in decreasing order"),
        Mistake("int() rounds the number of items down", _rounded_down, "round the number of top items *up*"),
        Mistake("forgot to sort", _unsorted, "order must not matter"),
        Mistake("forgot to divide by the total", _not_divided, "divide by the total count"),
    ],
    alternatives=[_with_sorted, _with_negated_sort],
)
