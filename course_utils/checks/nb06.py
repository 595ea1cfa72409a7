"""Exercises of notebook 06 (diversity metrics): intra-list diversity, the Gini index and calibration."""

from __future__ import annotations

from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy.special import rel_entr

from course_utils import metrics
from course_utils.exercises import Exercise, Mistake, assert_close

# Three items on the unit circle and one duplicate: e0 = (1, 0), e1 = (0, 1), e2 = e0.
_EMBEDDINGS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _test_intra_list_diversity(candidate) -> None:
    distance = metrics.CosineDistance(_EMBEDDINGS)
    # list [0, 1, 2]: d01 = 1, d02 = 0, d12 = 1 -> ILD = 2/3
    # list [0, 2, 3]: d02 = 0, d03 = d23 = 1 - 1/sqrt2 -> ILD = 2 (1 - 1/sqrt2) / 3
    recommendations = np.array([[0, 1, 2], [0, 2, 3]])
    k = recommendations.shape[1]
    expected = np.array([2 / 3, 2 * (1 - 1 / np.sqrt(2)) / 3])
    result = np.asarray(candidate(recommendations, distance), dtype=float)
    if result.shape != (2,):
        raise AssertionError(
            f"return one value per user (average within each list, not over users): expected shape (2,), "
            f"got {result.shape}."
        )
    if np.allclose(result, expected * (k - 1) / k):
        raise AssertionError(
            "you averaged over all k x k entries *including* the zero diagonal: "
            "average over the k(k-1)/2 pairs i < j only."
        )
    if np.allclose(result, expected / 2):
        raise AssertionError(
            "you divided the sum over the pairs i < j by k(k-1): there are only k(k-1)/2 such pairs."
        )
    if np.allclose(result, expected * k * (k - 1) / 2):
        raise AssertionError("you summed the pairwise distances: average them over the k(k-1)/2 pairs.")
    if np.allclose(result, 1 - expected):
        raise AssertionError(
            "these are similarities: `distance` already returns distances (1 - cosine), average them "
            "as they are."
        )
    assert_close(result, expected, "ILD per user")
    identical = np.asarray(candidate(np.array([[0, 2]]), distance), dtype=float)
    assert_close(identical, [0.0], "ILD of a list of two identical items")


def _ild_upper(recommendations, distance, scale=1.0):
    pairwise = distance(recommendations, recommendations)  # (users, k, k)
    k = recommendations.shape[1]
    rows, cols = np.triu_indices(k, 1)
    return scale * pairwise[:, rows, cols].mean(axis=1)


def _ild_all_entries(recommendations, distance):
    return distance(recommendations, recommendations).mean(axis=(1, 2))


def _ild_ordered_pairs(recommendations, distance):
    k = recommendations.shape[1]
    pairwise = distance(recommendations, recommendations)
    return np.triu(pairwise, 1).sum(axis=(1, 2)) / (k * (k - 1))


def _ild_summed(recommendations, distance):
    return np.triu(distance(recommendations, recommendations), 1).sum(axis=(1, 2))


def _ild_similarity(recommendations, distance):
    return 1 - _ild_upper(recommendations, distance)


def _ild_one_number(recommendations, distance):
    return _ild_upper(recommendations, distance).mean()


def _ild_symmetric_sum(recommendations, distance):
    k = recommendations.shape[1]
    return distance(recommendations, recommendations).sum(axis=(1, 2)) / (k * (k - 1))  # zero diagonal


def _ild_loops(recommendations, distance):
    values = []
    for items in recommendations:
        pairs = [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))]
        matrix = distance(items[None, :], items[None, :])[0]
        values.append(np.mean([matrix[i, j] for i, j in pairs]))
    return np.array(values)


intra_list_diversity = Exercise(
    "Intra-list diversity",
    test=_test_intra_list_diversity,
    hints=(
        "ILD of one list is the average distance over all *pairs of different items* in it: each pair "
        "once, an item never paired with itself. One number per user.",
        "distance(recommendations, recommendations) has shape (n_users, k, k). Keep the entries above the "
        "diagonal (np.triu_indices with offset 1: the k(k-1)/2 pairs i < j) and average them per user.",
    ),
    reference=metrics.intra_list_diversity,
    mistakes=[
        Mistake("diagonal included in the mean", _ild_all_entries, "including* the zero diagonal"),
        Mistake("pairs i < j divided by k(k-1)", _ild_ordered_pairs, "only k(k-1)/2 such pairs"),
        Mistake("sum instead of mean", _ild_summed, "you summed the pairwise distances"),
        Mistake("similarity instead of distance", _ild_similarity, "these are similarities"),
        Mistake("one number for all users", _ild_one_number, "return one value per user"),
    ],
    alternatives=[_ild_symmetric_sum, _ild_loops],
)


