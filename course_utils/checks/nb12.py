"""Exercises of notebook 12 (filter-bubble simulation): one round of the loop, the adaptive weight."""

from __future__ import annotations

from functools import cache

import numpy as np
import scipy.sparse as sp

from course_utils.exercises import Exercise, Mistake, as_float_array, assert_close
from course_utils.ranking import candidate_set
from course_utils.simulation import RelevancePolicy, first_clicks, play_round, update_diversity_weights

# ---------------------------------------------------------------------------------- Exercise 12.1

_ROUND_USERS = np.arange(0, 1000, 25)  # 40 of the shop's users
_ROUND_K, _ROUND_CANDIDATES, _ROUND_SEED = 10, 100, 5


@cache
def _young_shop():
    """The shop's simulator and its young-shop log (each user's first 5 clicks), as in the notebook."""
    from course_utils.data import load_fashion_shop

    shop = load_fashion_shop()
    return shop.simulator, first_clicks(shop.interactions, 5)


def one_round(simulator, model, log, users, k, n_candidates, rng):
    """Reference of Exercise 12.1: relevance-only ``simulation.play_round``; ``(slates, clicks, new_log)``."""
    result = play_round(simulator, model, RelevancePolicy(), log, users, k, n_candidates, rng)
    return result.slates, result.clicks, result.log


def _test_one_round(candidate) -> None:
    from course_utils.models.recommenders import ItemKNN

    simulator, log = _young_shop()
    before = log.copy()
    args = (simulator, ItemKNN(), log, _ROUND_USERS, _ROUND_K, _ROUND_CANDIDATES)
    answer = candidate(*args, np.random.default_rng(_ROUND_SEED))
    if not isinstance(answer, tuple) or len(answer) != 3:
        raise AssertionError("return three things: (slates, clicks, new_log).")
    slates, clicks, new_log = answer
    if (log != before).nnz:
        raise AssertionError("do not modify the log you are given: build a new log with the clicks added.")
    expected_slates, expected_clicks, expected_log = one_round(
        *args[:1], ItemKNN(), *args[2:], np.random.default_rng(_ROUND_SEED)
    )
    slates = np.asarray(slates)
    if slates.shape != expected_slates.shape:
        raise AssertionError(
            f"slates must be (len(users), k) = {expected_slates.shape}: one row per user in users; "
            f"got {slates.shape}."
        )
    if np.take_along_axis(log[_ROUND_USERS].toarray(), slates.astype(np.int64), axis=1).any():
        raise AssertionError(
            "a slate holds an item the user already clicked: exclude each user's row of the log when you "
            "pick the candidates (exclude=log[users])."
        )
    if not np.array_equal(slates, expected_slates):
        raise AssertionError(
            "the slates differ from relevance-only ranking: fit the model on the current log, score the "
            "users, and show each user's k best candidates in score order."
        )
    clicks = np.asarray(clicks)
    if clicks.shape != expected_clicks.shape or not np.array_equal(clicks, expected_clicks):
        raise AssertionError(
            "the clicks differ: draw them once with simulator.click(users, slates, rng), using the rng you "
            "are given (the same random numbers give every policy the same luck)."
        )
    grown = as_float_array(sp.csr_array(new_log).toarray(), "new_log")
    if grown.shape != log.shape:
        raise AssertionError(f"new_log must keep the log's shape {log.shape}, got {grown.shape}.")
    added = grown - log.toarray()
    if not added.any():
        raise AssertionError("the clicks must join the log: new_log has no new click.")
    if added.sum() > clicks.sum():
        raise AssertionError(
            "new_log has more new entries than there were clicks: only clicked items join the log, not every "
            "item shown."
        )
    if not np.array_equal(grown, expected_log.toarray()):
        raise AssertionError(
            "the new clicks are in the wrong cells: a click at position p of row r is item slates[r, p] of "
            "user users[r] (row r is not user r)."
        )


def _round_without_exclusion(simulator, model, log, users, k, n_candidates, rng):
    model.fit(log)
    slates = candidate_set(model.score(users), n_candidates).items[:, :k]
    return _finish_round(simulator, log, users, slates, rng)


def _finish_round(simulator, log, users, slates, rng, impressions=False, by_position=False, by_row=False):
    clicks = simulator.click(users, slates, rng)
    rows, positions = np.nonzero(np.ones_like(clicks) if impressions else clicks)
    items = positions if by_position else slates[rows, positions]
    owners = rows if by_row else users[rows]
    new = sp.csr_array((np.ones(len(rows), np.float32), (owners, items)), shape=log.shape)
    return slates, clicks, sp.csr_array(((log + new) > 0).astype(np.float32))


