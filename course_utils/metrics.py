"""Accuracy and beyond-accuracy metrics for top-K recommendation lists.

Conventions used by every function in this module
-------------------------------------------------
* ``recommendations``: an integer array of shape ``(n_users, K)``; row ``u`` holds the item ids
  recommended to user ``u``, **best first**, with no repeats.
* ``ground_truth``: the held-out relevant items, a binary ``scipy.sparse`` CSR matrix of shape
  ``(n_users, n_items)`` (any non-zero counts as relevant). A list of sets of item ids is
  accepted too. Row ``u`` of the ground truth belongs to row ``u`` of ``recommendations``.
* ``k``: evaluate the first ``k`` items of each list (default: all ``K``).
* **Per-user metrics** (precision, recall, NDCG, ILD, novelty, ...) return a float array of
  shape ``(n_users,)``; average it yourself or use :func:`evaluate_lists`. Accuracy metrics are
  undefined for a user without relevant items: those users get ``NaN`` and
  :func:`evaluate_lists` averages over the others (``np.nanmean``).
* **Catalog-level metrics** (coverage, Gini, entropy) return one ``float``.
* Logarithms are base 2 (bits) except calibration KL, which follows Steck (2018) in nats.

Where libraries disagree, the choice made here is stated in the docstring, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from course_utils.ranking import as_scores, positive_int, unit_rows

GroundTruth = sp.spmatrix | sp.sparray | Iterable[Iterable[int]]


# --------------------------------------------------------------------------------------------
# Input checking (shared by every metric)
# --------------------------------------------------------------------------------------------


def check_recommendations(
    recommendations: np.ndarray, n_items: int | None = None, name: str = "recommendations"
) -> np.ndarray:
    """Validate a ``(n_users, K)`` integer array of ranked item ids and return it as ``int64``.

    Raises ``ValueError`` for a wrong shape, an empty array, a non-integer dtype, ids outside
    ``[0, n_items)`` or an item repeated within one user's list. ``name`` is the argument named
    in the messages (the re-rankers check their ``candidates`` with it).
    """
    recommendations = np.asarray(recommendations)
    if recommendations.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_users, K) array of item ids, got shape {recommendations.shape}"
        )
    if recommendations.shape[0] == 0 or recommendations.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {recommendations.shape})")
    if not np.issubdtype(recommendations.dtype, np.integer):
        raise ValueError(f"{name} must hold integer item ids, got dtype {recommendations.dtype}")
    if recommendations.min() < 0:
        raise ValueError(f"negative item id {recommendations.min()} in {name}")
    if n_items is not None and recommendations.max() >= n_items:
        raise ValueError(
            f"item id {recommendations.max()} in {name} is out of range for {n_items} items "
            f"(ids must lie in [0, {n_items}))"
        )
    ordered = np.sort(recommendations, axis=1)
    repeated_rows = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
    if repeated_rows.size:
        raise ValueError(f"user row {repeated_rows[0]} of {name} lists the same item twice")
    return recommendations.astype(np.int64, copy=False)


def _check_k(k: int | None, list_length: int) -> int:
    if k is None:
        return list_length
    k = positive_int(k)
    if k > list_length:
        raise ValueError(f"k={k} is larger than the {list_length} recommendations per user")
    return int(k)


def as_relevance_matrix(ground_truth: GroundTruth, n_users: int, n_items: int | None = None) -> sp.csr_array:
    """Return the ground truth as a binary CSR array ``(n_users, n_items)``.

    Accepts a scipy sparse matrix/array (non-zeros are relevant) or a list of sets of item ids
    (then ``n_items`` is required). Raises ``ValueError`` on a row count that does not match.
    """
    if sp.issparse(ground_truth):
        relevance = sp.csr_array(ground_truth, dtype=np.float64, copy=True)
        if n_items is not None and relevance.shape[1] != n_items:
            raise ValueError(f"ground truth has {relevance.shape[1]} item columns, expected {n_items}")
        if relevance.data.size and np.isnan(relevance.data).any():
            raise ValueError("ground truth contains NaN")
        relevance.data = (relevance.data != 0).astype(np.float64)
        relevance.eliminate_zeros()
    else:
        sets = [np.fromiter(items, dtype=np.int64) for items in ground_truth]
        if n_items is None:
            raise ValueError("n_items is required when the ground truth is given as a list of sets")
        lengths = np.array([len(items) for items in sets], dtype=np.int64)
        columns = np.concatenate(sets) if sets else np.zeros(0, dtype=np.int64)
        if columns.size and (columns.min() < 0 or columns.max() >= n_items):
            raise ValueError(f"ground-truth item id out of range for {n_items} items")
        rows = np.repeat(np.arange(len(sets)), lengths)
        relevance = sp.csr_array((np.ones(columns.size), (rows, columns)), shape=(len(sets), n_items))
        relevance.data[:] = 1.0  # duplicates were summed; relevance is binary
    if relevance.shape[0] != n_users:
        raise ValueError(
            f"ground truth has {relevance.shape[0]} user rows but recommendations have {n_users}"
        )
    return relevance


def _relevance_for(recommendations: np.ndarray, ground_truth: GroundTruth) -> sp.csr_array:
    """The ground truth as CSR with one row per list; ``n_items`` inferred for a list of sets."""
    n_items = None
    if not sp.issparse(ground_truth):
        ground_truth = [set(items) for items in ground_truth]
        largest_relevant = max((max(items) for items in ground_truth if items), default=-1)
        n_items = int(max(recommendations.max(), largest_relevant)) + 1
    relevance = as_relevance_matrix(ground_truth, recommendations.shape[0], n_items)
    if recommendations.max() >= relevance.shape[1]:
        raise ValueError(
            f"item id {recommendations.max()} in recommendations is out of range "
            f"for {relevance.shape[1]} items"
        )
    return relevance


def _hits(recommendations: np.ndarray, relevance: sp.csr_array, k: int) -> np.ndarray:
    n_users, n_items = relevance.shape
    # One integer key per (user, item) pair makes the lookup a single vectorised np.isin.
    relevant_keys = (
        np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevance.indptr)) * n_items + relevance.indices
    )
    recommended_keys = (
        np.arange(n_users, dtype=np.int64)[:, None] * n_items + recommendations[:, :k]
    )  # (n_users, k)
    return np.isin(recommended_keys, relevant_keys)


def hit_matrix(recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None) -> np.ndarray:
    """Boolean ``(n_users, k)``: ``hits[u, r]`` is True when the item at rank ``r`` is relevant to ``u``.

    Every accuracy metric below is a function of this matrix and of the number of relevant items.
    """
    recommendations = check_recommendations(recommendations)
    k = _check_k(k, recommendations.shape[1])
    return _hits(recommendations, _relevance_for(recommendations, ground_truth), k)


def _accuracy_inputs(
    recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated ``(hits (n_users, k), n_relevant (n_users,), k)``."""
    recommendations = check_recommendations(recommendations)
    k = _check_k(k, recommendations.shape[1])
    relevance = _relevance_for(recommendations, ground_truth)
    return _hits(recommendations, relevance, k), np.diff(relevance.indptr).astype(np.float64), k


