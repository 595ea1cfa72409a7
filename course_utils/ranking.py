"""Ranking primitives shared by every recommender, re-ranker and fusion: numpy only, no torch.

The course's tie rule: equal scores are ordered by item id (lowest first), so every top-k list is
deterministic. Importing this module (or ``rerank`` / ``score_fusion``) never loads torch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

Matrix = sp.spmatrix | sp.sparray


def top_k_items(scores: np.ndarray, k: int, exclude: Matrix | None = None) -> np.ndarray:
    """Item ids of the ``k`` highest scores per row, best first: ``(n_rows, k)`` int.

    ``exclude`` ``(n_rows, n_items)``: non-zero entries are never returned (e.g. items already
    seen). Equal scores are ordered by item id. Raises ``ValueError`` if a row has fewer than
    ``k`` items left after exclusion, or if scores contain NaN.
    """
    scores = np.array(scores, dtype=np.float64)  # a copy: excluded entries are overwritten
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 2-D (n_users, n_items) array, got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n_rows, n_items = scores.shape
    if k > n_items:
        raise ValueError(f"k={k} is larger than the catalog of {n_items} items")
    if exclude is not None:
        exclude = sp.csr_array(exclude)
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude has shape {exclude.shape} but scores have shape {scores.shape}")
        exclude.eliminate_zeros()
        remaining = n_items - np.diff(exclude.indptr)
        if (remaining < k).any():
            row = int(np.flatnonzero(remaining < k)[0])
            raise ValueError(
                f"row {row} has only {remaining[row]} items left after exclusion, fewer than k={k}"
            )
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf
    # keep every item above the k-th largest score, then the lowest ids among those tied with it
    kth_score = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth_score
    tied = scores == kth_score
    n_tied_needed = k - above.sum(axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= n_tied_needed))
    top = np.nonzero(keep)[1].reshape(n_rows, k)  # ascending item id within each row
    # the stable sort keeps equal scores in item-id order
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1).astype(np.int64)
