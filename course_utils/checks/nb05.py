"""Exercises of notebook 05 (image encoders): a feature-space distance matrix and visual kNN."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from course_utils.encoders import similarity
from course_utils.exercises import Exercise, LearnerCodeFailed, Mistake, assert_close


def _test_pairwise_distances(candidate) -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    result = np.asarray(candidate(points), dtype=float)
    if result.shape != (3, 3):
        raise AssertionError(f"return the full (n, n) matrix: (3, 3) expected, got {result.shape}.")
    if np.allclose(result, [[0, 25, 100], [25, 0, 25], [100, 25, 0]]):
        raise AssertionError("these are squared distances: take the square root at the end.")
    assert_close(result, [[0, 5, 10], [5, 0, 5], [10, 5, 0]], "Euclidean distances of (0,0), (3,4), (6,8)")
    features = np.random.default_rng(0).normal(size=(20, 7)) * 100  # large values: round-off shows
    features[3] = features[5]  # two identical rows: their squared distance can come out as -1e-12
    euclidean = np.asarray(candidate(features), dtype=float)
    if np.isnan(euclidean).any():
        raise AssertionError(
            "NaN where two rows are equal? Round-off can make a squared distance -1e-12: clip at 0."
        )
    assert_close(euclidean, cdist(features, features), "Euclidean distances of random features", atol=1e-4)
    cosine = np.asarray(candidate(features, metric="cosine"), dtype=float)
    expected = cdist(features, features, "cosine")
    if np.allclose(cosine, euclidean):
        raise AssertionError("metric='cosine' gave Euclidean distances: use the metric argument.")
    if np.allclose(cosine, 1 - expected):
        raise AssertionError("these are cosine *similarities*: the distance is 1 - cosine similarity.")
    if np.allclose(cosine, 1 - features @ features.T):
        raise AssertionError("normalise each row to unit length before the dot product: cosine, not dot.")
    assert_close(cosine, expected, "cosine distances (1 - cosine similarity)", atol=1e-6)


def _distances(features, metric="euclidean", root=True, clip=True, similarity_only=False, unit=True):
    if metric == "cosine":
        rows = features / np.linalg.norm(features, axis=1, keepdims=True) if unit else features
        return rows @ rows.T if similarity_only else 1 - rows @ rows.T
    squared_norms = (features**2).sum(axis=1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2 * features @ features.T
    squared = np.maximum(squared, 0) if clip else squared
    return np.sqrt(squared) if root else squared


def _with_broadcasting(features, metric="euclidean"):
    if metric == "cosine":
        norms = np.sqrt((features**2).sum(axis=1))
        return 1 - (features @ features.T) / np.outer(norms, norms)
    return np.sqrt(((features[:, None, :] - features[None, :, :]) ** 2).sum(axis=-1))


def _with_loops(features, metric="euclidean"):
    n = len(features)
    result = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            a, b = features[i], features[j]
            if metric == "cosine":
                result[i, j] = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            else:
                result[i, j] = np.linalg.norm(a - b)
    return result


pairwise_distances = Exercise(
    "A feature-space distance matrix",
    test=_test_pairwise_distances,
    hints=(
        "Avoid a double loop: expand ||x_i - x_j||^2 into three terms that are each one array operation. "
        "For the cosine distance, make every row unit length first.",
        "Euclidean: with the squared row norms s, the squared distances are s_i + s_j - 2 x_i . x_j (one "
        "matrix product for all pairs); round-off can make them slightly negative, so clip at 0 before the "
        "square root. Cosine: 1 - (unit rows) @ (unit rows)^T.",
    ),
    reference=similarity.pairwise_distances,
    mistakes=[
        Mistake(
            "no square root",
            lambda x, metric="euclidean": _distances(x, metric, root=False),
            "squared distances",
        ),
        Mistake("no clip at 0", lambda x, metric="euclidean": _distances(x, metric, clip=False), "clip at 0"),
        Mistake("metric ignored", lambda x, metric="euclidean": _distances(x), "use the metric argument"),
        Mistake(
            "cosine similarity instead of distance",
            lambda x, metric="euclidean": _distances(x, metric, similarity_only=True),
            "the distance is 1 - cosine similarity",
        ),
        Mistake(
            "rows not normalised for the cosine",
            lambda x, metric="euclidean": _distances(x, metric, unit=False),
            "normalise each row",
        ),
    ],
    alternatives=[_with_broadcasting, _with_loops, lambda x, metric="euclidean": cdist(x, x, metric)],
)


def _test_knn_accuracy(candidate) -> None:
    # Two tight clusters of four, each with one odd label that its three neighbours outvote.
    features = np.array(
        [[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [1.0, 0.0], [1.0, 0.1], [1.0, 0.2], [1.0, 0.3]]
    )
    labels = np.array(["top", "top", "top", "shoe", "shoe", "shoe", "shoe", "top"])
    accuracy = float(candidate(features, labels, k=3))
    if accuracy > 1:
        raise AssertionError(
            f"accuracy is a share between 0 and 1, got {accuracy}: divide by the number of items."
        )
    rng = np.random.default_rng(3)
    random_labels = rng.integers(0, 2, 60)
    random_features = rng.normal(size=(60, 4)) + random_labels[:, None]
    if np.isclose(float(candidate(random_features, random_labels, k=1)), 1.0):
        raise AssertionError(
            "every item was its own nearest neighbour: leave the item itself out of its vote."
        )
    for k, metric in ((5, "euclidean"), (5, "cosine")):
        expected = similarity.knn_accuracy(random_features, random_labels, k=k, metric=metric)
        got = float(candidate(random_features, random_labels, k=k, metric=metric))
        if not np.isclose(got, expected) and np.isclose(
            got, similarity.knn_accuracy(random_features, random_labels, k=1, metric=metric)
        ):
            raise AssertionError(f"with k={k} you used only the nearest neighbour: let the k nearest vote.")
        other = "cosine" if metric == "euclidean" else "euclidean"
        if not np.isclose(got, expected) and np.isclose(
            got, similarity.knn_accuracy(random_features, random_labels, k=k, metric=other)
        ):
            raise AssertionError(
                f"with metric={metric!r} you measured {other} distances: use the metric argument."
            )
        assert_close(
            got, expected, f"leave-one-out accuracy with k={k}, metric={metric!r} on random two-class data"
        )
    assert_close(accuracy, 6 / 8, "accuracy on two clusters with one odd label each")
    # The notebook passes items["category"]: a pandas Series of names whose index need not be 0..n-1.
    series_labels = pd.Series(np.where(random_labels == 1, "Coat", "Bag"), index=np.arange(100, 160))
    try:
        got = float(candidate(random_features, series_labels, k=5))
    except LearnerCodeFailed as failure:
        raise AssertionError(
            "the notebook calls it with a pandas Series of category names (items['category']), whose "
            "index is not 0..n-1: turn the labels into an array first (np.asarray). " + failure.message
        ) from None
    assert_close(
        got,
        similarity.knn_accuracy(random_features, series_labels.to_numpy(), k=5),
        "accuracy with the labels given as a pandas Series (as the notebook passes items['category'])",
    )


def _knn(features, labels, k=10, metric="cosine", leave_out=True, use_k=True, use_metric=True, share=True):
    distances = similarity.pairwise_distances(features, metric if use_metric else "euclidean")
    if leave_out:
        np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1)[:, : k if use_k else 1]
    labels = np.asarray(labels)
    hits = sum(
        Counter(labels[row]).most_common(1)[0][0] == label
        for row, label in zip(neighbours, labels, strict=True)
    )
    return hits / len(labels) if share else hits


def _knn_series_by_label(features, labels, k=10, metric="cosine"):
    """Indexes ``labels`` as given: fine for an array, a KeyError for a Series indexed 100..159."""
    distances = similarity.pairwise_distances(features, metric)
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]
    hits = [
        Counter(labels[j] for j in row).most_common(1)[0][0] == labels[i] for i, row in enumerate(neighbours)
    ]
    return float(np.mean(hits))


def _knn_with_bincount(features, labels, k=10, metric="cosine"):
    classes, codes = np.unique(labels, return_inverse=True)
    distances = cdist(features, features, metric)
    distances[np.diag_indices_from(distances)] = np.inf
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]
    votes = np.array([np.bincount(codes[row], minlength=len(classes)) for row in neighbours])
    return float(np.mean(votes.argmax(axis=1) == codes))


knn_accuracy = Exercise(
    "Visual kNN: leave-one-out category accuracy",
    test=_test_knn_accuracy,
    hints=(
        "For every item, find its k closest *other* items in feature space and let their labels vote; "
        "the accuracy is the share of items whose own label wins.",
        "The distance matrix from pairwise_distances, with the metric you were given; put +inf on "
        "the diagonal so an item is not "
        "its own neighbour; the k smallest per row (argsort) are the voters; count votes per class (e.g. "
        "with label codes from np.unique(..., return_inverse=True)) and compare the winner with each label.",
    ),
    reference=similarity.knn_accuracy,
    mistakes=[
        Mistake(
            "item votes for itself",
            lambda *a, **kw: _knn(*a, **kw, leave_out=False),
            "its own nearest neighbour",
        ),
        Mistake(
            "k ignored (1-NN)", lambda *a, **kw: _knn(*a, **kw, use_k=False), "only the nearest neighbour"
        ),
        Mistake(
            "metric ignored", lambda *a, **kw: _knn(*a, **kw, use_metric=False), "use the metric argument"
        ),
        Mistake(
            "count instead of share",
            lambda *a, **kw: _knn(*a, **kw, share=False),
            "divide by the number of items",
        ),
        Mistake("labels indexed as a Series", _knn_series_by_label, "a pandas Series of category names"),
    ],
    alternatives=[_knn, _knn_with_bincount],
)
