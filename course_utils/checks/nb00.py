"""Exercises of notebook 00 (welcome): a first taste of measuring concentration."""

from __future__ import annotations

import math

import numpy as np

from course_utils.exercises import Exercise, Mistake


def top_share(exposures: np.ndarray, fraction: float = 0.1) -> float:
    """Share of all exposures that go to the ``fraction`` most-exposed items.

    top_share = sum of the ceil(fraction * n) largest counts / sum of all counts.
    """
    exposures = np.asarray(exposures, dtype=float)
    if exposures.ndim != 1 or exposures.size == 0 or exposures.sum() <= 0:
        raise ValueError("need a non-empty 1-D array of counts with a positive total")
    n_top = int(np.ceil(fraction * exposures.size))
    return float(np.sort(exposures)[::-1][:n_top].sum() / exposures.sum())


def _test_top_share(candidate) -> None:
    counts = np.array([5, 1, 1, 1, 1, 1, 1, 1, 1, 87])  # one blockbuster among ten items
    got = float(candidate(counts, 0.1))
    if np.isclose(got, 87):
        raise AssertionError("you returned the exposures of the top items (87): divide by the total count.")
    if np.isclose(got, 0.01):
        raise AssertionError(
            "you took the *least* exposed item (1 of 100): sort the counts in decreasing order."
        )
    if np.isclose(got, 0.05):
        raise AssertionError(
            "you took the first item of the array (5 of 100): order must not matter, sort the counts first."
        )
    assert np.isclose(got, 0.87), f"the top 10% (1 item) holds 87 of 100 exposures: expected 0.87, got {got}"
    equal = np.full(20, 5)
    got = float(candidate(equal, 0.5))
    assert np.isclose(got, 0.5), f"with equal exposure the top half holds half: expected 0.5, got {got}"
    got = float(candidate(np.array([3, 0, 7, 0, 0]), 0.2))
    assert np.isclose(got, 0.7), (
        f"order must not matter: the largest of [3, 0, 7, 0, 0] is 7 of 10, got {got}"
    )
    thirteen = np.array([50, 30] + [2] * 11)  # 10% of 13 items is 1.3 items: the top 2 count
    got = float(candidate(thirteen, 0.1))
    if np.isclose(got, 50 / 102):
        raise AssertionError(
            "10% of 13 items is 1.3 items: round the number of top items *up*, ceil(fraction * n) = 2, "
            f"so the top share is 80/102; got {got:.3f} (one item)."
        )
    assert np.isclose(got, 80 / 102), f"the top 2 of 13 items hold 80 of 102 exposures, got {got:.3f}"


def _smallest_first(exposures, fraction=0.1):
    return np.sort(exposures)[: math.ceil(fraction * len(exposures))].sum() / np.sum(exposures)


def _rounded_down(exposures, fraction=0.1):
    return np.sort(exposures)[::-1][: int(fraction * len(exposures))].sum() / np.sum(exposures)


def _unsorted(exposures, fraction=0.1):
    return exposures[: math.ceil(fraction * len(exposures))].sum() / np.sum(exposures)


def _not_divided(exposures, fraction=0.1):
    return np.sort(exposures)[::-1][: math.ceil(fraction * len(exposures))].sum()


def _with_sorted(exposures, fraction=0.1):
    ranked = sorted(exposures, reverse=True)
    return sum(ranked[: math.ceil(fraction * len(ranked))]) / sum(ranked)


def _with_negated_sort(exposures, fraction=0.1):
    counts = np.asarray(exposures, dtype=float)
    return -np.sort(-counts)[: int(np.ceil(fraction * counts.size))].sum() / counts.sum()


top_share_exercise = Exercise(
    "Share of exposures held by the top items",
    test=_test_top_share,
    hints=(
        "Which items are 'the top'? Put the counts in order first, then it is a ratio of two sums.",
        "Sort the counts from largest to smallest, keep the first ceil(fraction * n) of them "
        "(np.ceil rounds 1.3 items up to 2), and divide their sum by the sum of all counts.",
    ),
    reference=top_share,
    mistakes=[
        Mistake("ascending sort (smallest items)", _smallest_first, "sort the counts in decreasing order"),
        Mistake("int() rounds the number of items down", _rounded_down, "round the number of top items *up*"),
        Mistake("forgot to sort", _unsorted, "order must not matter"),
        Mistake("forgot to divide by the total", _not_divided, "divide by the total count"),
    ],
    alternatives=[_with_sorted, _with_negated_sort],
)


