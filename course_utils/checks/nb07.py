"""Exercises of notebook 07 (diversity re-ranking): MMR and the DPP kernel."""

from __future__ import annotations

from functools import partial

import numpy as np

from course_utils import rerank
from course_utils.exercises import Exercise, Mistake, assert_close

# Eight items with embeddings of very different lengths (so a dot product is not a cosine), and four
# users whose lists each expose one slip: the picks of row u change only with the slip of _ROW_SLIPS[u].
_EMBEDDINGS = np.array(
    [
        [1.0, 2.5, 1.0],
        [-3.9, 2.7, 1.3],
        [-0.2, 0.2, 0.1],
        [0.9, 0.1, 1.6],
        [-0.2, 0.0, -0.1],
        [0.6, 0.0, -0.3],
        [-2.3, -0.8, 0.0],
        [-0.1, 0.4, 0.3],
    ]
)
_CANDIDATES = np.array([[4, 1, 2, 7, 3, 6], [1, 7, 5, 4, 2, 3], [4, 5, 7, 0, 1, 6], [7, 4, 0, 3, 5, 1]])
_RELEVANCE = np.array(
    [
        [0.68, 0.92, 0.79, 0.02, 0.04, 0.51],
        [0.82, 0.08, 0.37, 0.40, 0.51, 0.35],
        [0.118, 0.052, 0.168, 0.102, 0.104, 0.150],  # a user whose scores span only 0.12: scale them
        [0.062, 0.116, 0.194, 0.154, 0.158, 0.152],
    ]
)
_ROW_SLIPS = [
    "penalise the *maximum* similarity to the items already picked, not their sum",
    "penalise the *maximum* similarity to the items already picked, not their mean",
    "min-max scale each user's relevance to [0, 1] first (r - min) / (max - min): this user's scores "
    "span only 0.12, so unscaled the similarity term drowns them",
    "use the cosine similarity: scale the embeddings to unit length before the dot product",
]


def _test_mmr(candidate) -> None:
    result = np.asarray(candidate(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.0))
    if result.shape != (4, 4):
        raise AssertionError(f"return k item ids per user: expected shape (4, 4), got {result.shape}.")
    expected = rerank.mmr(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.0)
    if np.array_equal(result, np.argsort(-_RELEVANCE, axis=1)[:, :4]):
        raise AssertionError(
            "you returned positions within each candidate row: return the item ids, candidates[user, "
            "position]."
        )
    if not np.array_equal(result, expected):
        raise AssertionError(
            f"with diversity = 0 MMR must return the relevance order {expected.tolist()}, got "
            f"{result.tolist()}: "
            "the score is (1 - diversity) * relevance - diversity * max similarity (diversity weighs "
            "the penalty)."
        )
    result = np.asarray(candidate(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.5))
    expected = rerank.mmr(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.5)
    floored = _mmr_vectorised(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.5, start_at_zero=True)
    if not np.array_equal(result, expected) and np.array_equal(result, floored):
        raise AssertionError(
            f"with diversity = 0.5 expected {expected.tolist()}, got {result.tolist()}: a cosine can be "
            "negative, so the running max must start from the first pick's similarity, not from 0 "
            "(the penalty is 0 only while nothing is picked)."
        )
    for user, slip in enumerate(_ROW_SLIPS):
        if not np.array_equal(result[user], expected[user]):
            raise AssertionError(
                f"with diversity = 0.5 user {user} should get {expected[user].tolist()}, got "
                f"{result[user].tolist()}: {slip}."
            )
    result = np.asarray(candidate(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.2))
    expected = rerank.mmr(_CANDIDATES, _RELEVANCE, _EMBEDDINGS, 4, 0.2)
    if not np.array_equal(result, expected):
        raise AssertionError(
            f"with diversity = 0.2 expected {expected.tolist()}, got {result.tolist()}: the score is "
            "(1 - diversity) * relevance - diversity * max similarity (diversity weighs the penalty)."
        )


def _mmr_loop(candidates, relevance, item_embeddings, k, diversity, penalty=max, scale=True, unit=True):
    """A learner's loop over users and steps; the keywords switch on the catalogued slips."""
    vectors = (
        item_embeddings / np.linalg.norm(item_embeddings, axis=1, keepdims=True) if unit else item_embeddings
    )
    lists = []
    for items, scores in zip(candidates, relevance, strict=True):
        if scale:
            scores = (scores - scores.min()) / (scores.max() - scores.min())
        picked: list[int] = []
        while len(picked) < k:
            gains = [
                (1 - diversity) * scores[i]
                - diversity
                * (penalty([vectors[items[i]] @ vectors[items[j]] for j in picked]) if picked else 0)
                if i not in picked
                else -np.inf
                for i in range(len(items))
            ]
            picked.append(int(np.argmax(gains)))
        lists.append(items[picked])
    return np.array(lists)


