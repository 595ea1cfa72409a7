"""Diversity-aware re-ranking: MMR, DPP (fast greedy MAP), xQuAD and calibrated re-ranking.

A re-ranker takes, for every user, ``M`` candidate items with relevance scores (from any
recommender, e.g. :func:`course_utils.ranking.candidate_set`) and picks ``k`` of them one at a
time, trading relevance for diversity.

One convention for all re-rankers
---------------------------------
* ``candidates``: int array ``(n_users, M)`` of item ids; ``relevance``: float ``(n_users, M)``.
* ``diversity`` in ``[0, 1]`` is the trade-off: **0 returns the candidates in relevance order**
  (ties broken by candidate position), larger values weigh diversity more, 1 ignores relevance
  except where the diversity term ties.
* Inputs are checked the same way everywhere: ``candidates`` as recommendation lists
  (:func:`course_utils.metrics.check_recommendations`: integer ids in range, no repeats),
  ``relevance`` finite (:func:`course_utils.ranking.as_scores`), ``k`` a positive ``int``.
* Relevance is min-max normalised to ``[0, 1]`` within each user's candidates before mixing,
  so that the same ``diversity`` means the same thing for every recommender's score scale.
* The result is an int array ``(n_users, k)`` of item ids, best first.
* Every re-ranker is batched over users: each greedy step is one vectorised numpy operation
  for all users at once (users are processed in memory-bounded chunks).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.metrics import check_recommendations
from course_utils.ranking import as_scores, minmax_normalize, positive_int, unit_rows

# Bound the (users x candidates x dim) float64 blocks gathered per chunk (~64 MB).
_CHUNK_ELEMENTS = 8_000_000


# --------------------------------------------------------------------------------------------
# Shared input handling
# --------------------------------------------------------------------------------------------


def _check_inputs(
    candidates: np.ndarray, relevance: np.ndarray, k: int, diversity: float, n_items: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated ``(candidates int64, relevance float64, k)``; ``ValueError`` naming the problem."""
    candidates = check_recommendations(candidates, n_items, name="candidates")
    relevance = as_scores(relevance, "relevance", ndim=(2,), excluded_ok=False)
    if relevance.shape != candidates.shape:
        raise ValueError(
            f"relevance has shape {relevance.shape} but candidates have shape {candidates.shape}"
        )
    k = positive_int(k)
    if k > candidates.shape[1]:
        raise ValueError(f"k={k} is larger than the {candidates.shape[1]} candidates per user")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1] (0 = relevance order), got {diversity}")
    return candidates, relevance, k


def _relevance_order(candidates: np.ndarray, relevance: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-relevance, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, axis=1)


