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