def _mmr_vectorised(candidates, relevance, item_embeddings, k, diversity, start_at_zero=False):
    unit = item_embeddings / np.linalg.norm(item_embeddings, axis=1, keepdims=True)
    low, high = relevance.min(axis=1, keepdims=True), relevance.max(axis=1, keepdims=True)
    gain = (1 - diversity) * (relevance - low) / (high - low)
    similarity = np.einsum("umd,und->umn", unit[candidates], unit[candidates])  # (users, M, M)
    users = np.arange(len(candidates))
    closest = np.full(candidates.shape, 0.0 if start_at_zero else -np.inf)  # max cosine to the picked items
    picks = []
    for step in range(k):
        score = gain - diversity * (closest if step else 0.0)  # the penalty is 0 before the first pick
        score[users[:, None], np.array(picks, dtype=int).T.reshape(len(users), -1)] = -np.inf
        best = score.argmax(axis=1)
        picks.append(best)
        closest = np.maximum(closest, similarity[users, best])
    return np.take_along_axis(candidates, np.stack(picks, axis=1), axis=1)


def _mmr_positions(candidates, relevance, item_embeddings, k, diversity):
    return np.argsort(-relevance, axis=1)[:, :k]


def _mmr_swapped_weights(candidates, relevance, item_embeddings, k, diversity):
    return _mmr_loop(candidates, relevance, item_embeddings, k, 1 - diversity)


mmr = Exercise(
    "Maximal Marginal Relevance",
    test=_test_mmr,
    hints=(
        "Build each list greedily: at every step take the candidate with the best trade-off between its "
        "own relevance and how close it is to what you already picked. Relevance and cosine must be on "
        "comparable scales.",
        "Per user: min-max scale the relevance to [0, 1]; scale the embeddings to unit length (then a dot "
        "product is a cosine). k times, score every not-yet-picked candidate i by "
        "(1 - diversity) * r_i - diversity * (largest cosine between i and the picked items; 0 while "
        "nothing is picked), pick the best, and finally turn positions into item ids via candidates.",
    ),
    reference=rerank.mmr,
    mistakes=[
        Mistake("sum of similarities instead of the max", partial(_mmr_loop, penalty=sum), "not their sum"),
        Mistake(
            "mean of similarities instead of the max", partial(_mmr_loop, penalty=np.mean), "not their mean"
        ),
        Mistake("no per-user min-max scaling of relevance", partial(_mmr_loop, scale=False), "min-max scale"),
        Mistake("dot product instead of cosine", partial(_mmr_loop, unit=False), "use the cosine similarity"),
        Mistake(
            "running max started at 0 (clips negative cosines)",
            partial(_mmr_vectorised, start_at_zero=True),
            "a cosine can be negative",
        ),
        Mistake("positions instead of item ids", _mmr_positions, "return the item ids"),
        Mistake("diversity weighs relevance", _mmr_swapped_weights, "diversity weighs the penalty"),
    ],
    alternatives=[_mmr_loop, _mmr_vectorised],
)


def _test_dpp_kernel(candidate) -> None:
    quality = np.array([1.0, 2.0, 0.5])
    similarity = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    expected = quality[:, None] * similarity * quality[None, :]
    result = np.asarray(candidate(quality, similarity), dtype=float)
    if result.shape != (3, 3):
        raise AssertionError(f"return the (M, M) kernel: expected shape (3, 3), got {result.shape}.")
    if np.allclose(result, similarity * quality[:, None]) or np.allclose(
        result, similarity * quality[None, :]
    ):
        raise AssertionError(
            "L must be scaled by the quality on both sides: diag(q) S diag(q), not diag(q) S or S diag(q)."
        )
    if np.allclose(result, np.outer(quality, quality) @ similarity):
        raise AssertionError(
            "you multiplied the matrices q q^T and S: L_ij = q_i S_ij q_j is an element-wise product."
        )
    if np.allclose(result, np.sqrt(quality)[:, None] * similarity * np.sqrt(quality)[None, :]):
        raise AssertionError("scale by the quality q itself, not its square root: L_ij = q_i S_ij q_j.")
    assert_close(result, expected, "the kernel L")


