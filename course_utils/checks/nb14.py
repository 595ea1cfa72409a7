"""Exercises of notebook 14 (the verdict): EASE in closed form; the new-item metrics of the cold start.

Each exercise carries its catalogue of plausible wrong answers (``mistakes``, each with the
fragment of the diagnosis its check must print) and of correct answers written differently
(``alternatives``); ``tests/test_checks.py`` runs both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from course_utils.coldstart import NewItemMetrics
from course_utils.coldstart import new_item_metrics as _reference_new_item_metrics
from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models.recommenders import EASE

# --------------------------------------------------------------------------------------------
# Exercise 14.1: EASE in closed form
# --------------------------------------------------------------------------------------------


def _clicks() -> sp.csr_array:
    """A small fixed click matrix (30 users x 8 items) with uneven item popularity."""
    rng = np.random.default_rng(14)
    popularity = np.linspace(0.6, 0.1, 8)
    return sp.csr_array((rng.random((30, 8)) < popularity).astype(np.float64))


def reference_ease_weights(X: sp.spmatrix, l2: float) -> np.ndarray:
    """EASE's ``B`` from the course's recommender (``course_utils.models.recommenders.EASE``)."""
    return np.asarray(EASE(l2=l2).fit(sp.csr_array(X)).weights_, dtype=np.float64)


def _test_ease_weights(candidate: Callable) -> None:
    X = _clicks()
    for l2 in (5.0, 50.0):
        weights = candidate(X, l2)
        if hasattr(weights, "toarray"):
            weights = weights.toarray()
        weights = np.asarray(weights, dtype=np.float64)
        n_items = X.shape[1]
        if weights.shape != (n_items, n_items):
            raise AssertionError(
                f"B must be item x item, shape ({n_items}, {n_items}); got {weights.shape}. "
                "Use the item Gram matrix X^T X (items x items), not X X^T (users x users)."
            )
        if not np.allclose(np.diag(weights), 0.0):
            raise AssertionError(
                "the diagonal of B must be 0 (an item may not predict itself): set it to 0 after "
                "computing -P / diag(P)."
            )
        expected = reference_ease_weights(X, l2)
        if np.allclose(weights, -expected, atol=1e-4):
            raise AssertionError("B has the wrong sign: B_ij = -P_ij / P_jj (note the minus).")
        if np.allclose(weights, expected.T, atol=1e-4) and not np.allclose(weights, expected, atol=1e-4):
            raise AssertionError(
                "B is transposed: divide each column j by P_jj (-P / np.diag(P) broadcasts over columns), "
                "not each row by P_ii."
            )
        gram = (X.T @ X).toarray()
        no_l2 = np.linalg.pinv(gram)
        no_l2 = -no_l2 / np.diag(no_l2)
        np.fill_diagonal(no_l2, 0.0)
        if np.allclose(weights, no_l2, atol=1e-4):
            raise AssertionError("the regulariser is missing: invert X^T X + l2 * I, not X^T X.")
        assert_close(weights, expected, f"B with l2={l2}", atol=1e-4, rtol=1e-3)


def _ease_no_zero_diagonal(X, l2):
    precision = np.linalg.inv((X.T @ X).toarray() + l2 * np.eye(X.shape[1]))
    return -precision / np.diag(precision)  # forgot the constraint diag(B) = 0


def _ease_rows_divided(X, l2):
    precision = np.linalg.inv((X.T @ X).toarray() + l2 * np.eye(X.shape[1]))
    weights = -precision / np.diag(precision)[:, None]  # row i divided by P_ii
    np.fill_diagonal(weights, 0.0)
    return weights


def _ease_no_l2(X, l2):
    precision = np.linalg.pinv((X.T @ X).toarray())
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return weights


def _ease_user_gram(X, l2):
    precision = np.linalg.inv((X @ X.T).toarray() + l2 * np.eye(X.shape[0]))  # users x users
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return weights


def _ease_plus_sign(X, l2):
    precision = np.linalg.inv((X.T @ X).toarray() + l2 * np.eye(X.shape[1]))
    weights = precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return weights


def _ease_ridge_without_constraint(X, l2):
    gram = (X.T @ X).toarray()
    return np.linalg.solve(gram + l2 * np.eye(X.shape[1]), gram)  # plain ridge: diagonal not 0


def _ease_identity_minus(X, l2):
    precision = np.linalg.inv((X.T @ X).toarray() + l2 * np.eye(X.shape[1]))
    weights = np.eye(X.shape[1]) - precision @ np.diag(1.0 / np.diag(precision))  # diagonal is 1 - 1 = 0
    np.fill_diagonal(weights, 0.0)  # exactly 0, not 1e-16
    return weights


def _ease_solve(X, l2):
    gram = (X.T @ X).toarray()
    precision = np.linalg.solve(gram + l2 * np.eye(len(gram)), np.eye(len(gram)))
    weights = -precision / precision.diagonal()[None, :]
    weights[np.diag_indices_from(weights)] = 0
    return weights


EASE_SOLUTION = """
def ease_weights(X, l2):
    gram = (X.T @ X).toarray().astype(np.float64)          # (n_items, n_items) co-occurrence counts
    precision = np.linalg.inv(gram + l2 * np.eye(gram.shape[0]))
    weights = -precision / np.diag(precision)              # column j divided by P_jj
    np.fill_diagonal(weights, 0.0)                         # an item may not predict itself
    return weights
