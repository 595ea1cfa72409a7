"""Exercises of notebook 09 (model fusion): weighted fusion with normalisation, and a cascade stage."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models import score_fusion


def _fuse(scores, weights, normalise):
    return sum(weights[name] * normalise(values) for name, values in scores.items())


def _row_minmax(values, axis=-1):
    low, high = values.min(axis=axis, keepdims=True), values.max(axis=axis, keepdims=True)
    return (values - low) / (high - low)


_FUSION_SLIPS = [
    (lambda v: v, "the scorers were fused unnormalised: min-max normalise each scorer's scores first."),
    (
        lambda v: (v - v.min()) / (v.max() - v.min()),
        "normalise each row (user) on its own, not the whole matrix at once.",
    ),
    (
        lambda v: _row_minmax(v, axis=0),
        "normalise along each row (axis=-1, one user's items), not down the columns.",
    ),
    (
        lambda v: (v - v.mean(-1, keepdims=True)) / v.std(-1, keepdims=True),
        "use min-max normalisation, not a z-score.",
    ),
]


def _test_weighted_fusion(candidate) -> None:
    rng = np.random.default_rng(0)
    cf, text = rng.normal(size=(3, 6)), 1000.0 * rng.normal(size=(3, 6)) + 50.0  # very different scales
    scores, weights = {"cf": cf, "text": text}, {"cf": 0.7, "text": 0.3}
    expected = score_fusion.weighted_fusion(scores, weights, "minmax")
    fused = np.asarray(candidate(scores, weights), dtype=float)
    if fused.shape != expected.shape:
        raise AssertionError(f"the result should have shape {expected.shape}, got {fused.shape}.")
    for normalise, message in _FUSION_SLIPS:
        if np.allclose(fused, _fuse(scores, weights, normalise)):
            raise AssertionError(message)
    if np.allclose(fused, _fuse(scores, {"cf": 1.0, "text": 1.0}, _row_minmax)):
        raise AssertionError("the weights were ignored: multiply each normalised scorer by its weight.")
    only_cf = candidate(scores, {"cf": 1.0, "text": 0.0})
    assert_close(
        only_cf,
        score_fusion.normalize_scores(cf, "minmax"),
        "the fusion with weights cf=1, text=0 (it should be cf's min-max normalised scores, per row)",
    )
    assert_close(
        fused, expected, "the fusion with weights cf=0.7, text=0.3 (normalise each row before weighting)"
    )
    article = candidate(
        {"model 1": np.array([[1.0, 0, 1, 1]]), "model 2": np.array([[0.0, 1, 1, 0]])},
        {"model 1": 0.5, "model 2": 0.5},
    )
    assert_close(article, [[0.5, 0.5, 1.0, 0.5]], "the fusion of the article's §4.4 example")


def _fusion_slip(index):
    return lambda scores, weights: _fuse(scores, weights, _FUSION_SLIPS[index][0])


def _fusion_with_ptp(scores, weights):
    total = np.zeros_like(next(iter(scores.values())), dtype=float)
    for name in scores:
        values = scores[name]
        total += weights[name] * (values - values.min(axis=1)[:, None]) / np.ptp(values, axis=1)[:, None]
    return total


weighted_fusion = Exercise(
    "Weighted fusion with min-max normalisation",
    test=_test_weighted_fusion,
    hints=(
        "Scorers live on different scales (a cosine in [-1, 1], a CF score in the hundreds): bring each to "
        "[0, 1] for every user before you weigh and add them.",
        "For each scorer, min-max normalise every row (user) on its own: (s - row min) / (row max - "
        "row min), "
        "with keepdims so the shapes broadcast. Then add weights[name] times the normalised scores.",
    ),
    reference=score_fusion.weighted_fusion,
    solution="""
    def weighted_fusion(scores, weights):
        fused = 0.0
        for name, s in scores.items():
            low, high = s.min(axis=-1, keepdims=True), s.max(axis=-1, keepdims=True)
            fused = fused + weights[name] * (s - low) / (high - low)
        return fused
    """,
    mistakes=[
        Mistake("no normalisation", _fusion_slip(0), "fused unnormalised"),
        Mistake("global min-max", _fusion_slip(1), "normalise each row (user) on its own"),
        Mistake("min-max down the columns", _fusion_slip(2), "not down the columns"),
        Mistake("z-score", _fusion_slip(3), "not a z-score"),
        Mistake(
            "weights ignored",
            lambda scores, weights: _fuse(scores, dict.fromkeys(scores, 1.0), _row_minmax),
            "the weights were ignored",
        ),
    ],
    alternatives=[lambda scores, weights: _fuse(scores, weights, _row_minmax), _fusion_with_ptp],
)


def _test_keep_top_candidates(candidate) -> None:
    candidates = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [2.0, -1.0, 3.0, 0.0]])
    kept = np.asarray(candidate(candidates, scores, 2))
    if kept.shape != (2, 2):
        raise AssertionError(
            f"keeping 2 of 4 candidates for 2 users should give shape (2, 2), got {kept.shape}: "
            "sort within each row (axis=-1)."
        )
    slips = {
        "[[1, 2], [2, 0]]": "these are positions: return the item ids, candidates[user, position].",
        "[[10, 13], [21, 23]]": "these are the *worst* candidates: sort by decreasing score.",
        "[[10, 11], [20, 21]]": "these are the first candidates of each row: keep the best-*scored* ones.",
        "[[11, 12], [20, 22]]": "right items, wrong order: list them best first, by decreasing score.",
    }
    if str(kept.tolist()) in slips:
        raise AssertionError(
            f"expected the item ids [[11, 12], [22, 20]], got {kept.tolist()}: {slips[str(kept.tolist())]}"
        )
    assert kept.tolist() == [[11, 12], [22, 20]], (
        f"expected the item ids [[11, 12], [22, 20]] (best first), got {kept.tolist()}."
    )
    rng = np.random.default_rng(1)
    many = rng.permutation(100)[None, :50].repeat(3, axis=0)
    many_scores = rng.normal(size=(3, 50))
    assert_close(
        candidate(many, many_scores, 7),
        score_fusion.keep_top_candidates(many, many_scores, 7),
        "the 7 best of 50 random candidates",
    )


def _keep_by_loop(candidates, scores, keep):
    return np.array(
        [
            [item for _, item in sorted(zip(row_scores, row, strict=True), reverse=True)][:keep]
            for row, row_scores in zip(candidates, scores, strict=True)
        ]
    )


keep_top_candidates = Exercise(
    "A cascade stage: keep the best candidates",
    test=_test_keep_top_candidates,
    hints=(
        "Sort each user's candidates by their score, best first, and keep the first `keep`. Sorting gives "
        "you positions within the row: translate them back into item ids.",
        "np.argsort of the negated scores along the last axis gives, per row, the positions from best to "
        "worst; keep the first `keep` columns, and pick the item ids at those positions with "
        "np.take_along_axis.",
    ),
    reference=score_fusion.keep_top_candidates,
    mistakes=[
        Mistake(
            "positions instead of ids",
            lambda c, s, keep: np.argsort(-s, axis=1)[:, :keep],
            "these are positions",
        ),
        Mistake(
            "ascending sort",
            lambda c, s, keep: np.take_along_axis(c, np.argsort(s, axis=1)[:, :keep], axis=1),
            "the *worst* candidates",
        ),
        Mistake("first candidates", lambda c, s, keep: c[:, :keep], "keep the best-*scored* ones"),
        Mistake(
            "kept ids sorted by id",
            lambda c, s, keep: np.sort(
                np.take_along_axis(c, np.argsort(-s, axis=1)[:, :keep], axis=1), axis=1
            ),
            "wrong order",
        ),
    ],
    alternatives=[
        _keep_by_loop,
        lambda c, s, keep: np.take_along_axis(c, np.argsort(s, axis=1)[:, ::-1][:, :keep], axis=1),
    ],
)
