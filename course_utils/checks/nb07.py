"""Exercises of notebook 07 (diversity re-ranking): MMR and the DPP kernel."""

from __future__ import annotations

import numpy as np

from course_utils import rerank
from course_utils.exercises import Exercise, assert_close

# Four candidates: items 0 and 1 are near-duplicates, items 2 and 3 point elsewhere.
_EMBEDDINGS = np.array([[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _test_mmr(candidate) -> None:
    candidates = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    relevance = np.array([[1.0, 0.95, 0.3, 0.0], [0.0, 0.3, 0.95, 1.0]])  # already in [0, 1] per user
    for diversity, expected in ((0.0, [[0, 1, 2], [0, 1, 2]]), (0.5, [[0, 2, 3], [0, 2, 3]])):
        result = np.asarray(candidate(candidates, relevance, _EMBEDDINGS, 3, diversity))
        if result.shape != (2, 3):
            raise AssertionError(f"return k item ids per user: expected shape (2, 3), got {result.shape}.")
        if diversity == 0.0 and not np.array_equal(result, expected):
            raise AssertionError(
                f"with diversity = 0 MMR must return the relevance order {expected}, got {result.tolist()}."
            )
        if diversity == 0.5 and not np.array_equal(result, expected):
            raise AssertionError(
                f"with diversity = 0.5 the near-duplicate item 1 should be skipped: expected "
                f"{expected}, got {result.tolist()}. Penalise the *maximum* similarity to the "
                "items already picked."
            )
    if not np.array_equal(result, rerank.mmr(candidates, relevance, _EMBEDDINGS, 3, 0.5)):
        raise AssertionError("the picks differ from the reference MMR.")


mmr = Exercise(
    "Maximal Marginal Relevance",
    test=_test_mmr,
    hint="""For each user: normalise embeddings to unit length, start with an empty list, and k times pick the
    not-yet-picked candidate maximising (1 - diversity) * rel - diversity * max cosine to the picked items
    (0 while nothing is picked). Return the item ids (candidates[user, position]).""",
    reference=rerank.mmr,
)


def _test_dpp_kernel(candidate) -> None:
    quality = np.array([1.0, 2.0, 0.5])
    similarity = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    expected = quality[:, None] * similarity * quality[None, :]
    result = np.asarray(candidate(quality, similarity), dtype=float)
    if result.shape == (3, 3) and np.allclose(result, similarity * quality[:, None]):
        raise AssertionError(
            "L must be scaled by the quality on both sides: diag(q) S diag(q), not diag(q) S."
        )
    assert_close(result, expected, "the kernel L")
    if not np.allclose(result, result.T):
        raise AssertionError("L must be symmetric.")


dpp_kernel = Exercise(
    "The DPP kernel",
    test=_test_dpp_kernel,
    hint="L_ij = q_i * S_ij * q_j: multiply S by q[:, None] and by q[None, :] "
    "(or compute np.diag(q) @ S @ np.diag(q)).",
    reference=rerank.dpp_kernel,
)
