"""Exercises of notebook 06 (diversity metrics): intra-list diversity and the Gini index."""

from __future__ import annotations

import numpy as np

from course_utils import metrics
from course_utils.exercises import Exercise, assert_close

# Three items on the unit circle and one duplicate: e0 = (1, 0), e1 = (0, 1), e2 = e0.
_EMBEDDINGS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _test_intra_list_diversity(candidate) -> None:
    distance = metrics.CosineDistance(_EMBEDDINGS)
    # list [0, 1, 2]: d01 = 1, d02 = 0, d12 = 1 -> ILD = 2/3
    # list [0, 2, 3]: d02 = 0, d03 = d23 = 1 - 1/sqrt2 -> ILD = 2 (1 - 1/sqrt2) / 3
    recommendations = np.array([[0, 1, 2], [0, 2, 3]])
    expected = np.array([2 / 3, 2 * (1 - 1 / np.sqrt(2)) / 3])
    result = np.asarray(candidate(recommendations, distance), dtype=float)
    if result.shape != (2,):
        raise AssertionError(f"return one value per user: expected shape (2,), got {result.shape}.")
    if np.allclose(result, expected * 3 / 2):
        raise AssertionError(
            "you averaged over the k(k-1) ordered pairs *including* the zero diagonal? "
            "Average over the k(k-1)/2 pairs i < j only."
        )
    assert_close(result, expected, "ILD per user")
    identical = np.asarray(candidate(np.array([[0, 2]]), distance), dtype=float)
    assert_close(identical, [0.0], "ILD of a list of two identical items")


intra_list_diversity = Exercise(
    "Intra-list diversity",
    test=_test_intra_list_diversity,
    hint="""distance(recommendations, recommendations) gives all pairwise distances, shape (n_users, k, k).
    Keep the pairs above the diagonal with np.triu_indices(k, 1) and average them per user.""",
    reference=metrics.intra_list_diversity,
)


def _test_gini_index(candidate) -> None:
    cases = [
        (np.array([4, 0, 0, 0]), 0.75, "all exposure on one of 4 items (G = 1 - 1/n)"),
        (np.array([3, 1, 2]), 2 / 9, "counts [3, 1, 2]"),
        (np.full(5, 2.0), 0.0, "a perfectly even distribution"),
    ]
    for counts, expected, description in cases:
        result = float(candidate(counts))
        if np.isclose(result, expected * counts.size / (counts.size - 1)) and expected > 0:
            raise AssertionError(
                f"for {description} you divided by n - 1; the course's convention divides by n."
            )
        if not np.isclose(result, expected, atol=1e-9):
            raise AssertionError(
                f"for {description} expected G = {expected:.4f}, got {result:.4f} "
                "(did you sort the counts in ascending order?)"
            )


gini_index = Exercise(
    "Gini index of exposure",
    test=_test_gini_index,
    hint="""Sort the counts ascending: x_(1) <= ... <= x_(n). With i = 1..n,
    G = sum((2i - n - 1) * x_(i)) / (n * sum(x)).""",
    reference=metrics.gini_index,
)