def _round(simulator, model, log, users, k, n_candidates, rng, **slips):
    model.fit(log)
    slates = candidate_set(model.score(users), n_candidates, exclude=log[users]).items[:, :k]
    return _finish_round(simulator, log, users, slates, rng, **slips)


def _round_with_fresh_rng(simulator, model, log, users, k, n_candidates, rng):
    return _round(simulator, model, log, users, k, n_candidates, np.random.default_rng())


def _round_log_unchanged(simulator, model, log, users, k, n_candidates, rng):
    slates, clicks, _ = _round(simulator, model, log, users, k, n_candidates, rng)
    return slates, clicks, log


def _round_dense(simulator, model, log, users, k, n_candidates, rng):
    model.fit(log)
    scores = model.score(users).astype(np.float64)
    scores[log[users].toarray() > 0] = -np.inf
    slates = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    clicks = simulator.click(users, slates, rng)
    grown = log.toarray()
    for row, position in zip(*np.nonzero(clicks), strict=True):
        grown[users[row], slates[row, position]] = 1.0
    return slates, clicks, sp.csr_array(grown)


def _round_lil(simulator, model, log, users, k, n_candidates, rng):
    model.fit(log)
    candidates, _ = candidate_set(model.score(users), n_candidates, exclude=log[users])
    slates = candidates[:, :k]
    clicks = simulator.click(users, slates, rng)
    grown = sp.lil_matrix(log)
    grown[users[:, None].repeat(k, axis=1)[clicks], slates[clicks]] = 1.0
    return slates, clicks, grown.tocsr()


round_by_hand = Exercise(
    "Exercise 12.1 · One round of the loop",
    test=_test_one_round,
    hints=(
        "A round is: learn from the log, recommend, let the users click, write the clicks down. Items a user "
        "already clicked are never recommended again; items shown but not clicked may come back.",
        "model.fit(log); take each user's n_candidates best unclicked items with ranking.candidate_set "
        "(its exclude argument takes the users' log rows) and keep the first k; simulator.click(users, "
        "slates, rng) gives a (n, k) boolean matrix; each True at (r, p) adds item slates[r, p] to user "
        "users[r]'s row of a new log.",
    ),
    reference=one_round,
    mistakes=[
        Mistake("clicked items recommended again", _round_without_exclusion, "already clicked"),
        Mistake("a fresh random generator", _round_with_fresh_rng, "using the rng you are given"),
        Mistake("the log does not grow", _round_log_unchanged, "must join the log"),
        Mistake(
            "every shown item logged",
            lambda *a: _round(*a, impressions=True),
            "only clicked items join the log",
        ),
        Mistake("positions logged as items", lambda *a: _round(*a, by_position=True), "is item slates[r, p]"),
        Mistake("rows taken for user ids", lambda *a: _round(*a, by_row=True), "row r is not user r"),
    ],
    alternatives=[_round_dense, _round_lil],
)


# ---------------------------------------------------------------------------------- Exercise 12.2

# Four users, slates of four; the relevance top-4 of every user is items 0-3.
_RELEVANCE = np.array([[0, 1, 2, 3]] * 4)
_SLATES = np.array([[0, 1, 8, 9]] * 3 + [[0, 1, 2, 3]])  # positions 2, 3 inserted; the last user: none
_CLICKS = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool)
_EXAMINATION = np.array([1.0, 0.5, 0.5, 0.25])


def _update(candidate, weights, slates, clicks, relevance, step_size, bounds):
    """Call the update exactly as the simulation does (step size and bounds by keyword)."""
    return np.asarray(
        candidate(
            weights.copy(), slates, clicks, relevance, _EXAMINATION, step_size=step_size, bounds=bounds
        ),
        dtype=float,
    )