def _undefined_without_relevant(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return np.where(n_relevant > 0, values, np.nan)


# --------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------


def precision_at_k(
    recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None
) -> np.ndarray:
    """Precision@K per user: ``|L_u[:K] ∩ R_u| / K``.

    The denominator is always ``K`` (not the list length actually filled), as in
    Herlocker et al. (2004). ``NaN`` for users with no relevant item.
    """
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    return _undefined_without_relevant(hits.sum(axis=1) / k, n_relevant)


def recall_at_k(
    recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None, capped: bool = False
) -> np.ndarray:
    """Recall@K per user: ``|L_u[:K] ∩ R_u| / |R_u|``.

    Convention: the denominator is ``|R_u|`` (the textbook definition, also Microsoft
    Recommenders). With ``capped=True`` it is ``min(K, |R_u|)`` as in Liang et al. (2018,
    Mult-VAE), so a perfect list scores 1 even when a user has more than ``K`` relevant items.
    ``NaN`` for users with no relevant item.
    """
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    denominator = np.minimum(n_relevant, k) if capped else n_relevant
    return _undefined_without_relevant(hits.sum(axis=1) / np.maximum(denominator, 1), n_relevant)


def hit_rate_at_k(recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None) -> np.ndarray:
    """HR@K per user: 1 if at least one of the top ``K`` items is relevant, else 0.

    ``NaN`` for users with no relevant item.
    """
    hits, n_relevant, _ = _accuracy_inputs(recommendations, ground_truth, k)
    return _undefined_without_relevant(hits.any(axis=1).astype(np.float64), n_relevant)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))  # rank r (1-based) is discounted by 1 / log2(r + 1)


