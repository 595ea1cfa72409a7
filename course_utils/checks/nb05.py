"""Exercises of notebook 05 (image encoders): a feature-space distance matrix and visual kNN."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from course_utils.encoders import similarity
from course_utils.exercises import Exercise, assert_close


def _test_pairwise_distances(candidate) -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    result = np.asarray(candidate(points), dtype=float)
    if result.shape != (3, 3):
        raise AssertionError(f"return the full (n, n) matrix: (3, 3) expected, got {result.shape}.")
    if np.allclose(result, [[0, 25, 100], [25, 0, 25], [100, 25, 0]]):
        raise AssertionError("these are squared distances: take the square root at the end.")
    assert_close(result, [[0, 5, 10], [5, 0, 5], [10, 5, 0]], "Euclidean distances of (0,0), (3,4), (6,8)")
    features = np.random.default_rng(0).normal(size=(20, 7)) * 100  # large values: round-off shows
    euclidean = np.asarray(candidate(features), dtype=float)
    if np.isnan(euclidean).any():
        raise AssertionError("NaN on the diagonal? Round-off can make a squared distance -1e-12: clip at 0.")
    assert_close(euclidean, cdist(features, features), "Euclidean distances of random features", atol=1e-6)
    cosine = np.asarray(candidate(features, metric="cosine"), dtype=float)
    assert_close(cosine, cdist(features, features, "cosine"), "cosine distances (1 - cosine similarity)")


pairwise_distances = Exercise(
    "A feature-space distance matrix",
    test=_test_pairwise_distances,
    hint="""Euclidean: with squared norms s = (x ** 2).sum(axis=1), the squared distances are
    s[:, None] + s[None, :] - 2 * x @ x.T; clip at 0 (np.maximum) before np.sqrt.
    Cosine: divide each row by its norm; the distance is 1 - x_unit @ x_unit.T.""",
    reference=similarity.pairwise_distances,
)


def _test_knn_accuracy(candidate) -> None:
    # Two tight clusters of four, each with one odd label that its three neighbours outvote.
    features = np.array(
        [[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [1.0, 0.0], [1.0, 0.1], [1.0, 0.2], [1.0, 0.3]]
    )
    labels = np.array(["top", "top", "top", "shoe", "shoe", "shoe", "shoe", "top"])
    assert_close(
        float(candidate(features, labels, k=3)), 6 / 8, "accuracy on two clusters with one odd label each"
    )
    rng = np.random.default_rng(3)
    random_labels = rng.integers(0, 2, 60)
    random_features = rng.normal(size=(60, 4)) + random_labels[:, None]
    if np.isclose(float(candidate(random_features, random_labels, k=1)), 1.0):
        raise AssertionError(
            "every item was its own nearest neighbour: leave the item itself out of its vote."
        )
    for k, metric in ((1, "cosine"), (5, "euclidean")):
        expected = similarity.knn_accuracy(random_features, random_labels, k=k, metric=metric)
        assert_close(
            float(candidate(random_features, random_labels, k=k, metric=metric)),
            expected,
            f"leave-one-out accuracy with k={k}, metric={metric!r} on random two-class data",
        )


knn_accuracy = Exercise(
    "Visual kNN: leave-one-out category accuracy",
    test=_test_knn_accuracy,
    hint="""D = pairwise_distances(features, metric); set its diagonal to np.inf so an item is
    not its own neighbour; np.argsort(D, axis=1)[:, :k] are the neighbours. Turn labels into
    codes with np.unique(labels, return_inverse=True), count the votes per class (np.add.at or
    a loop over classes), and compare votes.argmax(axis=1) with each item's own code.""",
    reference=similarity.knn_accuracy,
)
