"""Interaction augmentation: new, plausible versions of a user's history.

Sequence augmentations from CL4SRec (Xie et al., 2022, "Contrastive Learning for Sequential
Recommendation", ICDE), for a chronological sequence ``s = [v_1, ..., v_n]``:

- **crop**: keep one random contiguous window of ``L_c = max(1, floor(eta * n))`` items;
- **mask**: replace ``L_m = floor(gamma * n)`` random positions by a mask id;
- **reorder**: shuffle one random contiguous window of ``L_r = floor(beta * n)`` items.

And for the user-item matrix, **history subsampling**: keep a random ``keep`` fraction of each
user's interactions (at least ``min_keep``), the matrix counterpart of crop -- a sparse user
seen through fewer clicks (in the spirit of the denoising input dropout of Mult-DAE, Liang et
al., 2018).

Item ids are never invented: every output item is either an item of the input (same user) or
the explicit ``mask_id``. All functions take ``rng`` (an ``int`` seed or a ``numpy`` Generator).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

SEQUENCE_AUGMENTATIONS = ("crop", "mask", "reorder")

Rng = int | np.random.Generator


def _check_sequence(sequence: Sequence[int] | np.ndarray) -> np.ndarray:
    """Return ``sequence`` as a 1-D int64 array, refusing empty, non-integer or n-D input."""
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise ValueError(f"a sequence must be 1-D (one user's items in time order), got shape {array.shape}")
    if len(array) == 0:
        raise ValueError("the sequence is empty: there is nothing to augment")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"item ids must be integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_ratio(ratio: float, name: str) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {ratio}")


def crop_sequence(sequence: Sequence[int] | np.ndarray, eta: float = 0.6, rng: Rng = 0) -> np.ndarray:
    """CL4SRec item crop: a random contiguous window of ``max(1, floor(eta * n))`` items."""
    items = _check_sequence(sequence)
    _check_ratio(eta, "eta")
    rng = np.random.default_rng(rng)
    length = max(1, int(np.floor(eta * len(items))))
    start = int(rng.integers(len(items) - length + 1))
    return items[start : start + length].copy()


def mask_sequence(
    sequence: Sequence[int] | np.ndarray, mask_id: int, gamma: float = 0.3, rng: Rng = 0
) -> np.ndarray:
    """CL4SRec item mask: ``floor(gamma * n)`` random positions become ``mask_id``.

    ``mask_id`` must not be a real item of the sequence: use one past the last catalogue id
    (``n_items``) for a model with a mask embedding, or the padding id (``-1`` for the course's
    SASRec, which then simply ignores those positions).
    """
    items = _check_sequence(sequence)
    _check_ratio(gamma, "gamma")
    if np.any(items == mask_id):
        raise ValueError(
            f"mask_id={mask_id} occurs in the sequence as a real item: pick an id outside the catalogue"
        )
    rng = np.random.default_rng(rng)
    masked = items.copy()
    positions = rng.choice(len(items), size=int(np.floor(gamma * len(items))), replace=False)
    masked[positions] = mask_id
    return masked


def reorder_sequence(sequence: Sequence[int] | np.ndarray, beta: float = 0.6, rng: Rng = 0) -> np.ndarray:
    """CL4SRec item reorder: shuffle a random contiguous window of ``floor(beta * n)`` items."""
    items = _check_sequence(sequence)
    _check_ratio(beta, "beta")
    rng = np.random.default_rng(rng)
    length = int(np.floor(beta * len(items)))
    start = int(rng.integers(len(items) - length + 1))
    reordered = items.copy()
    reordered[start : start + length] = rng.permutation(items[start : start + length])
    return reordered


def augment_sequences(
    sequences: Sequence[np.ndarray],
    methods: Sequence[str] = SEQUENCE_AUGMENTATIONS,
    mask_id: int = -1,
    eta: float = 0.6,
    gamma: float = 0.3,
    beta: float = 0.6,
    min_length: int = 2,
    rng: Rng = 0,
) -> list[np.ndarray]:
    """One augmented view per sequence, each with a method drawn uniformly from ``methods``.

    Sequences shorter than ``min_length`` are returned unchanged (a crop of one click says
    nothing new). The output list is aligned with the input: ``out[u]`` belongs to user ``u``.
    """
    if isinstance(methods, str):
        methods = [methods]
    unknown = [method for method in methods if method not in SEQUENCE_AUGMENTATIONS]
    if unknown or not methods:
        raise ValueError(f"unknown or no method(s) {list(methods)}: choose from {SEQUENCE_AUGMENTATIONS}")
    rng = np.random.default_rng(rng)
    views: list[np.ndarray] = []
    for sequence in sequences:
        items = np.asarray(sequence, dtype=np.int64)
        if len(items) < min_length:
            views.append(items.copy())
            continue
        method = methods[rng.integers(len(methods))]
        if method == "crop":
            views.append(crop_sequence(items, eta, rng))
        elif method == "mask":
            views.append(mask_sequence(items, mask_id, gamma, rng))
        else:
            views.append(reorder_sequence(items, beta, rng))
    return views


def subsample_history(
    matrix: sp.spmatrix, keep: float = 0.8, min_keep: int = 1, rng: Rng = 0
) -> sp.csr_matrix:
    """Keep ``max(min(min_keep, n_u), round(keep * n_u))`` random interactions of each user.

    ``matrix`` is a user-item CSR matrix ``(n_users, n_items)``; the result has the same shape
    and dtype, stores a subset of its entries (values unchanged), and no user who had an
    interaction is left without one when ``min_keep >= 1``.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"matrix must be a scipy.sparse matrix, got {type(matrix).__name__}")
    _check_ratio(keep, "keep")
    if min_keep < 0:
        raise ValueError(f"min_keep must be >= 0, got {min_keep}")
    matrix = sp.csr_matrix(matrix)
    matrix.sum_duplicates()
    rng = np.random.default_rng(rng)
    counts = np.diff(matrix.indptr)  # (n_users,) interactions per user
    rows = np.repeat(np.arange(matrix.shape[0]), counts)  # (nnz,) the user of each stored entry
    # Rank the entries of each user in a random order: sort by (user, random key).
    order = np.lexsort((rng.random(matrix.nnz), rows))
    rank_in_row = np.empty(matrix.nnz, dtype=np.int64)
    rank_in_row[order] = np.arange(matrix.nnz) - matrix.indptr[rows[order]]
    n_keep = np.maximum(np.minimum(min_keep, counts), np.rint(keep * counts).astype(np.int64))  # (n_users,)
    kept = rank_in_row < n_keep[rows]
    indptr = np.concatenate([[0], np.cumsum(n_keep)])  # kept entries stay in row order
    return sp.csr_matrix((matrix.data[kept], matrix.indices[kept], indptr), shape=matrix.shape)
