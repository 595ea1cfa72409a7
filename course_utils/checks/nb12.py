"""Exercises of notebook 12 (filter-bubble simulation): the adaptive diversity weight."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, assert_close
from course_utils.simulation import update_diversity_weights

# Four users, slates of four; the relevance top-4 of every user is items 0-3.
_RELEVANCE = np.array([[0, 1, 2, 3]] * 4)
_SLATES = np.array([[0, 1, 8, 9]] * 3 + [[0, 1, 2, 3]])  # positions 2, 3 inserted; the last user: none
_CLICKS = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool)
_EXAMINATION = np.array([1.0, 0.5, 0.5, 0.25])


def _test_update(candidate) -> None:
    weights = np.full(4, 0.5)
    got = np.asarray(
        candidate(weights.copy(), _SLATES, _CLICKS, _RELEVANCE, _EXAMINATION, 0.1, (0.0, 1.0)), float
    )
    if got.shape != (4,):
        raise AssertionError(f"return one weight per user, shape (4,); got shape {got.shape}.")
    if got[0] <= 0.5:
        raise AssertionError(
            "user 0 clicked only an item the re-ranker inserted, so its weight must go up from 0.5; "
            f"got {got[0]:.3f}."
        )
    if got[1] >= 0.5:
        raise AssertionError(
            f"user 1 clicked only a relevance item, so its weight must go down; got {got[1]:.3f}."
        )
    if not np.isclose(got[3], 0.5):
        raise AssertionError(
            "user 3's slate has no inserted item (no evidence), so its weight must stay 0.5; "
            f"got {got[3]:.3f}. Treat an empty group's attraction as unknown (NaN) and the signal as 0."
        )
    if np.isclose(got[2], 0.5):
        raise AssertionError(
            "user 2 clicked one inserted item (position 2, examined with probability 0.5) and one kept item "
            "(position 0, probability 1): debiased by examination, the inserted group wins. "
            "Divide clicks by the summed examination probabilities of each group, not by the number of items."
        )
    assert_close(got, [0.5 + 0.4 / 3, 0.5 - 0.2 / 3, 0.5 + 0.2 / 3, 0.5], "the updated weights")
    clipped = np.asarray(
        candidate(weights.copy(), _SLATES, _CLICKS, _RELEVANCE, _EXAMINATION, 10.0, (0.1, 0.9))
    )
    assert_close(clipped, [0.9, 0.1, 0.9, 0.5], "the weights with a large step (clip them to the bounds)")


update_weights = Exercise(
    "Adapt each user's diversity weight from their clicks",
    test=_test_update,
    hint="inserted = ~(slates[:, :, None] == relevance_slates[:, None, :]).any(axis=2). For each group g "
    "(inserted, ~inserted): a_g = (g * clicks).sum(1) / (g * examination).sum(1), NaN where the denominator "
    "is 0. signal = np.nan_to_num(a_inserted - a_kept); "
    "return np.clip(weights + step_size * signal, *bounds).",
    reference=update_diversity_weights,
)
