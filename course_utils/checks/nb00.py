"""Exercises of notebook 00 (welcome): a first taste of measuring concentration."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise


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
    counts = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 91])  # one blockbuster among ten items
    got = candidate(counts, 0.1)
    assert np.isclose(got, 0.91), f"the top 10% (1 item) holds 91 of 100 exposures: expected 0.91, got {got}"
    equal = np.full(20, 5)
    got = candidate(equal, 0.5)
    assert np.isclose(got, 0.5), f"with equal exposure the top half holds half: expected 0.5, got {got}"
    got = candidate(np.array([3, 0, 7, 0, 0]), 0.2)
    assert np.isclose(got, 0.7), (
        f"order must not matter: the largest of [3, 0, 7, 0, 0] is 7 of 10, got {got}"
    )


top_share_exercise = Exercise(
    "Share of exposures held by the top items",
    test=_test_top_share,
    hint="Sort the counts in decreasing order (np.sort(...)[::-1]), keep the first ceil(fraction * n), "
    "and divide their sum by the total.",
    reference=top_share,
)
