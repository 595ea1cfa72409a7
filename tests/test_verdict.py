"""Notebook 14's toolkit (course_utils.verdict): hand-computed metrics, the verdict rule, errors."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from course_utils import metrics, stats, verdict
from course_utils.data.interactions import Interactions


def test_head_items_is_the_shortest_prefix_holding_the_share():
    # clicks per item: 5, 3, 1, 1 (10 in all): 5 + 3 = 80 % -> head {0, 1}
    clicks = sp.csr_array(np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]))
    assert verdict.head_items(clicks, 0.8).tolist() == [True, True, False, False]
    assert verdict.head_items(clicks, 0.5).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="head_share"):
        verdict.head_items(clicks, 1.0)
    with pytest.raises(ValueError, match="no clicks"):
        verdict.head_items(sp.csr_array((2, 3)), 0.8)


def test_tail_share_and_category_entropy_by_hand():
    head = np.array([True, True, False, False])
    lists = np.array([[0, 2, 3], [0, 1, 2]])
    np.testing.assert_allclose(verdict.tail_share(lists, head), [2 / 3, 1 / 3])
    np.testing.assert_allclose(verdict.tail_share(lists, head, k=1), [0.0, 0.0])
    categories = np.array([[1, 0], [1, 0], [0, 1], [0.5, 0.5]])
    # list 0: counts (1.5, 1.5) -> 1 bit; list 1: (2, 1) -> H(2/3, 1/3)
    expected = -(2 / 3 * np.log2(2 / 3) + 1 / 3 * np.log2(1 / 3))
    np.testing.assert_allclose(verdict.category_entropy(lists, categories), [1.0, expected])
    np.testing.assert_allclose(verdict.category_entropy(lists, categories, k=2), [1.0, 0.0])
    with pytest.raises(ValueError, match="without a category"):
        verdict.category_entropy(lists, np.zeros((4, 2)))


def _comparison(low, high, metric="ILD@10[attributes]"):
    return stats.Comparison((low + high) / 2, low, high, 0.5, 100, "users", metric=metric)


def test_verdict_rule():
    up, down, flat = _comparison(0.1, 0.2), _comparison(-0.2, -0.1), _comparison(-0.1, 0.1)
    assert verdict.verdict_of([up, up]) == "supported"
    assert verdict.verdict_of([up, up], [down]) == "partly"  # a guard got significantly worse
    assert verdict.verdict_of([up, flat]) == "partly"
    assert verdict.verdict_of([flat, down]) == "not supported at this scale"
    assert verdict.verdict_of([flat], [down]) == "not supported at this scale"
    assert verdict.verdict_of([flat, flat], [flat]) == "inconclusive"
    with pytest.raises(ValueError, match="evidence is empty"):
        verdict.verdict_of([])


def test_lower_gini_counts_as_better():
    assert verdict.direction(_comparison(-0.2, -0.1, "Gini@10")) == 1
    assert verdict.direction(_comparison(-0.2, -0.1, "Coverage@10")) == -1


def test_catalog_statistics_match_the_metrics_module():
    rng = np.random.default_rng(1)
    exposure = rng.integers(0, 5, size=(3, 40))
    for row in exposure:
        assert np.isclose(verdict.gini_of(row), metrics.gini_index(row))
        assert np.isclose(verdict.coverage_of(row), (row > 0).mean())
    np.testing.assert_allclose(verdict.gini_of(exposure), [metrics.gini_index(r) for r in exposure])


def test_bootstrap_catalog_of_identical_systems_is_exactly_zero():
    rng = np.random.default_rng(0)
    lists = np.stack([rng.permutation(50)[:10] for _ in range(40)])
    narrow = np.stack([rng.permutation(20)[:10] for _ in range(40)])  # only items 0-19
    same = verdict.bootstrap_catalog(lists, lists.copy(), verdict.coverage_of, 50, k=10, n_resamples=200)
    assert (same.difference, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    narrower = verdict.bootstrap_catalog(
        narrow, lists, verdict.coverage_of, 50, k=10, n_resamples=200, seed=1
    )
    observed = np.unique(narrow).size / 50 - np.unique(lists).size / 50
    assert np.isclose(narrower.difference, observed)
    assert narrower.ci_low <= narrower.difference <= narrower.ci_high < 0
    with pytest.raises(ValueError, match="same users"):
        verdict.bootstrap_catalog(lists[:5], lists[:5], verdict.coverage_of, 50)


def test_content_neighbour_clicks_adds_the_nearest_neighbour_at_the_given_weight():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])  # pairs (0, 1) and (2, 3)
    train = sp.csr_array(np.array([[1, 0, 0, 0], [1, 1, 1, 0]], dtype=float))
    augmented = verdict.content_neighbour_clicks(train, embeddings, weight=0.5).toarray()
    np.testing.assert_allclose(augmented, [[1, 0.5, 0, 0], [1, 1, 1, 0.5]])  # real clicks stay 1
    with pytest.raises(ValueError, match="weight"):
        verdict.content_neighbour_clicks(train, embeddings, weight=0.0)


def test_subset_interactions_keeps_each_events_split_and_renumbers():
    events = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2],
            "item": [0, 1, 2, 3, 1, 2, 3, 0, 3, 2, 1],
            "timestamp": range(11),
        }
    )
    full = Interactions.from_events(events, 3, 4, valid_fraction=0.25, test_fraction=0.25)
    sub = verdict.subset_interactions(full, np.array([1, 2, 3]), np.array([0, 2]))
    assert (sub.n_users, sub.n_items) == (2, 3)
    for split in ("train", "valid", "test"):
        expected = getattr(full, split)[[0, 2]][:, [1, 2, 3]].toarray()
        np.testing.assert_array_equal(getattr(sub, split).toarray(), expected)
    with pytest.raises(ValueError, match="sorted, unique"):
        verdict.subset_interactions(full, np.array([2, 1]), np.array([0]))