dpp_kernel = Exercise(
    "The DPP kernel",
    test=_test_dpp_kernel,
    hints=(
        "Every entry L_ij combines the similarity of items i and j with the quality of *both* items.",
        "L = diag(q) S diag(q), i.e. L_ij = q_i * S_ij * q_j: an element-wise product of S with q as a "
        "column and q as a row (broadcasting), or two matrix products with np.diag(q).",
    ),
    reference=rerank.dpp_kernel,
    mistakes=[
        Mistake("quality on one side only", lambda q, s: np.diag(q) @ s, "on both sides"),
        Mistake("quality on the right only", lambda q, s: s * q, "on both sides"),
        Mistake(
            "matrix product with the outer product", lambda q, s: np.outer(q, q) @ s, "element-wise product"
        ),
        Mistake(
            "square root of the quality",
            lambda q, s: np.outer(np.sqrt(q), np.sqrt(q)) * s,
            "not its square root",
        ),
        Mistake("quadratic form instead of a matrix", lambda q, s: q @ s @ q, "expected shape (3, 3)"),
    ],
    alternatives=[
        lambda q, s: np.diag(q) @ s @ np.diag(q),
        lambda q, s: np.outer(q, q) * s,
        lambda q, s: np.einsum("i,ij,j->ij", q, s, q),
    ],
)


# Fast greedy MAP for a DPP (Chen, Zhang & Zhou 2018, Algorithm 1). Three kernels L = diag(q) S diag(q)
# with S a cosine Gram matrix of random vectors in more dimensions than items (full rank, so every pick
# adds volume) and qualities that differ enough for every catalogued slip to change the picks.
def _random_kernel(seed: int, n_items: int, dim: int, spread: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n_items, dim))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    quality = np.exp(spread * rng.random(n_items))
    return quality[:, None] * (unit @ unit.T) * quality[None, :]


_DPP_CASES = [
    (_random_kernel(seed, n_items, dim, spread), k)
    for seed, n_items, dim, spread, k in [(1, 10, 14, 1.0, 5), (1, 10, 14, 2.0, 5), (2, 40, 48, 1.0, 10)]
]


def _greedy_dpp_variant(kernel, k, update=True, sign=-1.0, root=True, projection=True, choose=np.argmax):
    """Algorithm 1 as a learner writes it; the keywords switch on the catalogued slips."""
    kernel = np.asarray(kernel, dtype=float)
    gains = np.diag(kernel).copy()  # d_i^2
    rows = np.zeros((0, len(gains)))  # the c_i as columns, one row per pick
    picks = []
    for _ in range(k):
        masked = np.where(np.isin(np.arange(len(gains)), picks), np.nan, gains)
        j = int(choose(np.nan_to_num(masked, nan=-np.inf if choose is np.argmax else np.inf)))
        picks.append(j)
        scale = np.sqrt(gains[j]) if root else gains[j]
        e = (kernel[j] - (rows[:, j] @ rows if projection else 0.0)) / scale
        rows = np.vstack([rows, e])
        if update:
            gains = gains + sign * e**2
    return np.array(picks)


def _greedy_dpp_schur(kernel, k):
    """The gain written as a Schur complement, L_ii - L_iY L_Y^{-1} L_Yi, solved afresh every step."""
    kernel = np.asarray(kernel, dtype=float)
    picks: list[int] = []
    for _ in range(k):
        gains = np.diag(kernel).copy()
        if picks:
            block = kernel[np.ix_(picks, picks)]
            cross = kernel[picks]  # (|Y|, M)
            gains -= np.einsum("ym,ym->m", cross, np.linalg.solve(block, cross))
        gains[picks] = -np.inf
        picks.append(int(np.argmax(gains)))
    return np.array(picks)


def _greedy_dpp_cholesky(kernel, k):
    """Cholesky of L_Y recomputed every step; the gain is d_i^2 = L_ii - ||C^{-1} L_Yi||^2."""
    kernel = np.asarray(kernel, dtype=float)
    picks: list[int] = []
    for _ in range(k):
        gains = np.diag(kernel).copy()
        if picks:
            factor = np.linalg.cholesky(kernel[np.ix_(picks, picks)])
            gains -= (np.linalg.solve(factor, kernel[picks]) ** 2).sum(axis=0)
        gains[picks] = -np.inf
        picks.append(int(np.argmax(gains)))
    return np.array(picks)


