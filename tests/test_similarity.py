"""Similarity search: hand-computed neighbours, distances against SciPy, kNN against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from course_utils.encoders.similarity import (
    cosine_similarity_matrix,
    knn_accuracy,
    nearest_neighbours,
    pairwise_distances,
)

# Four 2-d points: east, slightly north of east, north, west.
POINTS = np.array([[1.0, 0.0], [2.0, 0.2], [0.0, 3.0], [-1.0, 0.0]])


def test_cosine_similarity_hand_computed() -> None:
    similarities = cosine_similarity_matrix(POINTS)
    assert similarities[0, 2] == pytest.approx(0.0)
    assert similarities[0, 3] == pytest.approx(-1.0)
    assert similarities[0, 1] == pytest.approx(2.0 / np.hypot(2.0, 0.2))
    np.testing.assert_allclose(np.diag(similarities), 1.0)


def test_nearest_neighbours_hand_computed() -> None:
    indices, similarities = nearest_neighbours(POINTS[:1], POINTS, k=3)
    np.testing.assert_array_equal(indices, [[0, 1, 2]])  # itself, then the near-east point, then north
    assert similarities[0, 0] == pytest.approx(1.0)
    assert np.all(np.diff(similarities, axis=1) <= 0)  # best first


def test_exclude_self_never_returns_the_query() -> None:
    indices, _ = nearest_neighbours(POINTS, POINTS, k=2, exclude_self=True)
    assert not np.any(indices == np.arange(len(POINTS))[:, None])
    np.testing.assert_array_equal(indices[:, 0], [1, 0, 1, 2])  # west's best other is north (cos 0)


def test_pairwise_distances_match_scipy() -> None:
    features = np.random.default_rng(0).normal(size=(7, 5))
    for metric in ("euclidean", "cosine"):
        expected = cdist(features, features, metric)
        np.testing.assert_allclose(pairwise_distances(features, metric), expected, atol=1e-10)
    assert np.all(np.diag(pairwise_distances(features)) == 0.0)


def test_knn_accuracy_matches_scikit_learn_leave_one_out() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 40)
    features = rng.normal(size=(40, 6)) + labels[:, None] * 0.8  # three overlapping clusters
    classifier = KNeighborsClassifier(n_neighbors=5, metric="euclidean")
    expected = (cross_val_predict(classifier, features, labels, cv=LeaveOneOut()) == labels).mean()
    assert knn_accuracy(features, labels, k=5, metric="euclidean") == pytest.approx(expected)


def test_knn_accuracy_on_separated_clusters_is_perfect() -> None:
    features = np.array([[0.0, 1.0], [0.1, 1.0], [0.0, 1.1], [1.0, 0.0], [1.1, 0.0], [1.0, 0.1]])
    assert knn_accuracy(features, ["top", "top", "top", "shoe", "shoe", "shoe"], k=2) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nearest_neighbours(POINTS, POINTS, k=5), "k=5 must be between 1 and the 4"),
        (lambda: nearest_neighbours(POINTS, POINTS, k=4, exclude_self=True), "the 3 candidates"),
        (lambda: nearest_neighbours(POINTS[:2], POINTS, k=1, exclude_self=True), "queries to be the corpus"),
        (lambda: nearest_neighbours(POINTS, np.ones((3, 5)), k=1), "dim 2 but the corpus has dim 5"),
        (lambda: pairwise_distances(np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: pairwise_distances(np.empty((0, 3))), "non-empty"),
        (lambda: pairwise_distances(POINTS, metric="manhattan"), "unknown metric"),
        (lambda: knn_accuracy(POINTS, [0, 1, 0], k=1), "one label per row"),
        (lambda: knn_accuracy(POINTS, [0, 1, 0, 1], k=4), "k=4 must be between 1 and n_items - 1"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
