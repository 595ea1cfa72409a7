"""Exercises of notebook 09 (model fusion): weighted fusion with normalisation, and a cascade stage."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, assert_close
from course_utils.models import score_fusion


def _test_weighted_fusion(candidate) -> None:
    article = candidate(
        {"model 1": np.array([[1.0, 0, 1, 1]]), "model 2": np.array([[0.0, 1, 1, 0]])},
        {"model 1": 0.5, "model 2": 0.5},
    )
    assert_close(article, [[0.5, 0.5, 1.0, 0.5]], "the fusion of the article's §4.4 example")
    rng = np.random.default_rng(0)
    cf, text = rng.normal(size=(3, 6)), 1000.0 * rng.normal(size=(3, 6))  # very different scales
    expected = score_fusion.weighted_fusion({"cf": cf, "text": text}, {"cf": 0.7, "text": 0.3}, "minmax")
    fused = candidate({"cf": cf, "text": text}, {"cf": 0.7, "text": 0.3})
    assert np.shape(fused) == expected.shape, (
        f"the result should have shape {expected.shape}, got {np.shape(fused)}."
    )
    only_cf = candidate({"cf": cf, "text": text}, {"cf": 1.0, "text": 0.0})
    assert_close(
        only_cf,
        score_fusion.normalize_scores(cf, "minmax"),
        "the fusion with weights cf=1, text=0 (it should be cf's min-max normalised scores, per row)",
    )
    assert_close(
        fused, expected, "the fusion with weights cf=0.7, text=0.3 (normalise each row before weighting)"
    )


weighted_fusion = Exercise(
    "Weighted fusion with min-max normalisation",
    test=_test_weighted_fusion,
    hint="""For each scorer: low = s.min(axis=-1, keepdims=True), high = s.max(axis=-1, keepdims=True),
    normalised = (s - low) / (high - low); then add weights[name] * normalised over all scorers.""",
    reference=score_fusion.weighted_fusion,
    solution="""
    def weighted_fusion(scores, weights):
        fused = 0.0
        for name, s in scores.items():
            low, high = s.min(axis=-1, keepdims=True), s.max(axis=-1, keepdims=True)
            fused = fused + weights[name] * (s - low) / (high - low)
        return fused
    """,
)


def _test_keep_top_candidates(candidate) -> None:
    candidates = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [2.0, -1.0, 3.0, 0.0]])
    kept = np.asarray(candidate(candidates, scores, 2))
    assert kept.shape == (2, 2), (
        f"keeping 2 of 4 candidates for 2 users should give shape (2, 2), got {kept.shape}."
    )
    assert kept.tolist() == [[11, 12], [22, 20]], (
        f"expected the item ids [[11, 12], [22, 20]] (best first), got {kept.tolist()}: return item ids from "
        "`candidates`, not positions, ordered by decreasing score."
    )
    rng = np.random.default_rng(1)
    many = rng.permutation(100)[None, :50].repeat(3, axis=0)
    many_scores = rng.normal(size=(3, 50))
    assert_close(
        candidate(many, many_scores, 7),
        score_fusion.keep_top_candidates(many, many_scores, 7),
        "the 7 best of 50 random candidates",
    )


keep_top_candidates = Exercise(
    "A cascade stage: keep the best candidates",
    test=_test_keep_top_candidates,
    hint="""np.argsort(-scores, axis=-1)[:, :keep] gives the positions of the best scores in each row;
    np.take_along_axis(candidates, positions, axis=-1) turns positions into item ids.""",
    reference=score_fusion.keep_top_candidates,
)