def _chunks(n_users: int, per_user_elements: int) -> list[slice]:
    size = max(1, _CHUNK_ELEMENTS // max(per_user_elements, 1))
    return [slice(start, min(start + size, n_users)) for start in range(0, n_users, size)]


# --------------------------------------------------------------------------------------------
# MMR
# --------------------------------------------------------------------------------------------


def mmr(
    candidates: np.ndarray, relevance: np.ndarray, item_embeddings: np.ndarray, k: int, diversity: float = 0.5
) -> np.ndarray:
    """Maximal Marginal Relevance (Carbonell & Goldstein 1998), greedily for every user.

    Step by step, pick
    ``argmax_{i not in S} (1 - diversity) * rel(i) - diversity * max_{j in S} cos(e_i, e_j)``
    (the paper's ``lambda`` is ``1 - diversity``; ``max`` over an empty ``S`` is 0).
    Returns item ids ``(n_users, k)``.
    """
    unit = unit_rows(item_embeddings, "item_embeddings")
    candidates, relevance, k = _check_inputs(candidates, relevance, k, diversity, unit.shape[0])
    if diversity == 0:
        return _relevance_order(candidates, relevance, k)
    relevance = minmax_normalize(relevance, "relevance")
    picks = np.empty((candidates.shape[0], k), dtype=np.int64)
    for chunk in _chunks(candidates.shape[0], candidates.shape[1] * unit.shape[1]):
        vectors = unit[candidates[chunk]]  # (users, M, dim)
        rows = np.arange(vectors.shape[0])
        max_similarity = np.zeros(vectors.shape[:2])  # (users, M)
        available = np.ones(vectors.shape[:2], dtype=bool)
        for step in range(k):
            score = np.where(
                available, (1 - diversity) * relevance[chunk] - diversity * max_similarity, -np.inf
            )
            chosen = score.argmax(axis=1)  # (users,) candidate positions
            picks[chunk, step] = chosen
            available[rows, chosen] = False
            similarity = np.einsum("umd,ud->um", vectors, vectors[rows, chosen])
            max_similarity = similarity if step == 0 else np.maximum(max_similarity, similarity)
    return np.take_along_axis(candidates, picks, axis=1)


# --------------------------------------------------------------------------------------------
# DPP: kernel, fast greedy MAP (Chen et al. 2018), naive reference
# --------------------------------------------------------------------------------------------


def dpp_kernel(quality: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """The DPP kernel ``L = diag(q) S diag(q)``, i.e. ``L_ij = q_i S_ij q_j`` (Chen et al. 2018, eq. 1).

    ``quality`` ``(..., M)`` are positive item qualities, ``similarity`` ``(..., M, M)`` a
    positive semi-definite similarity matrix; ``det(L_Y) = prod_{i in Y} q_i^2 * det(S_Y)``
    rewards sets that are both relevant and spread out.
    """
    quality = np.asarray(quality, dtype=np.float64)
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != quality.shape + quality.shape[-1:]:
        raise ValueError(
            f"similarity must have shape {quality.shape + quality.shape[-1:]}, got {similarity.shape}"
        )
    return quality[..., :, None] * similarity * quality[..., None, :]


def quality_from_relevance(relevance: np.ndarray, diversity: float) -> np.ndarray:
    """DPP item quality ``q_i = exp(alpha * r_i)`` with ``alpha = (1 - diversity) / (2 * diversity)``.

    Chen et al. (2018, sec. 4.1) show that greedy MAP on this kernel maximises
    ``(1 - diversity) * sum_{i in Y} r_i + diversity * log det(S_Y)`` (their ``theta = 1 - diversity``).
    ``r`` (``(M,)`` or ``(n_users, M)``, finite) is min-max normalised per user and shifted to
    ``r - 1 <= 0`` (a constant factor on ``q`` that changes no decision and avoids overflow).
    Needs ``0 < diversity <= 1``; NaN or infinite relevance raises.
    """
    if not 0 < diversity <= 1:
        raise ValueError(f"quality_from_relevance needs 0 < diversity <= 1, got {diversity}")
    alpha = (1 - diversity) / (2 * diversity)
    relevance = as_scores(relevance, "relevance", excluded_ok=False)
    return np.exp(alpha * (minmax_normalize(relevance, "relevance") - 1.0))


KernelRows = Callable[[np.ndarray], np.ndarray]

_NO_VOLUME = 1e-10
"""An item whose remaining gain ``d_i^2`` is at most this share of ``L_ii`` adds no volume: it lies
(numerically) in the span of the items picked so far."""


def _greedy_update(
    gains: np.ndarray, cholesky: np.ndarray, size: int, chosen: np.ndarray, kernel_rows: KernelRows
) -> None:
    """One step of Chen et al.'s Algorithm 1 for a batch of users (in place).

    ``e_i = (L_{j i} - <c_j, c_i>) / d_j``; append ``e_i`` to ``c_i``; ``d_i^2 -= e_i^2``.
    ``gains`` ``(users, M)`` holds ``d_i^2``, ``cholesky`` ``(users, k, M)`` the ``c_i`` as rows.
    """
    rows = np.arange(gains.shape[0])
    d_chosen = np.sqrt(gains[rows, chosen])  # (users,)
    new_row = kernel_rows(chosen)  # (users, M): row j of L
    if size:
        new_row = new_row - (cholesky[rows, :size, chosen][:, None, :] @ cholesky[:, :size, :])[:, 0, :]
    new_row /= d_chosen[:, None]
    cholesky[:, size, :] = new_row
    gains -= new_row**2


def _fill_without_volume(
    gains: np.ndarray, diagonal: np.ndarray, picked: np.ndarray, users: np.ndarray
) -> np.ndarray:
    """Picks for ``users`` whose best gain adds no volume: the best item that still adds some,
    else the remaining item with the largest ``L_ii`` (its quality), lowest position on ties."""
    available = ~picked[users]
    adds_volume = available & (gains[users] > _NO_VOLUME * diagonal[users])  # NaN gains add nothing
    by_gain = np.where(adds_volume, gains[users], -np.inf).argmax(axis=1)
    by_quality = np.where(available, diagonal[users], -np.inf).argmax(axis=1)
    return np.where(adds_volume.any(axis=1), by_gain, by_quality)


def _greedy_map(
    diagonal: np.ndarray, kernel_rows: KernelRows, k: int, window: int | None = None
) -> np.ndarray:
    """Fast greedy MAP inference for a batch of DPPs; returns candidate positions ``(users, k)``.

    ``diagonal`` ``(users, M)`` is ``diag(L)``; ``kernel_rows(j)`` returns ``L[u, j_u, :]`` for each
    user ``u`` as ``(users, M)``. Without ``window`` this is Algorithm 1 of Chen et al. (2018):
    ``O(k^2 M)`` per user after ``O(k)`` kernel rows. With ``window = w`` the log-det is taken
    only over the last ``w - 1`` picks plus the new one (their sliding-window variant): the
    conditioning on the window is recomputed each step, ``O(k w^2 M)`` -- simpler than the
    paper's ``O(k w M)`` downdate and giving the same picks. Once no remaining item adds volume
    (``k`` exceeds the kernel's rank), the list continues with the remaining items by ``L_ii``.
    """
    users, n_candidates = diagonal.shape
    gains = np.array(diagonal, dtype=np.float64)  # d_i^2, updated in place; -inf once picked
    cholesky = np.empty((users, k, n_candidates))
    picks = np.empty((users, k), dtype=np.int64)
    picked = np.zeros((users, n_candidates), dtype=bool)
    rows = np.arange(users)
    size = 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # users without volume left
        for step in range(k):
            if window is not None and step >= window:  # forget the oldest pick: condition on the last w - 1
                gains = np.array(diagonal, dtype=np.float64)
                recent = picks[:, step - window + 1 : step]  # (users, w - 1)
                for position in range(window - 1):
                    _greedy_update(gains, cholesky, position, recent[:, position], kernel_rows)
                gains[picked] = -np.inf
                size = window - 1
            chosen = gains.argmax(axis=1)
            no_volume = ~(gains[rows, chosen] > _NO_VOLUME * diagonal[rows, chosen])
            if no_volume.any():
                stuck = np.flatnonzero(no_volume)
                chosen[stuck] = _fill_without_volume(gains, diagonal, picked, stuck)
            picks[:, step] = chosen
            picked[rows, chosen] = True
            if step < k - 1:
                _greedy_update(gains, cholesky, size, chosen, kernel_rows)
                gains[rows, chosen] = -np.inf
                size += 1
    return picks


def _greedy_map_one(kernel: np.ndarray, k: int) -> np.ndarray:
    """Algorithm 1 of Chen et al. (2018) for a single kernel ``(M, M)`` as a plain loop; positions ``(k,)``.

    The same picks as :func:`_greedy_map` (tests check it), without the batch bookkeeping: the
    reference speed for one large kernel. Once no item adds volume the rest of the list is the
    remaining items by ``L_ii``. A NaN or inf in a kernel row it reads raises ``ValueError``.
    """
    diagonal = np.diagonal(kernel)
    gains = np.array(diagonal)  # d_i^2, updated in place; -inf once picked
    no_volume = _NO_VOLUME * diagonal
    cholesky = np.empty((k, len(gains)))
    picks = np.empty(k, dtype=np.int64)
    for step in range(k):
        chosen = int(gains.argmax())
        if not gains[chosen] > no_volume[chosen]:
            if np.isnan(gains).any():
                raise ValueError("kernel contains NaN or inf in the rows the greedy read")
            adds_volume = gains > no_volume  # picked items are -inf
            if not adds_volume.any():  # k exceeds the rank: the rest by quality, best first
                picked = np.isneginf(gains)
                rest = np.flatnonzero(~picked)
                picks[step:] = rest[np.argsort(-diagonal[rest], kind="stable")][: k - step]
                return picks
            chosen = int(np.where(adds_volume, gains, -np.inf).argmax())
        picks[step] = chosen
        if step == k - 1:
            break
        e = kernel[chosen] - cholesky[:step, chosen] @ cholesky[:step] if step else np.array(kernel[chosen])
        e /= np.sqrt(gains[chosen])
        cholesky[step] = e
        gains -= e * e
        gains[chosen] = -np.inf
    if np.isnan(gains).any() or np.isneginf(gains).sum() > k - 1:
        raise ValueError("kernel contains NaN or inf in the rows the greedy read")
    return picks


def _check_kernel(batch: np.ndarray, shape: tuple[int, ...]) -> None:
    """Cheap checks of a batch of kernels ``(users, M, M)``: square, finite non-negative diagonal,
    symmetric on a fixed sample of entries (``O(M)``, not the ``O(M^2)`` of a full scan)."""
    if batch.ndim != 3 or batch.shape[1] != batch.shape[2] or batch.shape[1] == 0:
        raise ValueError(f"kernel must be a square (M, M) or (users, M, M) array, got shape {shape}")
    diagonal = np.diagonal(batch, axis1=1, axis2=2)
    if not np.isfinite(diagonal).all() or (diagonal < 0).any():
        raise ValueError("kernel diagonal must be finite and non-negative (a DPP kernel is PSD)")
    n = batch.shape[1]
    left = np.arange(0, n, max(1, n // 64))
    right = (7 * left + 3) % n
    upper, lower = batch[:, left, right], batch[:, right, left]
    tolerance = 1e-6 * np.abs(upper) + 1e-12 * max(float(diagonal.max()), 1.0)
    if not (np.abs(upper - lower) <= tolerance).all():
        raise ValueError("kernel must be symmetric (L = L^T): a DPP kernel is a PSD matrix")


def dpp_greedy(kernel: np.ndarray, k: int, window: int | None = None) -> np.ndarray:
    """Greedy MAP for a DPP with a full kernel ``L`` ``(M, M)`` or a batch ``(users, M, M)``.

    Each step adds the item that most increases ``log det(L_Y)`` (Chen, Zhang & Zhou 2018,
    fast greedy MAP with incremental Cholesky, ``O(k^2 M)``). Returns positions ``(k,)`` or
    ``(users, k)``, never the same item twice. When ``k`` exceeds the kernel's rank, no
    remaining item adds volume after ``rank`` picks (the paper stops there); this function
    continues with the remaining items in decreasing order of ``L_ii`` (their quality, i.e.
    relevance order for :func:`dpp`). Validation is ``O(M)``: the diagonal, a sample of
    symmetric pairs, and every kernel row the greedy reads (NaN/inf raises). One kernel
    without ``window`` runs as a plain loop (:func:`_greedy_map_one`), a batch as one
    vectorised loop over all users; both give the same picks.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    single = kernel.ndim == 2
    batch = kernel[None] if single else kernel
    _check_kernel(batch, kernel.shape)
    k = positive_int(k)
    if k > batch.shape[1]:
        raise ValueError(f"k={k} must be between 1 and the {batch.shape[1]} candidates")
    if window is not None:
        window = positive_int(window, "window")
    if single and window is None:
        return _greedy_map_one(kernel, k)
    rows = np.arange(batch.shape[0])

    def kernel_rows(chosen: np.ndarray) -> np.ndarray:
        row = batch[rows, chosen]  # (users, M)
        if not np.isfinite(row).all():
            raise ValueError(f"kernel row {int(chosen[0])} contains NaN or inf")
        return row

    picks = _greedy_map(np.diagonal(batch, axis1=1, axis2=2), kernel_rows, k, window)
    return picks[0] if single else picks


def dpp_greedy_naive(kernel: np.ndarray, k: int) -> np.ndarray:
    """Reference greedy MAP straight from the definition, for tests and benchmarks.

    At each step evaluate ``log det(L_{Y + {i}})`` for every remaining ``i`` (one
    ``slogdet`` per candidate, ``O(k^4 M)`` in total) and keep the best. Positions ``(k,)``.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square (M, M) array, got shape {kernel.shape}")
    if not 1 <= k <= kernel.shape[0]:
        raise ValueError(f"k={k} must be between 1 and the {kernel.shape[0]} candidates")
    selected: list[int] = []
    for _ in range(k):
        remaining = np.setdiff1d(np.arange(kernel.shape[0]), selected)
        subsets = np.column_stack(
            [np.tile(selected, (remaining.size, 1)).astype(np.int64), remaining]
        )  # (R, |Y|+1)
        sign, log_det = np.linalg.slogdet(kernel[subsets[:, :, None], subsets[:, None, :]])
        selected.append(int(remaining[np.argmax(np.where(sign > 0, log_det, -np.inf))]))
    return np.array(selected)


def dpp(
    candidates: np.ndarray,
    relevance: np.ndarray,
    item_embeddings: np.ndarray,
    k: int,
    diversity: float = 0.5,
    window: int | None = None,
) -> np.ndarray:
    """DPP re-ranking with fast greedy MAP inference (Chen, Zhang & Zhou 2018), batched over users.

    Kernel ``L = diag(q) S diag(q)`` with ``S_ij = cos(e_i, e_j)`` (a Gram matrix, hence PSD)
    plus ``1e-6`` on the diagonal so every candidate keeps some volume, and
    ``q = exp(alpha r)`` from :func:`quality_from_relevance`. Kernel rows are computed on
    demand from the embeddings, so no ``(M, M)`` matrix is stored. ``window`` enables the
    sliding-window variant (diversity only among the last ``window`` items).
    Returns item ids ``(n_users, k)``.
    """
    unit = unit_rows(item_embeddings, "item_embeddings")
    candidates, relevance, k = _check_inputs(candidates, relevance, k, diversity, unit.shape[0])
    if window is not None:
        window = positive_int(window, "window")
    if diversity == 0:
        return _relevance_order(candidates, relevance, k)
    quality = quality_from_relevance(relevance, diversity)  # (n_users, M)
    jitter = 1e-6
    picks = np.empty((candidates.shape[0], k), dtype=np.int64)
    for chunk in _chunks(candidates.shape[0], candidates.shape[1] * unit.shape[1]):
        vectors = unit[candidates[chunk]]  # (users, M, dim)
        q = quality[chunk]
        rows = np.arange(vectors.shape[0])

        def kernel_rows(chosen: np.ndarray, vectors=vectors, q=q, rows=rows) -> np.ndarray:
            similarity = np.einsum("umd,ud->um", vectors, vectors[rows, chosen])
            similarity[rows, chosen] = 1.0 + jitter  # unit vectors: exactly the diagonal below
            return q[rows, chosen][:, None] * similarity * q  # (users, M): row j of L

        diagonal = q**2 * (1.0 + jitter)  # (users, M): S_ii = |e_i|^2 = 1
        picks[chunk] = _greedy_map(diagonal, kernel_rows, k, window)
    return np.take_along_axis(candidates, picks, axis=1)


# --------------------------------------------------------------------------------------------
# Category-based: xQuAD and calibrated re-ranking
# --------------------------------------------------------------------------------------------


def _check_categories(item_categories: np.ndarray, preferences: np.ndarray, n_users: int):
    item_categories = np.asarray(item_categories, dtype=np.float64)
    preferences = np.asarray(preferences, dtype=np.float64)
    if item_categories.ndim != 2 or item_categories.shape[0] == 0:
        raise ValueError(
            f"item_categories must be a non-empty (n_items, n_categories) array, got {item_categories.shape}"
        )
    if preferences.shape != (n_users, item_categories.shape[1]):
        raise ValueError(
            "category preferences must have shape (n_users, n_categories) = "
            f"{(n_users, item_categories.shape[1])}, got {preferences.shape}"
        )
    for name, values in (("item_categories", item_categories), ("category preferences", preferences)):
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"{name} must be finite and non-negative")
    return item_categories, preferences


def xquad(
    candidates: np.ndarray,
    relevance: np.ndarray,
    item_categories: np.ndarray,
    category_preferences: np.ndarray,
    k: int,
    diversity: float = 0.5,
) -> np.ndarray:
    """Explicit query-aspect diversification (xQuAD; Santos, Macdonald & Ounis 2010) over categories.

    ``score(i) = (1 - diversity) * rel(i) + diversity * sum_c P(c|u) P(i|c) prod_{j in S} (1 - P(j|c))``:
    an item earns the diversity bonus for each category the user likes (``P(c|u)``, e.g.
    :func:`course_utils.metrics.user_category_distribution`) that the list does not cover yet.
    ``item_categories`` ``(n_items, C)`` holds ``P(i|c)`` in ``[0, 1]`` (1 for membership).
    Returns item ids ``(n_users, k)``.
    """
    candidates, relevance, k = _check_inputs(
        candidates, relevance, k, diversity, np.shape(item_categories)[0]
    )
    membership, preferences = _check_categories(item_categories, category_preferences, candidates.shape[0])
    if membership.max() > 1:
        raise ValueError("item_categories for xQuAD must lie in [0, 1] (P(i|c), 1 = member)")
    if diversity == 0:
        return _relevance_order(candidates, relevance, k)
    relevance = minmax_normalize(relevance, "relevance")
    picks = np.empty((candidates.shape[0], k), dtype=np.int64)
    for chunk in _chunks(candidates.shape[0], candidates.shape[1] * membership.shape[1]):
        candidate_membership = membership[candidates[chunk]]  # (users, M, C)
        rows = np.arange(candidate_membership.shape[0])
        not_covered = np.ones((rows.size, membership.shape[1]))  # prod_{j in S} (1 - P(j|c))
        available = np.ones(candidates[chunk].shape, dtype=bool)
        for step in range(k):
            bonus = np.einsum("umc,uc->um", candidate_membership, preferences[chunk] * not_covered)
            score = np.where(available, (1 - diversity) * relevance[chunk] + diversity * bonus, -np.inf)
            chosen = score.argmax(axis=1)
            picks[chunk, step] = chosen
            available[rows, chosen] = False
            not_covered *= 1 - candidate_membership[rows, chosen]
    return np.take_along_axis(candidates, picks, axis=1)


def calibrated(
    candidates: np.ndarray,
    relevance: np.ndarray,
    item_categories: np.ndarray,
    target_distribution: np.ndarray,
    k: int,
    diversity: float = 0.5,
    alpha: float = 0.01,
) -> np.ndarray:
    """Calibrated re-ranking (Steck 2018): keep the list's category mix close to the user's.

    Greedily maximise ``(1 - diversity) * sum_{i in S} rel(i) - diversity * KL(p || q~(S))``,
    where ``p = target_distribution`` (``(n_users, C)``, usually the history's ``p(c|u)``),
    ``q(S)`` is the mean ``p(c|i)`` over the list (``item_categories`` rows normalised) and
    ``q~ = (1 - alpha) q + alpha p`` (KL in nats, as in :func:`course_utils.metrics.calibration_kl`).
    Each row of ``target_distribution`` must sum to 1; an all-zero row (a user without history,
    as ``metrics.user_category_distribution`` returns it) has no target and gets relevance order.
    Returns item ids ``(n_users, k)``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    candidates, relevance, k = _check_inputs(
        candidates, relevance, k, diversity, np.shape(item_categories)[0]
    )
    weights, target = _check_categories(item_categories, target_distribution, candidates.shape[0])
    sums = target.sum(axis=1)
    not_distribution = ~(np.isclose(sums, 1.0, rtol=0, atol=1e-6) | (sums == 0))
    if not_distribution.any():
        row = int(np.flatnonzero(not_distribution)[0])
        raise ValueError(
            f"target_distribution row {row} sums to {sums[row]:.6g}, not 1: pass each user's category "
            "distribution p(c|u), e.g. metrics.user_category_distribution (an all-zero row means no target)"
        )
    totals = weights.sum(axis=1, keepdims=True)
    if (totals == 0).any():
        raise ValueError(f"item {int(np.flatnonzero(totals[:, 0] == 0)[0])} belongs to no category")
    p_category_given_item = weights / totals
    if diversity == 0:
        return _relevance_order(candidates, relevance, k)
    relevance = minmax_normalize(relevance, "relevance")
    picks = np.empty((candidates.shape[0], k), dtype=np.int64)
    for chunk in _chunks(candidates.shape[0], candidates.shape[1] * weights.shape[1]):
        candidate_mix = p_category_given_item[candidates[chunk]]  # (users, M, C)
        p = target[chunk][:, None, :]  # (users, 1, C)
        rows = np.arange(candidate_mix.shape[0])
        list_mix_sum = np.zeros((rows.size, weights.shape[1]))
        available = np.ones(candidates[chunk].shape, dtype=bool)
        for step in range(k):
            q_if_added = (list_mix_sum[:, None, :] + candidate_mix) / (step + 1)  # (users, M, C)
            q_smoothed = (1 - alpha) * q_if_added + alpha * p
            with np.errstate(divide="ignore", invalid="ignore"):
                kl = np.where(p > 0, p * np.log(p / q_smoothed), 0.0).sum(axis=2)  # (users, M)
            score = np.where(available, (1 - diversity) * relevance[chunk] - diversity * kl, -np.inf)
            chosen = score.argmax(axis=1)
            picks[chunk, step] = chosen
            available[rows, chosen] = False
            list_mix_sum += candidate_mix[rows, chosen]
    return np.take_along_axis(candidates, picks, axis=1)