def _gini_variant(counts, ascending=True, sort=True, drop_zeros=False, first_rank=1, divisor_offset=0):
    x = np.asarray(counts, dtype=float)
    x = x[x > 0] if drop_zeros else x
    if sort:
        x = np.sort(x) if ascending else np.sort(x)[::-1]
    n = x.size
    i = np.arange(first_rank, first_rank + n)
    return float(((2 * i - n - 1) * x).sum() / ((n - divisor_offset) * x.sum()))


_GINI_SLIPS = [
    ({"divisor_offset": 1}, "you divided by n - 1; the course's convention divides by n."),
    (
        {"drop_zeros": True},
        "you dropped the items with zero exposure: n counts *every* item, exposed or not.",
    ),
    ({"first_rank": 0}, "the ranks i run from 1 to n, not from 0."),
    (
        {"ascending": False},
        "sort the counts in ascending order, smallest first (yours look sorted largest first).",
    ),
    ({"sort": False}, "sort the counts in ascending order first (yours look unsorted)."),
]


def _test_gini_index(candidate) -> None:
    cases = [
        (np.array([4, 0, 0, 0]), 0.75, "all exposure on one of 4 items (G = 1 - 1/n)"),
        (np.array([3, 0, 1, 2]), 5 / 12, "counts [3, 0, 1, 2]"),
        (np.full(5, 2.0), 0.0, "a perfectly even distribution"),
    ]
    for counts, expected, description in cases:
        result = float(candidate(counts))
        if np.isclose(result, expected, atol=1e-9):
            continue
        for slip, message in _GINI_SLIPS:
            if np.isclose(result, _gini_variant(counts, **slip), atol=1e-9):
                raise AssertionError(f"for {description}: {message}")
        raise AssertionError(f"for {description} expected G = {expected:.4f}, got {result:.4f}.")


def _gini_mean_difference(counts):
    x = np.asarray(counts, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size * x.sum()))


def _gini_lorenz(counts):
    x = np.sort(np.asarray(counts, dtype=float))
    n = x.size
    lorenz = np.cumsum(x) / x.sum()  # share held by the i poorest items
    return float((n + 1 - 2 * lorenz.sum()) / n)


gini_index = Exercise(
    "Gini index of exposure",
    test=_test_gini_index,
    hints=(
        "Put the items in order from least to most exposed: the Gini index weighs each count by its rank, "
        "negatively for the bottom half and positively for the top half. Items never exposed count too.",
        "Sort ascending, x_(1) <= ... <= x_(n), with ranks i = 1..n: G = sum_i (2i - n - 1) x_(i) / "
        "(n * sum x). "
        "All on one item gives 1 - 1/n; equal counts give 0.",
    ),
    reference=metrics.gini_index,
    mistakes=[
        Mistake("divided by n - 1", lambda c: _gini_variant(c, divisor_offset=1), "divided by n - 1"),
        Mistake("zero counts dropped", lambda c: _gini_variant(c, drop_zeros=True), "n counts *every* item"),
        Mistake("0-based ranks", lambda c: _gini_variant(c, first_rank=0), "ranks i run from 1 to n"),
        Mistake(
            "descending sort",
            lambda c: _gini_variant(c, ascending=False),
            "sort the counts in ascending order",
        ),
        Mistake("not sorted", lambda c: _gini_variant(c, sort=False), "sort the counts in ascending order"),
    ],
    alternatives=[_gini_mean_difference, _gini_lorenz],
)


# Calibration (Steck 2018). Five items in three categories, item 2 in two (so p(c|i) is 1/2 each), and
# three users: two histories whose lists miss a category of the history (the KL needs the smoothing) and
# one user without history (NaN). Every catalogued slip gives a different result on this fixture.
_CATEGORIES = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]])
_HISTORY = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 1, 0, 1, 1], [0, 0, 0, 0, 0]]))
_LISTS = np.array([[1, 3], [3, 4], [0, 1]])


def _calibration_variant(recommendations, history, item_categories, alpha=0.01, reverse=False, log=np.log,
                         smooth_toward="history", share_categories=True, empty=np.nan):
    """A learner's vectorised calibration KL; the keywords switch on the catalogued slips."""
    weights = np.asarray(item_categories, dtype=float)
    p_item = weights / weights.sum(axis=1, keepdims=True) if share_categories else weights
    seen = sp.csr_matrix(history).toarray() > 0
    sizes = seen.sum(axis=1)
    p = seen @ p_item
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    q = p_item[recommendations].mean(axis=1)
    q = q / q.sum(axis=1, keepdims=True)
    target = p if smooth_toward == "history" else np.full_like(p, 1 / p.shape[1])
    q_smoothed = q if smooth_toward is None else (1 - alpha) * q + alpha * target
    first, second = (q_smoothed, p) if reverse else (p, q_smoothed)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(first > 0, first * log(first / second), 0.0)
    return np.where(sizes > 0, terms.sum(axis=1), empty)