def head_share_per_user(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, fraction: float = 0.1
) -> np.ndarray:
    """Per user: the share of her impressions that fall on the log's head, ``(n_users,)``.

    The head is the ``ceil(fraction * n_items)`` items with the most impressions in the whole log
    (``users[j]`` saw ``items[j]``); a user without impressions gets ``NaN``. Its mean over users is
    close to the top-``fraction`` share of the log (equal when every user has as many impressions).
    """
    users, items = np.asarray(users), np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(
            f"users and items must be 1-D arrays of equal length, got {users.shape} and {items.shape}"
        )
    exposure = np.bincount(items, minlength=n_items)
    head = np.zeros(n_items, dtype=bool)
    head[np.argsort(-exposure, kind="stable")[: int(np.ceil(fraction * n_items))]] = True
    shown = np.bincount(users, minlength=n_users)
    on_head = np.bincount(users, weights=head[items], minlength=n_users)
    return np.where(shown > 0, on_head / np.maximum(shown, 1), np.nan)


# A log of 4 users over 12 items. Exposure: item 7 -> 6, item 2 -> 4, item 9 -> 3, others <= 1, so the
# head of 10% (ceil(1.2) = 2 items) is {7, 2}; int(1.2) = 1 item would be {7} only. User 1's own top
# items are 9 and one of her single items, never {7, 2}. User 3 saw nothing.
_HEAD_USERS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
_HEAD_ITEMS = np.array([7, 7, 2, 0, 9, 9, 2, 1, 3, 7, 7, 7, 7, 2, 2, 9, 4, 5, 6, 8])
_HEAD_EXPECTED = np.array([3 / 4, 2 / 6, 5 / 10, np.nan])


def _test_head_share_per_user(candidate) -> None:
    got = candidate(_HEAD_USERS, _HEAD_ITEMS, 4, 12, 0.1)
    got = np.asarray(got, dtype=float)
    if got.shape != (4,):
        if got.shape == (3,):
            raise AssertionError(
                "you returned 3 values for 4 users: user 3 saw nothing, but every user needs an entry "
                "(NaN for a user without impressions), so that rows line up with user ids."
            )
        raise AssertionError(f"return one value per user, shape (n_users,) = (4,); got shape {got.shape}.")
    if not np.isnan(got[3]):
        raise AssertionError(
            f"user 3 has no impressions, so her share is undefined: return NaN, not {got[3]:.3g}."
        )
    seen = got[:3]
    if np.allclose(seen, [3, 2, 5]):
        raise AssertionError(
            "you returned the *number* of head impressions per user: divide by her impressions."
        )
    if np.allclose(seen, [2 / 4, 1 / 6, 3 / 10]):
        raise AssertionError(
            "your head has 1 item, but 10% of 12 items is 1.2 items: "
            "round *up*, ceil(fraction * n_items) = 2."
        )
    if np.allclose(seen, [3 / 20, 2 / 20, 5 / 20]):
        raise AssertionError("divide by each user's own number of impressions, not by the whole log's.")
    if np.allclose(seen, [3 / 4, 3 / 6, 5 / 10]):
        raise AssertionError(
            "the head is one set for the whole log (its most-exposed items), not each user's own top items."
        )
    assert np.allclose(seen, _HEAD_EXPECTED[:3]), (
        f"expected shares {np.round(_HEAD_EXPECTED[:3], 3).tolist()} for users 0-2 (head = items 7 and 2), "
        f"got {np.round(seen, 3).tolist()}."
    )
    shares = np.asarray(
        candidate(np.array([0, 1, 1, 1, 0]), np.array([5, 5, 0, 2, 0]), 2, 6, 0.3), dtype=float
    )
    assert np.allclose(shares, [1.0, 2 / 3]), (
        "with fraction 0.3 the head is the ceil(1.8) = 2 most-exposed of 6 items, {5, 0}; expected [1, 2/3] "
        f"for the log users [0, 1, 1, 1, 0], items [5, 5, 0, 2, 0], got {np.round(shares, 3).tolist()}."
    )


