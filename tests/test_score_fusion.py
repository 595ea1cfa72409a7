"""Tests for course_utils.models.score_fusion: normalisation, weighted / rank fusion, cascade."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.models.score_fusion import (
    NORMALIZATIONS,
    Cascade,
    Stage,
    borda_fusion,
    keep_top_candidates,
    normalize_scores,
    reciprocal_rank_fusion,
    score_ranks,
    scoring_stage,
    weighted_fusion,
)

NEG_INF = -np.inf


def random_scores(seed: int = 0, shape: tuple[int, int] = (4, 9)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


# ---------------------------------------------------------------- normalisation


def test_normalisations_hand_computed_with_an_excluded_item():
    scores = np.array([3.0, NEG_INF, 1.0, 2.0])
    np.testing.assert_allclose(normalize_scores(scores, "minmax"), [1.0, NEG_INF, 0.0, 0.5])
    np.testing.assert_allclose(
        normalize_scores(scores, "zscore"), [np.sqrt(1.5), NEG_INF, -np.sqrt(1.5), 0.0]
    )
    np.testing.assert_allclose(normalize_scores(scores, "rank"), [1.0, NEG_INF, 0.0, 0.5])


def test_normalisation_ranges_and_moments_per_row():
    scores = random_scores()
    minmax = normalize_scores(scores, "minmax")
    np.testing.assert_allclose(minmax.min(axis=1), 0.0)
    np.testing.assert_allclose(minmax.max(axis=1), 1.0)
    zscore = normalize_scores(scores, "zscore")
    np.testing.assert_allclose(zscore.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(zscore.std(axis=1), 1.0)
    rank = normalize_scores(scores, "rank")
    np.testing.assert_allclose(np.sort(rank, axis=1), np.tile(np.linspace(0, 1, 9), (4, 1)))


@pytest.mark.parametrize("method", NORMALIZATIONS)
def test_normalisation_is_invariant_to_positive_affine_maps_and_keeps_the_order(method):
    scores = random_scores()
    normalised = normalize_scores(scores, method)
    np.testing.assert_allclose(normalize_scores(3.0 * scores + 7.0, method), normalised, atol=1e-12)
    np.testing.assert_array_equal(np.argsort(normalised, axis=1), np.argsort(scores, axis=1))


def test_rank_normalisation_is_invariant_to_any_increasing_map():
    scores = random_scores()
    np.testing.assert_allclose(normalize_scores(np.exp(scores), "rank"), normalize_scores(scores, "rank"))


def test_constant_rows_carry_no_information():
    constant = np.full((1, 3), 4.0)
    assert normalize_scores(constant, "minmax").tolist() == [[0.0, 0.0, 0.0]]
    assert normalize_scores(constant, "zscore").tolist() == [[0.0, 0.0, 0.0]]
    assert normalize_scores(constant, "rank").tolist() == [[0.5, 0.5, 0.5]]


def test_normalisation_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize_scores(np.ones(3), "softmax")
    with pytest.raises(ValueError, match="NaN"):
        normalize_scores(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="no finite entry"):
        normalize_scores(np.array([[1.0, 2.0], [NEG_INF, NEG_INF]]))
    with pytest.raises(ValueError, match="empty"):
        normalize_scores(np.array([]))
    with pytest.raises(ValueError, match="1-D"):
        normalize_scores(np.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="real numbers"):
        normalize_scores(np.array(["a", "b"]))


# ---------------------------------------------------------------- weighted fusion


def test_weighted_fusion_reproduces_the_article_example():
    x1, x2 = np.array([1.0, 0, 1, 1]), np.array([0.0, 1, 1, 0])
    fused = weighted_fusion(
        {"model 1": x1, "model 2": x2}, {"model 1": 0.5, "model 2": 0.5}, normalization=None
    )
    np.testing.assert_allclose(fused, [0.5, 0.5, 1.0, 0.5])


def test_weights_are_respected_after_normalisation():
    cf, text = random_scores(1), 1000.0 * random_scores(2)  # very different scales
    only_cf = weighted_fusion({"cf": cf, "text": text}, {"cf": 1.0, "text": 0.0})
    np.testing.assert_allclose(only_cf, normalize_scores(cf))
    mixed = weighted_fusion({"cf": cf, "text": text}, {"cf": 0.3, "text": 0.7}, normalization="zscore")
    np.testing.assert_allclose(
        mixed, 0.3 * normalize_scores(cf, "zscore") + 0.7 * normalize_scores(text, "zscore")
    )


def test_an_item_excluded_by_any_scorer_stays_excluded_even_at_weight_zero():
    fused = weighted_fusion(
        {"a": np.array([1.0, NEG_INF, 0.0]), "b": np.array([0.0, 1.0, 2.0])}, {"a": 0.0, "b": 1.0}
    )
    assert fused[1] == NEG_INF and np.isfinite(fused[[0, 2]]).all()


def test_weighted_fusion_rejects_bad_weights_and_shapes():
    scores = {"a": np.ones(3), "b": np.arange(3.0)}
    with pytest.raises(ValueError, match="missing"):
        weighted_fusion(scores, {"a": 1.0})
    with pytest.raises(ValueError, match="finite"):
        weighted_fusion(scores, {"a": 1.0, "b": np.nan})
    with pytest.raises(ValueError, match="same shape"):
        weighted_fusion({"a": np.ones(3), "b": np.ones(4)})
    with pytest.raises(ValueError, match="non-empty mapping"):
        weighted_fusion({})


# ---------------------------------------------------------------- rank fusion


def lists_as_scores(*rankings: list[int], n_items: int = 3) -> dict[str, np.ndarray]:
    """Turn ranked lists of item ids (best first) into score arrays (higher = better)."""
    return {
        f"list {i}": np.array([n_items - ranking.index(item) for item in range(n_items)], dtype=float)
        for i, ranking in enumerate(rankings)
    }


def test_score_ranks_are_one_based_with_averaged_ties():
    assert score_ranks(np.array([0.2, 0.9, 0.2, NEG_INF])).tolist() == [2.5, 1.0, 2.5, 4.0]


def test_rrf_hand_computed():
    scores = lists_as_scores([0, 1, 2], [1, 2, 0])  # list A: a > b > c; list B: b > c > a
    fused = reciprocal_rank_fusion(scores, rrf_constant=60)
    np.testing.assert_allclose(fused, [1 / 61 + 1 / 63, 1 / 62 + 1 / 61, 1 / 63 + 1 / 62])
    assert np.argsort(-fused).tolist() == [1, 0, 2]
    weighted = reciprocal_rank_fusion(scores, rrf_constant=0, weights={"list 0": 2.0, "list 1": 1.0})
    np.testing.assert_allclose(weighted, [2 / 1 + 1 / 3, 2 / 2 + 1 / 1, 2 / 3 + 1 / 2])


def test_borda_hand_computed_and_equal_to_rank_normalised_fusion():
    scores = lists_as_scores([0, 1, 2], [1, 2, 0])
    np.testing.assert_allclose(borda_fusion(scores), [2 + 0, 1 + 2, 0 + 1])
    many = {"a": random_scores(3), "b": random_scores(4)}
    np.testing.assert_allclose(borda_fusion(many), 8 * weighted_fusion(many, normalization="rank"))


def test_rank_fusion_gives_no_votes_to_excluded_items():
    scores = {"a": np.array([3.0, NEG_INF, 1.0]), "b": np.array([NEG_INF, NEG_INF, 5.0])}
    np.testing.assert_allclose(reciprocal_rank_fusion(scores, rrf_constant=0), [1.0, NEG_INF, 1 / 2 + 1.0])
    np.testing.assert_allclose(borda_fusion(scores), [1.0, NEG_INF, 0.0])
    with pytest.raises(ValueError, match="rrf_constant must be >= 0"):
        reciprocal_rank_fusion(scores, rrf_constant=-1)


# ---------------------------------------------------------------- top-k and cascade


def test_keep_top_candidates_best_first_ties_by_position():
    candidates = np.array([[7, 3, 9, 4, 1]])
    scores = np.array([[0.5, 0.9, 0.5, NEG_INF, 0.1]])
    assert keep_top_candidates(candidates, scores, 3).tolist() == [[3, 7, 9]]
    with pytest.raises(ValueError, match="only 4 that are not excluded"):
        keep_top_candidates(candidates, scores, 5)
    with pytest.raises(ValueError, match="positive integer"):
        keep_top_candidates(candidates, scores, 0)
    with pytest.raises(ValueError, match="both be"):
        keep_top_candidates(candidates, scores[:, :3], 2)


def tiny_cascade() -> Cascade:
    relevance = random_scores(5, shape=(3, 40))  # 3 users x 40 items, tiny
    recall = scoring_stage("recall", lambda users, items: relevance[users[:, None], items], keep=12)
    rank = scoring_stage("rank", lambda users, items: relevance[users[:, None], items] + 0.01 * items, keep=6)
    # e.g. a diversity re-ranker keeping every other candidate, with the scores they arrived with
    last = Stage("rerank", lambda users, shortlist: shortlist.subset(shortlist.items[:, ::2]))
    return Cascade([recall, rank, last])


def test_cascade_narrows_candidates_and_times_every_stage():
    result = tiny_cascade().run(np.arange(3), n_items=40)
    assert result.lists.shape == (3, 3)
    assert list(result.seconds) == ["recall", "rank", "rerank"]
    assert all(seconds >= 0 for seconds in result.seconds.values())
    assert result.timing_frame()["candidates_out"].tolist() == [12, 6, 3]
    for user in range(3):
        assert (
            set(result.lists[user])
            <= set(result.stage_items["rank"][user])
            <= set(result.stage_items["recall"][user])
        )


def test_cascade_hands_each_stage_the_scores_of_the_previous_one():
    relevance = random_scores(5, shape=(3, 40))
    received = {}

    def rerank_stage(users, shortlist):
        received["items"], received["scores"] = shortlist
        return shortlist.subset(shortlist.items[:, ::-1][:, :2])  # the two worst of the shortlist

    cascade = Cascade(
        [
            scoring_stage("recall", lambda users, items: relevance[users[:, None], items], keep=12),
            scoring_stage("rank", lambda users, items: -relevance[users[:, None], items], keep=6),
            Stage("rerank", rerank_stage),
        ]
    )
    result = cascade.run(np.arange(3), n_items=40)
    rank_items, rank_scores = result.stage_items["rank"], result.stage_scores["rank"]
    # the rank stage scored by -relevance: its kept items carry exactly those scores, best first
    np.testing.assert_allclose(rank_scores, -np.take_along_axis(relevance, rank_items, axis=1))
    assert (np.diff(rank_scores, axis=1) <= 0).all()
    np.testing.assert_array_equal(received["items"], rank_items)
    np.testing.assert_allclose(received["scores"], rank_scores)
    # the re-rank stage kept the last two and reports the scores they arrived with
    np.testing.assert_array_equal(result.lists, rank_items[:, ::-1][:, :2])
    np.testing.assert_allclose(result.stage_scores["rerank"], rank_scores[:, ::-1][:, :2])
    # the recall stage kept the 12 best relevance scores of the whole catalogue
    np.testing.assert_allclose(result.stage_scores["recall"], -np.sort(-relevance, axis=1)[:, :12])


def test_cascade_rejects_stages_that_invent_or_repeat_items():
    inventing = Cascade([Stage("bad", lambda users, s: (s.items[:, :2] + 100, s.scores[:, :2]))])
    with pytest.raises(ValueError, match="not among its input candidates"):
        inventing.run(np.arange(2), n_items=10)
    repeating = Cascade(
        [Stage("bad", lambda users, s: (np.zeros((len(users), 2), dtype=int), s.scores[:, :2]))]
    )
    with pytest.raises(ValueError, match="same item twice"):
        repeating.run(np.arange(2), n_items=10)
    with pytest.raises(ValueError, match="unique"):
        Cascade([Stage("a", lambda u, i: i), Stage("a", lambda u, i: i)])
    with pytest.raises(ValueError, match="one score per candidate"):
        Cascade([scoring_stage("s", lambda users, items: np.ones(3), keep=2)]).run(np.arange(2), n_items=5)
    with pytest.raises(TypeError, match="must return Shortlist"):
        Cascade([Stage("ids only", lambda users, s: s.items[:, :2])]).run(np.arange(2), n_items=5)
    with pytest.raises(ValueError, match="NaN"):
        Cascade([Stage("nan", lambda users, s: (s.items[:, :2], np.full((2, 2), np.nan)))]).run(
            np.arange(2), n_items=5
        )
    with pytest.raises(ValueError, match="keep must be a positive integer"):
        scoring_stage("s", lambda users, items: items, keep=2.0)
