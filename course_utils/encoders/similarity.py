"""Similarity search in an embedding space: cosine neighbours, distance matrices, kNN accuracy.

What an encoder is good for is what is near what in its space. These functions measure it:
``nearest_neighbours`` (semantic / visual search), ``pairwise_distances`` (the full geometry)
and ``knn_accuracy`` (how often an item's neighbours share its label -- a standard probe of
representation quality, e.g. Wu et al., 2018; Caron et al., 2021).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from course_utils.ranking import unit_rows

Metric = Literal["cosine", "euclidean"]


def _as_matrix(values: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, dim) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return matrix


def cosine_similarity_matrix(queries: np.ndarray, corpus: np.ndarray | None = None) -> np.ndarray:
    """``S[i, j] = q_i . c_j / (||q_i|| ||c_j||)``, shape (n_queries, n_corpus).

    ``corpus`` defaults to ``queries`` (all pairs within one set).
    """
    queries = _as_matrix(queries, "queries")
    corpus = queries if corpus is None else _as_matrix(corpus, "corpus")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"queries have dim {queries.shape[1]} but the corpus has dim {corpus.shape[1]}")
    return unit_rows(queries, "queries") @ unit_rows(corpus, "corpus").T


def nearest_neighbours(
    queries: np.ndarray, corpus: np.ndarray, k: int, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` corpus rows most cosine-similar to each query, best first.

    Returns ``(indices, similarities)``, both (n_queries, k). With ``exclude_self=True`` the
    queries *are* the corpus (same rows, same order) and row ``i`` never returns item ``i``
    (leave-one-out search). Ties keep the lower corpus index first.
    """
    similarities = cosine_similarity_matrix(queries, corpus)  # (n_queries, n_corpus)
    if exclude_self:
        if similarities.shape[0] != similarities.shape[1]:
            raise ValueError("exclude_self=True needs the queries to be the corpus itself")
        np.fill_diagonal(similarities, -np.inf)
    available = similarities.shape[1] - int(exclude_self)
    if not 1 <= k <= available:
        raise ValueError(f"k={k} must be between 1 and the {available} candidates available")
    # Stable sort of the negated scores: best first, ties by index (argpartition would be faster
    # but not deterministic on ties; at course scale the full sort is milliseconds).
    indices = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return indices, np.take_along_axis(similarities, indices, axis=1)


def pairwise_distances(features: np.ndarray, metric: Metric = "euclidean") -> np.ndarray:
    """Distance between every pair of rows, (n, n), symmetric, zero diagonal.

    ``euclidean``: ``D[i, j] = sqrt(max(||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, 0))`` (the expansion
    that turns n^2 loops into one matrix product; clipping removes tiny negative round-off).
    ``cosine``: ``D[i, j] = 1 - cos(x_i, x_j)``, in [0, 2].
    """
    features = _as_matrix(features, "features")
    if metric == "euclidean":
        squared_norms = (features**2).sum(axis=1)
        squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * features @ features.T
        distances = np.sqrt(np.maximum(squared, 0.0))
    elif metric == "cosine":
        distances = 1.0 - cosine_similarity_matrix(features)
    else:
        raise ValueError(f"unknown metric {metric!r}: use 'euclidean' or 'cosine'")
    np.fill_diagonal(distances, 0.0)
    return distances


def knn_accuracy(features: np.ndarray, labels: Sequence, k: int = 10, metric: Metric = "cosine") -> float:
    """Leave-one-out k-nearest-neighbour accuracy: the share of items whose label wins the vote
    of their ``k`` nearest *other* items (Cover & Hart, 1967).

    Each neighbour has one vote; a tie goes to the smallest label in sorted order (as in
    scikit-learn's ``KNeighborsClassifier``). Chance level is the majority-class share.
    """
    labels = np.asarray(labels)
    distances = pairwise_distances(features, metric)  # validates features
    if labels.shape != (distances.shape[0],):
        raise ValueError(f"need one label per row: {distances.shape[0]} rows, labels of shape {labels.shape}")
    if not 1 <= k < len(labels):
        raise ValueError(f"k={k} must be between 1 and n_items - 1 = {len(labels) - 1}")
    classes, codes = np.unique(labels, return_inverse=True)
    np.fill_diagonal(distances, np.inf)  # an item is not its own neighbour
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]  # (n, k)
    votes = np.zeros((len(labels), len(classes)), dtype=np.int64)  # (n, n_classes)
    np.add.at(votes, (np.arange(len(labels))[:, None], codes[neighbours]), 1)
    return float((votes.argmax(axis=1) == codes).mean())