_DPP_SLIPS = [
    (
        partial(_greedy_dpp_variant, choose=np.argmin),
        "take the candidate with the *largest* gain d_i^2 (argmax), not the smallest",
    ),
    (
        partial(_greedy_dpp_variant, update=False),
        "your picks follow the diagonal L_ii (quality order): after every pick update each candidate's "
        "gain, d_i^2 <- d_i^2 - e_i^2",
    ),
    (
        partial(_greedy_dpp_variant, sign=1.0),
        "subtract e_i^2 from d_i^2: the picked item explains part of each candidate, so its residual "
        "(and gain) can only shrink",
    ),
    (
        partial(_greedy_dpp_variant, root=False),
        "divide by d_j, the square root of the picked item's gain, not by d_j^2",
    ),
    (
        partial(_greedy_dpp_variant, projection=False),
        "subtract the part already explained by the earlier picks: e_i = (L_ji - <c_j, c_i>) / d_j, "
        "not L_ji / d_j",
    ),
]


def _test_greedy_dpp(candidate) -> None:
    results = []
    for kernel, k in _DPP_CASES:
        result = np.asarray(candidate(kernel.copy(), k))
        if result.shape != (k,):
            raise AssertionError(
                f"return the k = {k} picked positions as a 1-D array: expected shape ({k},), "
                f"got {result.shape}."
            )
        if len(set(result.tolist())) != k:
            raise AssertionError(
                f"an item was picked twice ({result.tolist()}): exclude the picked items from the argmax."
            )
        results.append(result.tolist())
    expected = [rerank.dpp_greedy_naive(kernel, k).tolist() for kernel, k in _DPP_CASES]
    if results == expected:
        return
    for slip, diagnosis in _DPP_SLIPS:  # the fixture gives every slip its own picks (test_checks runs each)
        if results == [slip(kernel, k).tolist() for kernel, k in _DPP_CASES]:
            raise AssertionError(f"you picked {results[0]} on the first kernel: {diagnosis}.")
    case = next(index for index, (got, want) in enumerate(zip(results, expected, strict=True)) if got != want)
    step = int(np.flatnonzero(np.array(results[case]) != np.array(expected[case]))[0])
    raise AssertionError(
        f"on a {len(_DPP_CASES[case][0])}-item kernel the naive log-det greedy picks {expected[case]}, you "
        f"picked {results[case]} (first difference at step {step}): the gain of item i is d_i^2, starting at "
        "L_ii; after picking j, e_i = (L_ji - <c_j, c_i>) / d_j and d_i^2 <- d_i^2 - e_i^2."
    )


greedy_dpp = Exercise(
    "Fast greedy MAP for a DPP (incremental Cholesky)",
    test=_test_greedy_dpp,
    hints=(
        "Keep, for every candidate, the gain d_i^2 that adding it would bring to log det (its squared "
        "residual after projecting out the picked items) and a growing vector c_i. Each step picks the "
        "largest gain, then updates every candidate with one new number e_i -- no determinant anywhere.",
        "Start with d_i^2 = L_ii and empty c_i. Repeat k times: j = the unpicked candidate with the largest "
        "d_i^2; for every candidate, e_i = (L_ji - <c_j, c_i>) / d_j with d_j the square root of d_j^2; "
        "append e_i to c_i (a matrix with one row per pick is convenient); d_i^2 <- d_i^2 - e_i^2.",
    ),
    reference=rerank.dpp_greedy,
    solution='''def greedy_dpp(kernel, k):
    gains = np.diag(kernel).astype(float)      # d_i^2 = L_ii: the gain of i when nothing is picked
    c = np.zeros((k, len(gains)))              # row t holds e_i of pick t for every candidate i
    picks = []
    for step in range(k):
        j = int(np.argmax(np.where(np.isin(np.arange(len(gains)), picks), -np.inf, gains)))
        picks.append(j)
        e = (kernel[j] - c[:step, j] @ c[:step]) / np.sqrt(gains[j])   # new Cholesky entries
        c[step] = e
        gains = gains - e**2                   # d_i^2 <- d_i^2 - e_i^2
    return np.array(picks)''',
    mistakes=[
        Mistake("argmin instead of argmax", _DPP_SLIPS[0][0], "the *largest* gain"),
        Mistake("gains never updated", _DPP_SLIPS[1][0], "quality order"),
        Mistake("wrong sign: d^2 += e^2", _DPP_SLIPS[2][0], "subtract e_i^2"),
        Mistake("no square root: divided by d_j^2", _DPP_SLIPS[3][0], "not by d_j^2"),
        Mistake(
            "projection <c_j, c_i> forgotten", _DPP_SLIPS[4][0], "already explained by the earlier picks"
        ),
    ],
    alternatives=[_greedy_dpp_variant, _greedy_dpp_schur, _greedy_dpp_cholesky],
)