"""

ease_weights = Exercise(
    "EASE in closed form",
    test=_test_ease_weights,
    hints=(
        "Everything comes from one inverse: of the item-item co-occurrence matrix with l2 added on its "
        "diagonal. Then each column of that inverse is scaled by its own diagonal entry.",
        "G = X^T X as a dense (n_items, n_items) array; P = inverse of G + l2 * identity; "
        "B_ij = -P_ij / P_jj (NumPy broadcasting divides column j by the j-th diagonal entry when you "
        "divide by the vector of diagonal entries); finally force the diagonal of B to 0.",
    ),
    reference=reference_ease_weights,
    solution=EASE_SOLUTION,
    mistakes=[
        Mistake("diagonal not set to zero", _ease_no_zero_diagonal, "diagonal of B must be 0"),
        Mistake("rows divided by P_ii instead of columns by P_jj", _ease_rows_divided, "B is transposed"),
        Mistake("regulariser missing", _ease_no_l2, "regulariser is missing"),
        Mistake("user Gram matrix X X^T", _ease_user_gram, "not X X^T"),
        Mistake("sign of B flipped", _ease_plus_sign, "wrong sign"),
        Mistake(
            "plain ridge, no diag(B) = 0 constraint",
            _ease_ridge_without_constraint,
            "diagonal of B must be 0",
        ),
    ],
    alternatives=[_ease_identity_minus, _ease_solve],
)


# --------------------------------------------------------------------------------------------
# Exercise 14.2: new-item metrics
# --------------------------------------------------------------------------------------------


def _hand_case() -> tuple[np.ndarray, sp.csr_array, np.ndarray, dict[str, np.ndarray | float]]:
    """Three users, 30 items, new items {25..29}; expected values worked out by hand (k=2, recall_k=4).

    user 0: list [25, 1, 26, 2, ...], targets {25, 27, 3}  -> new targets {25, 27}: recall 1/2, share 1/2
    user 1: list [25, 5, 6, 27, ...], targets {5}          -> no new target: recall NaN, share 1/2
    user 2: list [28, 29, 7, 8, ...], targets {29, 9}      -> new targets {29}: recall 1, share 1
    coverage@2: distinct new items in a top 2 = {25, 28, 29} -> 3/5 (4 slots; 5 new items in the top 4).
    """
    filler = np.arange(10, 22)
    lists = np.array(
        [
            [25, 1, 26, 2, *filler[:8]],
            [25, 5, 6, 27, *filler[:8]],
            [28, 29, 7, 8, *filler[:8]],
        ]
    )
    rows, cols = [0, 0, 0, 1, 2, 2], [25, 27, 3, 5, 29, 9]
    targets = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(3, 30))
    expected = {"recall": np.array([0.5, np.nan, 1.0]), "share": np.array([0.5, 0.5, 1.0]), "coverage": 3 / 5}
    return lists, targets, np.arange(25, 30), expected


def _random_case(seed: int = 3) -> tuple[np.ndarray, sp.csr_array, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 60
    lists = np.stack([rng.permutation(n_items)[:20] for _ in range(n_users)])
    targets = sp.csr_array((rng.random((n_users, n_items)) < 0.08).astype(np.float64))
    return lists, targets, np.sort(rng.choice(n_items, 12, replace=False))


def _unpack(result) -> tuple[np.ndarray, np.ndarray, float]:
    if isinstance(result, NewItemMetrics):
        return (
            np.asarray(result.recall, dtype=float),
            np.asarray(result.share, dtype=float),
            float(result.coverage),
        )
    try:
        recall, share, coverage = result
    except (TypeError, ValueError) as error:
        raise AssertionError(
            f"return coldstart.NewItemMetrics(recall, share, coverage), got {type(result).__name__}."
        ) from error
    return np.asarray(recall, dtype=float), np.asarray(share, dtype=float), float(coverage)


def _test_new_item_metrics(candidate: Callable) -> None:
    lists, targets, new_items, expected = _hand_case()
    recall, share, coverage = _unpack(candidate(lists, targets, new_items, k=2, recall_k=4))
    if recall.shape != (3,) or share.shape != (3,):
        raise AssertionError(
            f"recall and share are per user: shape (3,) here; got {recall.shape} and {share.shape}."
        )
    if np.isclose(recall[0], 1 / 3):
        raise AssertionError(
            "user 0's recall counts all their targets (3) in the denominator: only the targets that are "
            "new items count (2 of them), so it is 1/2."
        )
    if not np.isnan(recall[1]):
        raise AssertionError(
            "user 1 has no new-item target, so their new-item recall is undefined: NaN, not "
            f"{recall[1]:g} (a 0 would count them as a miss and drag the mean down)."
        )
    if np.isclose(recall[0], 1 / 4) or np.isclose(recall[2], 1 / 4):
        raise AssertionError("recall divides by the list length: divide by the number of new-item targets.")
    if np.isclose(recall[0], 1.0):
        raise AssertionError(
            "user 0's recall counts hits beyond the cut-off or on old items: only the first recall_k "
            "items and only new-item targets count."
        )
    assert_close(
        np.nan_to_num(recall, nan=-1), np.nan_to_num(expected["recall"], nan=-1), "recall on the hand case"
    )
    if np.allclose(share, [2 / 4, 2 / 4, 2 / 4]):
        raise AssertionError("share counts the first recall_k slots: the share is over the top k slots.")
    assert_close(share, expected["share"], "share of top-k slots on the hand case")
    if np.isclose(coverage, 3 / 30):
        raise AssertionError("coverage divides by the whole catalog: divide by the number of new items.")
    if np.isclose(coverage, 1.0):
        raise AssertionError("coverage counts new items beyond the top k: only the first k slots count.")
    if np.isclose(coverage, 4 / 5):
        raise AssertionError(
            "coverage counts slots, not distinct items: an item shown to several users counts once."
        )
    assert_close(coverage, expected["coverage"], "coverage on the hand case")
    lists, targets, new_items = _random_case()
    got = _unpack(candidate(lists, targets, new_items, k=10, recall_k=20))
    want = _reference_new_item_metrics(lists, targets, new_items, k=10, recall_k=20)
    assert_close(np.nan_to_num(got[0], nan=-1), np.nan_to_num(want.recall, nan=-1), "recall on random lists")
    assert_close(got[1], want.share, "share on random lists")
    assert_close(got[2], want.coverage, "coverage on random lists")


def _metrics_all_targets(lists, targets, new_items, k=10, recall_k=20):
    from course_utils import metrics

    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    return NewItemMetrics(metrics.recall_at_k(lists, targets, recall_k), reference.share, reference.coverage)


def _metrics_zero_not_nan(lists, targets, new_items, k=10, recall_k=20):
    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    return NewItemMetrics(np.nan_to_num(reference.recall, nan=0.0), reference.share, reference.coverage)


def _metrics_share_over_recall_k(lists, targets, new_items, k=10, recall_k=20):
    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    is_new = np.isin(lists[:, :recall_k], new_items)
    return NewItemMetrics(reference.recall, is_new.mean(axis=1), reference.coverage)


def _metrics_coverage_of_catalog(lists, targets, new_items, k=10, recall_k=20):
    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    shown_new = np.intersect1d(lists[:, :k], new_items).size
    return NewItemMetrics(reference.recall, reference.share, shown_new / targets.shape[1])


def _metrics_coverage_counts_slots(lists, targets, new_items, k=10, recall_k=20):
    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    slots = np.isin(lists[:, :k], new_items).sum()
    return NewItemMetrics(reference.recall, reference.share, slots / len(new_items))


def _metrics_recall_over_list_length(lists, targets, new_items, k=10, recall_k=20):
    reference = _reference_new_item_metrics(lists, targets, new_items, k, recall_k)
    recall = reference.recall * np.nan_to_num(
        np.asarray(sp.csr_array(targets)[:, new_items].sum(axis=1)).ravel() / recall_k, nan=0.0
    )
    return NewItemMetrics(
        np.where(np.isnan(reference.recall), np.nan, recall), reference.share, reference.coverage
    )


def _loop_new_item_metrics(lists, targets, new_items, k=10, recall_k=20):
    targets = sp.csr_array(targets)
    is_new = np.zeros(targets.shape[1], dtype=bool)
    is_new[new_items] = True
    recall = np.full(len(lists), np.nan)
    for user, row in enumerate(lists):
        wanted = targets.indices[targets.indptr[user] : targets.indptr[user + 1]]
        wanted = wanted[is_new[wanted]]
        if wanted.size:
            recall[user] = np.isin(row[:recall_k], wanted).sum() / wanted.size
    share = is_new[lists[:, :k]].mean(axis=1)
    coverage = is_new[np.unique(lists[:, :k])].sum() / is_new.sum()
    return NewItemMetrics(recall, share, float(coverage))


def _sets_new_item_metrics(lists, targets, new_items, k=10, recall_k=20):
    new = set(np.asarray(new_items).tolist())
    dense = sp.csr_array(targets).toarray() > 0
    recall, share, shown = [], [], set()
    for row, wanted in zip(lists, dense, strict=True):
        relevant = set(np.flatnonzero(wanted).tolist()) & new
        recall.append(len(relevant & set(row[:recall_k].tolist())) / len(relevant) if relevant else np.nan)
        share.append(sum(item in new for item in row[:k]) / k)
        shown |= set(row[:k].tolist()) & new
    return np.array(recall), np.array(share), len(shown) / len(new)  # a plain tuple works too


new_item_metrics = Exercise(
    "New-item metrics",
    test=_test_new_item_metrics,
    hints=(
        "Start from a boolean mask over the catalog that says which items are new; all three metrics only "
        "look at new items. Recall is undefined (NaN) for a user with no new-item target.",
        "recall: per user, the targets of the row that are new; hits among the first recall_k recommended "
        "items divided by how many such targets there are. share: the mask looked up at the top-k "
        "items, averaged per row. coverage: the distinct new items in any top k, over the number of new "
        "items.",
    ),
    reference=_reference_new_item_metrics,
    mistakes=[
        Mistake(
            "recall over all targets, not only new items",
            _metrics_all_targets,
            "only the targets that are new",
        ),
        Mistake("users without a new-item target counted as 0", _metrics_zero_not_nan, "NaN"),
        Mistake("share over the recall_k slots", _metrics_share_over_recall_k, "over the top k slots"),
        Mistake(
            "coverage divided by the catalog size",
            _metrics_coverage_of_catalog,
            "divide by the number of new",
        ),
        Mistake("coverage counts slots, not distinct items", _metrics_coverage_counts_slots, "counts slots"),
        Mistake(
            "recall divided by the list length",
            _metrics_recall_over_list_length,
            "divides by the list length",
        ),
    ],
    alternatives=[_loop_new_item_metrics, _sets_new_item_metrics],
)