def _test_update(candidate) -> None:
    weights = np.full(4, 0.5)
    got = _update(candidate, weights, _SLATES, _CLICKS, _RELEVANCE, 0.1, (0.0, 1.0))
    if got.shape != (4,):
        raise AssertionError(f"return one weight per user, shape (4,); got shape {got.shape}.")
    if got[0] < 0.5 and got[1] > 0.5:
        raise AssertionError(
            "the weights move the wrong way: the signal is a_inserted - a_kept (more diversity for users "
            "who click what the re-ranker inserted)."
        )
    if got[0] <= 0.5:
        raise AssertionError(
            "user 0 clicked only an item the re-ranker inserted, so its weight must go up from 0.5; "
            f"got {got[0]:.3f}."
        )
    if got[1] >= 0.5:
        raise AssertionError(
            f"user 1 clicked only a relevance item, so its weight must go down; got {got[1]:.3f}."
        )
    if not np.isclose(got[3], 0.5):
        raise AssertionError(
            "user 3's slate has no inserted item (no evidence), so its weight must stay 0.5; "
            f"got {got[3]:.3f}. Treat an empty group's attraction as unknown (NaN) and the signal as 0."
        )
    if np.isclose(got[2], 0.5):
        raise AssertionError(
            "user 2 clicked one inserted item (position 2, examined with probability 0.5) and one kept item "
            "(position 0, probability 1): debiased by examination, the inserted group wins. "
            "Divide clicks by the summed examination probabilities of each group, not by the number of items."
        )
    assert_close(got, [0.5 + 0.4 / 3, 0.5 - 0.2 / 3, 0.5 + 0.2 / 3, 0.5], "the updated weights")
    clipped = _update(candidate, weights, _SLATES, _CLICKS, _RELEVANCE, 10.0, (0.1, 0.9))
    assert_close(clipped, [0.9, 0.1, 0.9, 0.5], "the weights with a large step (clip them to the bounds)")
    # A kept item that the re-ranker moved down: item 1 sits at position 2 but is still a relevance item.
    moved = _update(
        candidate,
        np.full(1, 0.5),
        np.array([[0, 8, 1, 9]]),
        np.array([[0, 0, 1, 0]], bool),
        _RELEVANCE[:1],
        0.1,
        (0.0, 1.0),
    )
    if moved[0] > 0.5:
        raise AssertionError(
            "item 1 moved to position 2 but is still one of the user's relevance items, so it is *kept*, not "
            "inserted: an item is inserted when it appears nowhere in the relevance slate (compare sets, not "
            "positions)."
        )


def _adapt(
    weights,
    slates,
    clicks,
    relevance_slates,
    examination,
    step_size=0.1,
    bounds=(0.05, 0.95),
    debias=True,
    clip=True,
    sign=1.0,
    by_position=False,
    empty_is_zero=True,
):
    """A learner's update; the keywords switch on the catalogued slips."""
    if by_position:
        inserted = slates != relevance_slates
    else:
        inserted = np.array(
            [
                [item not in set(row) for item in slate]
                for slate, row in zip(slates, relevance_slates, strict=True)
            ]
        )
    exposure = examination if debias else np.ones_like(examination)

    def attraction(group):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (group * clicks).sum(axis=1) / (group * exposure).sum(axis=1)

    signal = sign * (attraction(inserted) - attraction(~inserted))
    signal = np.nan_to_num(signal) if empty_is_zero else signal
    updated = weights + step_size * signal
    return np.clip(updated, *bounds) if clip else updated


def _adapt_per_user(
    weights, slates, clicks, relevance_slates, examination, step_size=0.1, bounds=(0.05, 0.95)
):
    new = np.array(weights, dtype=float)
    for user in range(len(slates)):
        inserted = ~np.isin(slates[user], relevance_slates[user])
        groups = []
        for group in (inserted, ~inserted):
            seen = examination[group].sum()
            groups.append(clicks[user][group].sum() / seen if seen > 0 else None)
        if None not in groups:
            new[user] = min(max(new[user] + step_size * (groups[0] - groups[1]), bounds[0]), bounds[1])
    return new


update_weights = Exercise(
    "Exercise 12.2 · Adapt each user's diversity weight from their clicks",
    test=_test_update,
    hints=(
        "Split each slate into the items the re-ranker inserted and those it kept from the relevance list. "
        "If the user clicks the inserted ones more, raise their weight; if the kept ones, lower it. Lower "
        "positions are seen less often, so a click there counts for more.",
        "inserted = slate items that appear nowhere in the user's relevance slate. For each group, "
        "attraction "
        "a = clicks in the group / summed examination probabilities of the group (NaN when the group is "
        "empty). New weight = clip(weight + step_size * (a_inserted - a_kept), low, high), with a NaN signal "
        "counted as 0.",
    ),
    reference=update_diversity_weights,
    mistakes=[
        Mistake(
            "no position debiasing",
            lambda *a, **kw: _adapt(*a, **kw, debias=False),
            "debiased by examination",
        ),
        Mistake("no clipping", lambda *a, **kw: _adapt(*a, **kw, clip=False), "clip them to the bounds"),
        Mistake(
            "signal with the wrong sign",
            lambda *a, **kw: _adapt(*a, **kw, sign=-1.0),
            "the weights move the wrong way",
        ),
        Mistake(
            "inserted by position",
            lambda *a, **kw: _adapt(*a, **kw, by_position=True),
            "compare sets, not positions",
        ),
        Mistake(
            "empty group gives NaN", lambda *a, **kw: _adapt(*a, **kw, empty_is_zero=False), "no evidence"
        ),
    ],
    alternatives=[_adapt, _adapt_per_user],
)