def ndcg_at_k(recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None) -> np.ndarray:
    """NDCG@K per user with binary gains (Järvelin & Kekäläinen, 2002).

    ``DCG = sum_{r=1..K} rel_r / log2(r + 1)`` and ``NDCG = DCG / IDCG`` where the ideal list
    puts ``min(K, |R_u|)`` relevant items first. Log base 2 and linear (binary) gains, the
    most common convention; with binary relevance the ``2^rel - 1`` gain is identical.
    ``NaN`` for users with no relevant item.
    """
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    discounts = _discounts(k)
    dcg = hits @ discounts
    ideal_cumulative = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_cumulative[np.minimum(n_relevant, k).astype(np.int64)]
    return _undefined_without_relevant(dcg / np.maximum(idcg, 1e-12), n_relevant)


def average_precision_at_k(
    recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None
) -> np.ndarray:
    """AP@K per user; its mean over users is MAP@K.

    ``AP@K = sum_{r=1..K} P@r * rel_r / min(K, |R_u|)``. Convention: the denominator is
    ``min(K, |R_u|)`` (as in the widely used ``ml_metrics.apk``) so that a perfect list scores 1;
    dividing by ``|R_u|`` instead would penalise users with more than ``K`` relevant items for
    something no K-list can fix. ``NaN`` for users with no relevant item.
    """
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)  # (n_users, k)
    summed = (precision_at_rank * hits).sum(axis=1)
    return _undefined_without_relevant(summed / np.maximum(np.minimum(n_relevant, k), 1), n_relevant)


def reciprocal_rank_at_k(
    recommendations: np.ndarray, ground_truth: GroundTruth, k: int | None = None
) -> np.ndarray:
    """RR@K per user (mean over users = MRR@K): ``1 / rank`` of the first relevant item, 0 if none in top K.

    ``NaN`` for users with no relevant item (Voorhees, 1999).
    """
    hits, n_relevant, _ = _accuracy_inputs(recommendations, ground_truth, k)
    first_hit = hits.argmax(axis=1)
    values = np.where(hits.any(axis=1), 1.0 / (first_hit + 1), 0.0)
    return _undefined_without_relevant(values, n_relevant)


def auc(scores: np.ndarray, ground_truth: GroundTruth, exclude: GroundTruth | None = None) -> np.ndarray:
    """Per-user ROC AUC of full score rows: the probability that a relevant item outscores an irrelevant one.

    ``AUC_u = (1 / (|R_u| |N_u|)) * sum_{i in R_u, j in N_u} [s_i > s_j] + 0.5 [s_i = s_j]``
    (Mann-Whitney form, Hanley & McNeil 1982; the per-user AUC of Rendle et al. 2009), computed
    from average ranks. ``exclude`` (e.g. the training matrix) removes items from both sets.
    ``NaN`` for users with no relevant or no irrelevant candidate.

    This is what a ranking "accuracy" means: thresholding scores at 0.5 and averaging
    (``(pred > 0.5).mean()``) measures neither ranking quality nor accuracy on implicit data.
    """
    scores = as_scores(scores, ndim=(2,))
    n_users, n_items = scores.shape
    relevant = as_relevance_matrix(ground_truth, n_users, n_items).toarray() > 0  # (n_users, n_items)
    candidates = np.ones_like(relevant)
    if exclude is not None:
        candidates &= ~(as_relevance_matrix(exclude, n_users, n_items).toarray() > 0)
    relevant &= candidates
    ranks = rankdata(np.where(candidates, scores, np.nan), method="average", axis=1, nan_policy="omit")
    n_pos = relevant.sum(axis=1).astype(np.float64)
    n_neg = candidates.sum(axis=1) - n_pos
    rank_sum = np.where(relevant, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), values, np.nan)


# --------------------------------------------------------------------------------------------
# Item distances: the "space" in which diversity is measured
# --------------------------------------------------------------------------------------------


class ItemDistance(Protocol):
    """A distance between items: ``distance(left, right)`` with ``left (..., A)`` and ``right (..., B)``
    item-id arrays sharing leading dimensions returns distances of shape ``(..., A, B)``."""

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray: ...


class CosineDistance:
    """``d(i, j) = 1 - cos(e_i, e_j)`` on item embeddings ``(n_items, dim)`` (text, image, ...).

    Values lie in ``[0, 2]``; with non-negative features (counts, one-hot) in ``[0, 1]``.
    """

    def __init__(self, embeddings: np.ndarray):
        self.unit = unit_rows(embeddings)  # (n_items, dim)
        self.n_items = self.unit.shape[0]

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        similarity = np.einsum("...ad,...bd->...ab", self.unit[left], self.unit[right])
        return np.clip(1.0 - similarity, 0.0, 2.0)