def _calibration_loops(recommendations, history, item_categories, alpha=0.01):
    history = sp.csr_matrix(history)
    shares = np.asarray(item_categories, dtype=float)
    shares = shares / shares.sum(axis=1, keepdims=True)
    values = []
    for user, items in enumerate(recommendations):
        known = history[user].indices
        if known.size == 0:
            values.append(np.nan)
            continue
        p = shares[known].mean(axis=0)
        q = (1 - alpha) * shares[items].mean(axis=0) + alpha * p
        values.append(sum(p_c * np.log(p_c / q_c) for p_c, q_c in zip(p, q, strict=True) if p_c > 0))
    return np.array(values)


def _calibration_rel_entr(recommendations, history, item_categories, alpha=0.01):
    shares = np.asarray(item_categories, dtype=float)
    shares = shares / shares.sum(axis=1, keepdims=True)
    rows = sp.csr_matrix(history, dtype=float)
    rows.data[:] = 1.0
    sizes = np.asarray(rows.sum(axis=1)).ravel()
    p = np.asarray(rows @ shares) / np.maximum(sizes, 1)[:, None]
    q = (1 - alpha) * shares[recommendations].mean(axis=1) + alpha * p
    return np.where(sizes > 0, rel_entr(p, q).sum(axis=1), np.nan)


_CALIBRATION_SLIPS = [
    (partial(_calibration_variant, smooth_toward=None),
     "a category of the history is missing from the list, so q(c) = 0 and the KL is infinite: smooth the "
     "list's mix first, q~ = (1 - alpha) q + alpha p"),
    (partial(_calibration_variant, reverse=True),
     "you computed KL(q~ || p): calibration is KL(p || q~), the history's mix p comes first (weights and "
     "numerator)"),
    (partial(_calibration_variant, log=np.log2), "use the natural log (nats, as in Steck 2018), not log2"),
    (partial(_calibration_variant, smooth_toward="uniform"),
     "smooth toward the user's own mix p, q~ = (1 - alpha) q + alpha p, not toward the uniform distribution"),
    (partial(_calibration_variant, share_categories=False),
     "an item in several categories counts 1 / (its number of categories) for each: p(c|i) sums to 1 per "
     "item (item 2 is in two categories)"),
    (partial(_calibration_variant, empty=0.0),
     "a user without history has no target mix: return NaN for them (not 0), so means skip them"),
]


def _test_calibration_kl(candidate) -> None:
    result = np.asarray(candidate(_LISTS, _HISTORY, _CATEGORIES), dtype=float)
    if result.shape != (3,):
        raise AssertionError(f"return one value per user: expected shape (3,), got {result.shape}.")
    expected = metrics.calibration_kl(_LISTS, _HISTORY, _CATEGORIES)
    if np.allclose(result, expected, equal_nan=True):
        return
    for slip, diagnosis in _CALIBRATION_SLIPS:
        if np.allclose(result, slip(_LISTS, _HISTORY, _CATEGORIES), equal_nan=True):
            raise AssertionError(f"you returned {np.round(result, 4).tolist()}: {diagnosis}.")
    raise AssertionError(
        f"expected {np.round(expected, 4).tolist()}, got {np.round(result, 4).tolist()}: per user, "
        "p(c|u) is the mean of p(c|i) over the history, q(c|u) the same over the list, "
        "q~ = (1 - alpha) q + alpha p and KL = sum over c with p(c) > 0 of p(c) ln(p(c) / q~(c)); "
        "NaN without history."
    )


calibration_kl = Exercise(
    "Calibration KL",
    test=_test_calibration_kl,
    hints=(
        "Two category mixes per user, one from the history (what they like) and one from the list (what "
        "they get); the KL divergence measures how badly the second represents the first. Smooth the list's "
        "mix a little toward the history's, or a missing category makes it infinite.",
        "p(c|i): an item's categories share one unit of mass equally. p(c|u): the average of p(c|i) over the "
        "user's history items; q(c|u): the same over the K listed items. q~ = (1 - alpha) q + alpha p. "
        "KL = sum over categories with p > 0 of p ln(p / q~), natural log; NaN for an empty history.",
    ),
    reference=metrics.calibration_kl,
    mistakes=[
        Mistake("no smoothing", _CALIBRATION_SLIPS[0][0], "smooth the list's mix"),
        Mistake("reversed KL(q || p)", _CALIBRATION_SLIPS[1][0], "KL(q~ || p)"),
        Mistake("log base 2", _CALIBRATION_SLIPS[2][0], "natural log"),
        Mistake("smoothing toward uniform", _CALIBRATION_SLIPS[3][0], "not toward the uniform"),
        Mistake("multi-category items counted fully", _CALIBRATION_SLIPS[4][0], "sums to 1 per item"),
        Mistake("0 instead of NaN without history", _CALIBRATION_SLIPS[5][0], "return NaN"),
    ],
    alternatives=[_calibration_variant, _calibration_loops, _calibration_rel_entr],
)
