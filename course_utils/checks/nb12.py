"""Exercises of notebook 12 (filter-bubble simulation): the adaptive diversity weight."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.simulation import update_diversity_weights

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
    "Adapt each user's diversity weight from their clicks",
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