class JaccardDistance:
    """``d(i, j) = 1 - |A_i ∩ A_j| / |A_i ∪ A_j|`` on binary item features ``(n_items, n_features)``
    (genres, one-hot attributes). Two items with no features at all are at distance 0."""

    def __init__(self, features: np.ndarray):
        features = sp.csr_array(features).toarray() if sp.issparse(features) else np.asarray(features)
        if features.ndim != 2 or features.shape[0] == 0:
            raise ValueError(
                f"features must be a non-empty (n_items, n_features) array, got shape {features.shape}"
            )
        if not np.isin(features, (0, 1)).all():
            raise ValueError("Jaccard distance needs binary (0/1) features: one-hot encode attributes first")
        self.features = features.astype(np.float64)  # (n_items, n_features)
        self.n_items = features.shape[0]

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        a, b = self.features[left], self.features[right]  # (..., A, F), (..., B, F)
        intersection = np.einsum("...af,...bf->...ab", a, b)
        union = a.sum(-1)[..., :, None] + b.sum(-1)[..., None, :] - intersection
        return np.where(union > 0, 1.0 - intersection / np.maximum(union, 1), 0.0)


class CooccurrenceDistance(CosineDistance):
    """Interaction ("collaborative") distance: cosine distance between the item *columns* of a
    user-item matrix ``(n_users, n_items)``; items bought by the same users are close
    (the item-item similarity of Sarwar et al. 2001). Items nobody interacted with are at
    distance 1 from every other item."""

    def __init__(self, interactions: sp.spmatrix | sp.sparray | np.ndarray):
        columns = sp.csc_array(interactions, dtype=np.float64)
        if columns.shape[1] == 0 or columns.shape[0] == 0:
            raise ValueError(
                f"interactions must be a non-empty (n_users, n_items) matrix, got shape {columns.shape}"
            )
        item_vectors = columns.T.toarray()  # (n_items, n_users)
        norms = np.linalg.norm(item_vectors, axis=1, keepdims=True)
        self.unit = np.divide(item_vectors, norms, out=np.zeros_like(item_vectors), where=norms > 0)
        self.n_items = item_vectors.shape[0]


# --------------------------------------------------------------------------------------------
# Beyond accuracy: diversity, coverage, novelty, serendipity, concentration, calibration
# --------------------------------------------------------------------------------------------


def intra_list_diversity(
    recommendations: np.ndarray, distance: ItemDistance, k: int | None = None
) -> np.ndarray:
    """ILD@K per user: the mean pairwise distance between the top ``K`` items.

    ``ILD(L) = 2 / (K (K - 1)) * sum_{i < j} d(L_i, L_j)`` (Smyth & McClave 2001;
    Ziegler et al. 2005). Needs ``K >= 2``. The value depends on the distance: cosine on text
    or image embeddings, Jaccard on attributes, or co-occurrence in the interaction data.
    """
    recommendations = check_recommendations(recommendations, getattr(distance, "n_items", None))
    k = _check_k(k, recommendations.shape[1])
    if k < 2:
        raise ValueError("intra-list diversity needs at least 2 items per list (k >= 2)")
    top = recommendations[:, :k]
    upper = np.triu_indices(k, 1)
    values = np.empty(top.shape[0])
    for start in range(0, top.shape[0], 1024):  # bounded memory: (1024, k, k) distances at a time
        block = top[start : start + 1024]
        values[start : start + 1024] = distance(block, block)[:, upper[0], upper[1]].mean(axis=1)
    return values


def item_exposure(recommendations: np.ndarray, n_items: int, k: int | None = None) -> np.ndarray:
    """How many lists each item appears in: an int array ``(n_items,)`` (zeros included)."""
    recommendations = check_recommendations(recommendations, n_items)
    k = _check_k(k, recommendations.shape[1])
    return np.bincount(recommendations[:, :k].ravel(), minlength=n_items)


def user_exposure(recommendations: np.ndarray, n_items: int, k: int | None = None) -> sp.csr_array:
    """Which items are in each user's top ``k``: a 0/1 sparse array ``(n_users, n_items)``.

    Its column sums are :func:`item_exposure`; summed over several rounds of lists it counts how
    often each user was shown each item.
    """
    recommendations = check_recommendations(recommendations, n_items)
    top = recommendations[:, : _check_k(k, recommendations.shape[1])]
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    return sp.csr_array((np.ones(top.size), (rows, top.ravel())), shape=(top.shape[0], n_items))


def catalog_coverage(recommendations: np.ndarray, n_items: int, k: int | None = None) -> float:
    """Share of the catalog recommended to at least one user: ``|∪_u L_u[:K]| / n_items`` (Ge et al. 2010)."""
    return float(exposure_coverage(item_exposure(recommendations, n_items, k)))