def _head_counts(users, items, n_users, n_items, fraction=0.1):
    head = np.argsort(-np.bincount(items, minlength=n_items), kind="stable")[: math.ceil(fraction * n_items)]
    counts = np.bincount(users, weights=np.isin(items, head), minlength=n_users)
    return np.where(np.bincount(users, minlength=n_users) > 0, counts, np.nan)


def _head_rounded_down(users, items, n_users, n_items, fraction=0.1):
    head = np.argsort(-np.bincount(items, minlength=n_items), kind="stable")[: int(fraction * n_items)]
    shown = np.bincount(users, minlength=n_users)
    on_head = np.bincount(users, weights=np.isin(items, head), minlength=n_users)
    return np.where(shown > 0, on_head / np.maximum(shown, 1), np.nan)


def _head_whole_log_denominator(users, items, n_users, n_items, fraction=0.1):
    head = np.argsort(-np.bincount(items, minlength=n_items), kind="stable")[: math.ceil(fraction * n_items)]
    on_head = np.bincount(users, weights=np.isin(items, head), minlength=n_users)
    return np.where(np.bincount(users, minlength=n_users) > 0, on_head / len(items), np.nan)


def _head_per_user(users, items, n_users, n_items, fraction=0.1):
    shares = np.full(n_users, np.nan)
    for user in np.unique(users):
        mine = items[users == user]
        own_head = np.argsort(-np.bincount(mine, minlength=n_items), kind="stable")[
            : math.ceil(fraction * n_items)
        ]
        shares[user] = np.isin(mine, own_head).mean()
    return shares


def _head_users_dropped(users, items, n_users, n_items, fraction=0.1):
    head = np.argsort(-np.bincount(items, minlength=n_items), kind="stable")[: math.ceil(fraction * n_items)]
    return np.array([np.isin(items[users == user], head).mean() for user in np.unique(users)])


def _head_with_pandas(users, items, n_users, n_items, fraction=0.1):
    import pandas as pd

    exposure = pd.Series(items).value_counts()
    head = set(exposure.index[: math.ceil(fraction * n_items)])
    on_head = pd.Series([item in head for item in items], index=users)
    return on_head.groupby(level=0).mean().reindex(range(n_users)).to_numpy(dtype=float)


def _head_with_loops(users, items, n_users, n_items, fraction=0.1):
    exposure = [0] * n_items
    for item in items:
        exposure[item] += 1
    ranked = sorted(range(n_items), key=lambda item: -exposure[item])
    head = set(ranked[: math.ceil(fraction * n_items)])
    shown, on_head = [0] * n_users, [0] * n_users
    for user, item in zip(users, items, strict=True):
        shown[user] += 1
        on_head[user] += item in head
    return np.array([on_head[u] / shown[u] if shown[u] else np.nan for u in range(n_users)])


head_share_per_user_exercise = Exercise(
    "Each shopper's share of impressions on the head",
    test=_test_head_share_per_user,
    hints=(
        "Two steps: first find the head of the whole log (its most-exposed items, as in top_share), then, "
        "for each user, which fraction of *her* impressions landed on it. Users without impressions get NaN.",
        "exposure = impressions per item (np.bincount with minlength n_items); the head is the "
        "ceil(fraction * n_items) items with the largest exposure; per user, divide her impressions on the "
        "head (a bincount over users, weighted by 'is in the head') by all her impressions.",
    ),
    reference=head_share_per_user,
    mistakes=[
        Mistake("counts instead of shares", _head_counts, "divide by her impressions"),
        Mistake("int() rounds the head down", _head_rounded_down, "round *up*"),
        Mistake(
            "divided by the whole log", _head_whole_log_denominator, "each user's own number of impressions"
        ),
        Mistake("each user's own head", _head_per_user, "one set for the whole log"),
        Mistake("users without impressions dropped", _head_users_dropped, "every user needs an entry"),
    ],
    alternatives=[_head_with_pandas, _head_with_loops],
)
