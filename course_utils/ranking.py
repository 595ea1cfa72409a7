"""Ranking primitives shared by every recommender, re-ranker, fusion and metric: numpy only, no torch.

Read top to bottom:

* **checking inputs**: :func:`positive_int` (a list length ``k``, a window, ...) and
  :func:`as_scores`, the one validator of score arrays;
* **scaling**: :func:`unit_rows` (embeddings to unit length, so a dot product is a cosine) and
  :func:`minmax_normalize` (each row of scores to ``[0, 1]``);
* **choosing**: :func:`top_k_items` (the ``k`` best items of a score matrix),
  :func:`candidate_set` (the same, with their scores: the first stage of re-ranking) and
  :func:`keep_top` (the best of each user's own candidates: a cascade stage), both returning a
  :class:`Shortlist` of items with their scores.

Conventions: scores are ``(n_users, n_items)`` (or ``(n_items,)``), higher is better; ``-inf``
marks an excluded item (e.g. one already bought); NaN and ``+inf`` are errors. The course's tie
rule: equal scores are ordered by item id (by position within a candidate row), lowest first,
so every top-k list is deterministic. Importing this module (or ``rerank``, ``score_fusion``,
``simulation``) never loads torch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

Matrix = sp.spmatrix | sp.sparray


# --------------------------------------------------------------------------------------------
# Checking inputs
# --------------------------------------------------------------------------------------------


def positive_int(value: int, name: str = "k") -> int:
    """Return ``value`` as an ``int`` if it is a positive integer; ``ValueError`` naming ``name`` otherwise.

    Floats (``10.0``) and booleans (``True``) are refused: a list length is a count.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        kind = type(value).__name__
        raise ValueError(f"{name} must be a positive integer, got {value!r} ({kind}); pass e.g. {name}=10")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_scores(
    scores: np.ndarray, name: str = "scores", ndim: tuple[int, ...] = (1, 2), excluded_ok: bool = True
) -> np.ndarray:
    """Validate a score array and return it as float64 (a copy when the dtype changes).

    ``ndim`` lists the accepted numbers of dimensions (``(2,)`` for ``(n_users, n_items)`` only).
    Raises ``TypeError`` for non-real dtypes and ``ValueError`` for a wrong shape, an empty
    array, NaN, ``+inf``, or ``-inf`` when ``excluded_ok`` is False.
    """
    array = np.asarray(scores)
    if array.ndim not in ndim:
        shapes = " or ".join(
            {1: "1-D (n_items,)", 2: "2-D (n_users, n_items)"}.get(d, f"{d}-D") for d in ndim
        )
        raise ValueError(f"{name} must be {shapes}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): there is nothing to rank")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.issubdtype(
        array.dtype, np.complexfloating
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; mark excluded items with -inf instead")
    if np.isposinf(array).any():
        raise ValueError(f"{name} contains +inf; only -inf (an excluded item) is allowed")
    if not excluded_ok and np.isneginf(array).any():
        raise ValueError(f"{name} contains -inf; every entry must be a finite number here")
    return array


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------


def unit_rows(embeddings: np.ndarray, name: str = "embeddings") -> np.ndarray:
    """Embeddings ``(n_items, dim)`` scaled to unit length, ``e_i / |e_i|``, so a dot product is a cosine.

    An all-zero row has no direction, so its cosine is undefined: it raises ``ValueError``
    (naming the item) rather than silently counting as "unlike everything". Also raises for
    an empty or non-2-D array and for NaN/inf.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n_items, dim) array, got shape {embeddings.shape}")
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{name} contain NaN or inf")
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(
            f"item {int(np.flatnonzero(norms[:, 0] == 0)[0])} of {name} is all zero: an all-zero embedding "
            "has no direction, so its cosine is undefined; drop the item or give it a non-zero vector"
        )
    return embeddings / norms


def minmax_normalize(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """Min-max scale each row to ``[0, 1]``: ``(s - min) / (max - min)`` over the row's finite scores.

    ``scores`` ``(n_items,)`` or ``(n_users, n_items)``. Excluded items (``-inf``) stay ``-inf``
    and do not count towards the min and max; a row whose finite scores are all equal carries
    no ranking information and becomes all zeros; a row with no finite score raises.
    (Fox & Shaw 1994 use it to fuse scores, "CombSUM"; re-rankers use it so that one trade-off
    parameter means the same for every recommender's score scale.)
    """
    scores = as_scores(scores, name)
    finite = np.isfinite(scores)
    if finite.all():
        low, high = scores.min(axis=-1, keepdims=True), scores.max(axis=-1, keepdims=True)
    else:
        if not finite.any(axis=-1).all():
            raise ValueError(f"a row of {name} has no finite entry: every item is excluded")
        low = np.where(finite, scores, np.inf).min(axis=-1, keepdims=True)
        high = np.where(finite, scores, -np.inf).max(axis=-1, keepdims=True)
    span = high - low
    normalized = np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)
    normalized[~finite] = -np.inf
    return normalized


# --------------------------------------------------------------------------------------------
# Choosing the best items
# --------------------------------------------------------------------------------------------


def top_k_items(scores: np.ndarray, k: int, exclude: Matrix | None = None) -> np.ndarray:
    """Item ids of the ``k`` highest scores per row, best first: ``(n_rows, k)`` int.

    ``exclude`` ``(n_rows, n_items)``: non-zero entries are never returned (e.g. items already
    seen). Equal scores are ordered by item id. Raises ``ValueError`` if a row has fewer than
    ``k`` items left after exclusion, or if scores contain NaN or ``+inf``.
    """
    scores = np.array(as_scores(scores, ndim=(2,)))  # a copy: excluded entries are overwritten
    k = positive_int(k)
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


class Shortlist(NamedTuple):
    """Each user's kept items with the scores that ranked them, best first (unpacks as a pair).

    ``items`` ``(n_users, n)`` int item ids; ``scores`` ``(n_users, n)`` float, row-aligned.
    """

    items: np.ndarray
    scores: np.ndarray

    def subset(self, items: np.ndarray) -> Shortlist:
        """The given ``items`` ``(n_users, m)`` (each row a subset of ``self.items``) with their scores.

        For short lists (e.g. what a re-ranker kept of its ``M`` candidates): it compares every
        kept item with every candidate, ``O(n_users * m * M)``. Raises ``ValueError`` for an
        item that is not among its row's candidates.
        """
        items = np.asarray(items)
        if items.ndim != 2 or items.shape[0] != self.items.shape[0]:
            raise ValueError(f"items must be ({self.items.shape[0]}, m), got shape {items.shape}")
        match = items[:, :, None] == self.items[:, None, :]  # (n_users, m, M)
        found = match.any(axis=2)
        if not found.all():
            row, column = np.argwhere(~found)[0]
            raise ValueError(f"item {items[row, column]} of row {row} is not among that row's candidates")
        return Shortlist(
            items.astype(np.int64, copy=False), np.take_along_axis(self.scores, match.argmax(axis=2), 1)
        )


def candidate_set(scores: np.ndarray, k: int, exclude: Matrix | None = None) -> Shortlist:
    """The first stage of re-ranking: each user's ``k`` best items and their scores.

    ``scores`` ``(n_users, n_items)``; ``exclude`` (e.g. the training matrix rows of these
    users) removes already-seen items. Returns ``Shortlist(items (n_users, k), scores (n_users, k))``,
    best first, ties by item id (:func:`top_k_items`).
    """
    scores = as_scores(scores, ndim=(2,))
    items = top_k_items(scores, k, exclude)
    return Shortlist(items, np.take_along_axis(scores, items, axis=1))


def keep_top(candidates: np.ndarray, scores: np.ndarray, k: int) -> Shortlist:
    """In each row keep the ``k`` best-scored candidates, best first (ties by position in the row).

    ``candidates`` ``(n_users, n_in)`` item ids and ``scores`` ``(n_users, n_in)`` their scores
    (``-inf`` = must not be kept) -> ``Shortlist`` of ``(n_users, k)`` items and their scores.
    """
    candidates, scores = np.asarray(candidates), as_scores(scores, ndim=(2,))
    if candidates.shape != scores.shape:
        raise ValueError(
            f"candidates and scores must both be (n_users, n_candidates), "
            f"got {candidates.shape} and {scores.shape}"
        )
    k = positive_int(k)
    n_available = int(np.isfinite(scores).sum(axis=-1).min())
    if k > n_available:
        raise ValueError(
            f"cannot keep {k} candidates: a row has only {n_available} that are not excluded (-inf)"
        )
    best = top_k_items(scores, k)  # (n_users, k) positions within each candidate row
    return Shortlist(np.take_along_axis(candidates, best, axis=1), np.take_along_axis(scores, best, axis=1))