def exposure_coverage(exposure: np.ndarray) -> float | np.ndarray:
    """Share of items exposed at least once, ``|{i : x_i > 0}| / n_items``, along the last axis.

    ``exposure`` ``(n_items,)`` gives a ``float``; ``(..., n_items)`` (e.g. one exposure vector per
    bootstrap resample) one coverage per row, an array.
    """
    exposure = np.asarray(exposure)
    if exposure.ndim == 0 or exposure.shape[-1] == 0:
        raise ValueError(f"exposure needs an item axis (last), got shape {exposure.shape}")
    coverage = (exposure > 0).mean(axis=-1)
    return float(coverage) if exposure.ndim == 1 else coverage


def _check_counts(counts: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Finite non-negative counts as float64: 1-D when ``axis`` is None; every total must be positive."""
    counts = np.asarray(counts, dtype=np.float64)
    if (counts.ndim != 1 if axis is None else counts.ndim == 0) or counts.size == 0:
        raise ValueError(
            f"counts must be a non-empty 1-D array (one value per item), got shape {counts.shape}"
            if axis is None
            else f"counts must be a non-empty array with an axis {axis}, got shape {counts.shape}"
        )
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("counts must be finite non-negative numbers (no NaN, no inf)")
    totals = counts.sum(axis=axis)
    if (totals == 0).any():
        where = "" if axis is None else f" in slice {np.argwhere(totals == 0)[0].tolist()} along axis {axis}"
        raise ValueError(f"counts are all zero{where}: nothing was exposed")
    return counts


def gini_index(counts: np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Gini index of a non-negative distribution over items (e.g. :func:`item_exposure`).

    ``G = sum_{i=1..n} (2i - n - 1) x_(i) / (n * sum_i x_i)`` with ``x`` sorted ascending and
    ``n`` the number of items **including those never exposed**. 0: every item equally
    exposed; ``1 - 1/n``: everything on one item. Convention: divide by ``n`` (not ``n - 1``)
    so that ``G`` equals twice the area between the Lorenz curve and the diagonal, the picture
    drawn by ``plots.lorenz_curve`` (same as RecBole's GiniIndex; Fleder & Hosanagar 2009).
    With ``axis=None`` ``counts`` is 1-D and the result a ``float``; with an ``axis`` (e.g. ``-1``
    for one exposure vector per bootstrap resample) one Gini index per slice, an array.
    """
    counts = _check_counts(counts, axis)
    counts = np.sort(counts if axis is None else np.moveaxis(counts, axis, -1), axis=-1)
    n = counts.shape[-1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    gini = counts @ weights / (n * counts.sum(axis=-1))
    return float(gini) if axis is None else gini


def shannon_entropy(
    counts: np.ndarray, normalized: bool = False, axis: int | None = None
) -> float | np.ndarray:
    """Shannon entropy in bits of ``p_i = x_i / sum x``: ``H = -sum p_i log2 p_i`` (with ``0 log 0 = 0``).

    Ranges from 0 (one item) to ``log2(n)`` (uniform over ``n`` values); ``normalized=True``
    divides by ``log2(n)`` to give a value in ``[0, 1]`` (Shannon 1948; used for aggregate
    diversity e.g. by Adomavicius & Kwon 2012). With ``axis=None``, ``counts`` is 1-D (e.g.
    :func:`item_exposure`) and the result a ``float``; with an ``axis`` (e.g. ``axis=1`` for
    category counts per user ``(n_users, n_categories)``) one entropy per slice, an array.
    Every distribution needs a positive total.
    """
    counts = _check_counts(counts, axis)
    p = counts / counts.sum(axis=axis, keepdims=axis is not None)
    entropy = -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=axis)
    if normalized:
        n = counts.size if axis is None else counts.shape[axis]
        entropy = entropy / np.log2(n) if n > 1 else np.zeros_like(entropy)
    return float(entropy) if axis is None else entropy


def head_items(interactions: sp.spmatrix | sp.sparray, head_share: float = 0.8) -> np.ndarray:
    """Boolean ``(n_items,)``: the head, the fewest most-clicked items holding ``head_share`` of the clicks.

    Items sorted by clicks (descending, ties by id); the head is the shortest prefix whose clicks
    reach ``head_share`` of all clicks. Every other item is in the *tail* (the 80/20 split of
    Abdollahpouri et al. 2017, "Controlling popularity bias in learning-to-rank recommendation").
    """
    if not 0 < head_share < 1:
        raise ValueError(f"head_share must lie in (0, 1), e.g. 0.8, got {head_share}")
    clicks = np.asarray(sp.csc_array(interactions).sum(axis=0)).ravel()
    if clicks.sum() <= 0:
        raise ValueError("interactions has no clicks: the head is undefined")
    order = np.argsort(-clicks, kind="stable")
    cumulative = np.cumsum(clicks[order]) / clicks.sum()
    n_head = int(np.searchsorted(cumulative, head_share - 1e-12)) + 1
    head = np.zeros(clicks.size, dtype=bool)
    head[order[:n_head]] = True
    return head


def tail_share(recommendations: np.ndarray, head: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per user, the share of the top-``k`` slots given to tail items (not in ``head``): ``(n_users,)``."""
    head = np.asarray(head, dtype=bool)
    recommendations = check_recommendations(recommendations, head.size)
    k = _check_k(k, recommendations.shape[1])
    return (~head)[recommendations[:, :k]].mean(axis=1)


def category_entropy(recommendations: np.ndarray, categories: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per user, the entropy in bits of the category mix of the top-``k`` list: ``(n_users,)``.

    ``categories`` ``(n_items, n_categories)``, non-negative (one-hot, or genres weighted so each
    item counts once). ``c = sum_{i in L[:k]} categories[i]``, ``p = c / sum c``,
    ``H = -sum p log2 p`` (:func:`shannon_entropy` per row: 0 for one category, ``log2 k`` for
    ``k`` different ones).
    """
    categories = np.asarray(categories, dtype=np.float64)
    if categories.ndim != 2:
        raise ValueError(
            f"categories must be (n_items, n_categories), e.g. one-hot; got shape {categories.shape}"
        )
    recommendations = check_recommendations(recommendations, categories.shape[0])
    k = _check_k(k, recommendations.shape[1])
    counts = categories[recommendations[:, :k]].sum(axis=1)  # (n_users, n_categories)
    if (counts.sum(axis=1) <= 0).any():
        raise ValueError("an item without a category makes a list's category mix undefined")
    return shannon_entropy(counts, axis=1)


def item_popularity(interactions: sp.spmatrix | sp.sparray | np.ndarray) -> np.ndarray:
    """Share of users who interacted with each item, ``p(i) = |{u : x_ui > 0}| / n_users``: ``(n_items,)``."""
    matrix = sp.csc_array(interactions)
    if matrix.shape[0] == 0:
        raise ValueError("interactions has no users")
    return np.diff((matrix != 0).astype(np.int8).tocsc().indptr) / matrix.shape[0]


def novelty(
    recommendations: np.ndarray, interactions: sp.spmatrix | sp.sparray | np.ndarray, k: int | None = None
) -> np.ndarray:
    """Mean self-information of the recommended items, in bits, per user.

    ``novelty(L) = (1/K) sum_{i in L} -log2 p(i)`` with ``p(i)`` the share of training users who
    interacted with ``i`` (Zhou et al. 2010; Castells & Vargas 2011). Items nobody interacted
    with are counted as seen by one user, so the value stays finite (at most ``log2 n_users``).
    """
    matrix = sp.csc_array(interactions)
    recommendations = check_recommendations(recommendations, matrix.shape[1])
    k = _check_k(k, recommendations.shape[1])
    popularity = np.maximum(item_popularity(matrix), 1.0 / matrix.shape[0])
    return (-np.log2(popularity))[recommendations[:, :k]].mean(axis=1)


def unexpectedness(
    recommendations: np.ndarray,
    history: sp.spmatrix | sp.sparray,
    distance: ItemDistance,
    k: int | None = None,
) -> np.ndarray:
    """How far the list lies from what the user already knows, per user.

    ``unexp(L, H_u) = (1/K) sum_{i in L} (1/|H_u|) sum_{j in H_u} d(i, j)``: the mean distance
    from each recommended item to the items in the user's history (Kaminskas & Bridge 2016).
    ``NaN`` for users with an empty history.
    """
    n_items = getattr(distance, "n_items", None)
    recommendations = check_recommendations(recommendations, n_items)
    k = _check_k(k, recommendations.shape[1])
    history = sp.csr_array(history)
    if history.shape[0] != recommendations.shape[0]:
        raise ValueError(
            f"history has {history.shape[0]} rows but recommendations have {recommendations.shape[0]}"
        )
    history.eliminate_zeros()
    if n_items is not None and history.indices.size and history.indices.max() >= n_items:
        raise ValueError(
            f"history holds item id {history.indices.max()} but the distance knows only {n_items} items: "
            "build the history and the distance over the same catalog"
        )
    values = np.full(recommendations.shape[0], np.nan)
    for user in range(recommendations.shape[0]):
        known = history.indices[history.indptr[user] : history.indptr[user + 1]]
        if known.size:
            values[user] = distance(recommendations[user, :k], known).mean()
    return values


def serendipity(
    recommendations: np.ndarray,
    ground_truth: GroundTruth,
    primitive_recommendations: np.ndarray,
    k: int | None = None,
) -> np.ndarray:
    """Share of the list that is both relevant and *unexpected*, per user (Ge et al. 2010).

    ``SRDP(L_u) = |{i in L_u[:K] : i relevant, i not in PM_u}| / K`` where ``PM_u`` is what an
    obvious "primitive" recommender (usually popularity) shows the same user. ``NaN`` for users
    with no relevant item.
    """
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    recommendations = check_recommendations(recommendations)
    primitive = check_recommendations(primitive_recommendations)
    if primitive.shape[0] != recommendations.shape[0]:
        raise ValueError("primitive_recommendations must have one row per user, like recommendations")
    obvious = hit_matrix(recommendations, [set(row) for row in primitive], k)
    return _undefined_without_relevant((hits & ~obvious).sum(axis=1) / k, n_relevant)


def _check_item_categories(item_categories: np.ndarray) -> np.ndarray:
    """``(n_items, n_categories)`` finite non-negative weights (1 = member) as float64."""
    weights = np.asarray(item_categories, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] == 0:
        raise ValueError(
            f"item_categories must be a non-empty (n_items, n_categories) array, got {weights.shape}"
        )
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("item_categories must be finite and non-negative (no NaN, no inf)")
    return weights


def _category_distribution(item_categories: np.ndarray) -> np.ndarray:
    weights = _check_item_categories(item_categories)
    totals = weights.sum(axis=1, keepdims=True)
    if (totals == 0).any():
        raise ValueError(f"item {int(np.flatnonzero(totals[:, 0] == 0)[0])} belongs to no category")
    return weights / totals  # p(c | i), rows sum to 1


def user_category_distribution(history: sp.spmatrix | sp.sparray, item_categories: np.ndarray) -> np.ndarray:
    """``p(c | u)``: the category mix of each user's history, ``(n_users, n_categories)``.

    ``p(c | u) = sum_{i in H_u} p(c | i) / |H_u|`` with ``p(c | i)`` uniform over an item's
    categories (Steck 2018). Rows of users with an empty history are all zero.
    """
    p_category_given_item = _category_distribution(item_categories)
    history = sp.csr_array(history, dtype=np.float64)
    if history.shape[1] != p_category_given_item.shape[0]:
        raise ValueError(
            f"history has {history.shape[1]} items but item_categories has {p_category_given_item.shape[0]}"
        )
    history.data[:] = 1.0
    counts = np.maximum(np.diff(history.indptr), 1)[:, None]
    return np.asarray(history @ p_category_given_item) / counts


def calibration_kl(
    recommendations: np.ndarray,
    history: sp.spmatrix | sp.sparray,
    item_categories: np.ndarray,
    k: int | None = None,
    alpha: float = 0.01,
) -> np.ndarray:
    """Miscalibration of each list, ``KL(p || q~)`` in nats (Steck 2018), per user.

    ``p(c|u)`` is the category mix of the user's history, ``q(c|u)`` that of the list (items
    weighted equally), and ``q~ = (1 - alpha) q + alpha p`` keeps the KL finite.
    ``KL = sum_c p(c|u) log(p(c|u) / q~(c|u))``; 0 means perfectly calibrated. Natural log as in
    the paper. ``NaN`` for users with an empty history.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p_category_given_item = _category_distribution(item_categories)
    recommendations = check_recommendations(recommendations, p_category_given_item.shape[0])
    k = _check_k(k, recommendations.shape[1])
    history = sp.csr_array(history)
    if history.shape[0] != recommendations.shape[0]:
        raise ValueError(
            f"history has {history.shape[0]} rows but recommendations have {recommendations.shape[0]}"
        )
    p = user_category_distribution(history, item_categories)  # (n_users, n_categories)
    q = p_category_given_item[recommendations[:, :k]].mean(axis=1)  # (n_users, n_categories)
    q_smoothed = (1 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q_smoothed), 0.0)
    return np.where(np.diff(history.indptr) > 0, terms.sum(axis=1), np.nan)


def alpha_ndcg_at_k(
    recommendations: np.ndarray,
    ground_truth: GroundTruth,
    item_categories: np.ndarray,
    k: int | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """alpha-nDCG@K per user (Clarke et al. 2008): NDCG that rewards covering new aspects.

    Aspects are item categories (genres). The gain of the relevant item at rank ``r`` is
    ``sum_a J(i, a) (1 - alpha)^{c_a}``, with ``J(i, a) = 1`` when ``i`` is relevant and has
    aspect ``a`` and ``c_a`` the number of relevant items with aspect ``a`` ranked above;
    discount ``1 / log2(r + 1)``. The ideal DCG is computed with the standard greedy
    approximation over the user's relevant items (exact ideal ordering is NP-hard).
    ``NaN`` for users with no relevant item.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    aspects = _check_item_categories(item_categories) > 0  # (n_items, n_aspects)
    recommendations = check_recommendations(recommendations, aspects.shape[0])
    hits, n_relevant, k = _accuracy_inputs(recommendations, ground_truth, k)
    discounts = _discounts(k)
    judged = hits[:, :, None] & aspects[recommendations[:, :k]]  # (n_users, k, n_aspects)
    seen_before = np.cumsum(judged, axis=1) - judged
    dcg = (((1 - alpha) ** seen_before * judged).sum(axis=2)) @ discounts

    relevance = as_relevance_matrix(ground_truth, recommendations.shape[0], aspects.shape[0])
    idcg = np.zeros(recommendations.shape[0])
    for user in np.flatnonzero(n_relevant):
        candidate_aspects = aspects[
            relevance.indices[relevance.indptr[user] : relevance.indptr[user + 1]]
        ].astype(float)
        seen = np.zeros(aspects.shape[1])
        available = np.ones(len(candidate_aspects), dtype=bool)
        for rank in range(min(k, len(candidate_aspects))):
            gains = np.where(available, candidate_aspects @ (1 - alpha) ** seen, -np.inf)
            best = int(np.argmax(gains))
            idcg[user] += gains[best] * discounts[rank]
            seen += candidate_aspects[best]
            available[best] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(idcg > 0, dcg / idcg, 0.0)
    return _undefined_without_relevant(values, n_relevant)


# --------------------------------------------------------------------------------------------
# One call for a results table
# --------------------------------------------------------------------------------------------


def evaluate_lists(
    recommendations: np.ndarray,
    ground_truth: GroundTruth,
    train: sp.spmatrix | sp.sparray,
    k: int | None = None,
    distances: dict[str, ItemDistance] | None = None,
) -> dict[str, float]:
    """The standard table row for one system: mean accuracy and beyond-accuracy metrics at K.

    Accuracy means skip users without relevant test items (``np.nanmean``). ``distances``
    maps a name (``"text"``, ``"image"``, ``"genre"``...) to an :class:`ItemDistance`; each
    gives an ``ILD@K[name]`` column. Keys carry ``@K`` so tables say which cut-off they use.
    """
    recommendations = check_recommendations(recommendations)
    k = _check_k(k, recommendations.shape[1])
    n_items = sp.csr_array(train).shape[1]
    row = {
        f"Precision@{k}": precision_at_k(recommendations, ground_truth, k),
        f"Recall@{k}": recall_at_k(recommendations, ground_truth, k),
        f"NDCG@{k}": ndcg_at_k(recommendations, ground_truth, k),
        f"HR@{k}": hit_rate_at_k(recommendations, ground_truth, k),
        f"MAP@{k}": average_precision_at_k(recommendations, ground_truth, k),
        f"MRR@{k}": reciprocal_rank_at_k(recommendations, ground_truth, k),
    }
    row = {name: float(np.nanmean(values)) for name, values in row.items()}
    for name, distance in (distances or {}).items():
        row[f"ILD@{k}[{name}]"] = float(intra_list_diversity(recommendations, distance, k).mean())
    exposure = item_exposure(recommendations, n_items, k)
    row[f"Coverage@{k}"] = float((exposure > 0).mean())
    row[f"Novelty@{k}"] = float(novelty(recommendations, train, k).mean())
    row[f"Gini@{k}"] = gini_index(exposure)
    row[f"Entropy@{k}"] = shannon_entropy(exposure)
    return row


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """Which rows are Pareto-optimal when **every column is to be maximised** (e.g. NDCG and ILD).

    Row ``a`` is dominated when some row ``b`` is ``>=`` on every objective and ``>`` on one.
    Returns a boolean array ``(n_rows,)``; the True rows form the trade-off frontier.
    """
    objectives = np.asarray(objectives, dtype=np.float64)
    if objectives.ndim != 2 or objectives.shape[0] == 0:
        raise ValueError(
            f"objectives must be a non-empty 2-D (n_points, n_objectives) array, got {objectives.shape}"
        )
    if np.isnan(objectives).any():
        raise ValueError("objectives contain NaN")
    at_least = (objectives[None, :, :] >= objectives[:, None, :]).all(axis=2)  # [a, b]: b >= a everywhere
    strictly = (objectives[None, :, :] > objectives[:, None, :]).any(axis=2)  # [a, b]: b > a somewhere
    return ~(at_least & strictly).any(axis=1)
