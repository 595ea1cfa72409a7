"""Notebook 14's toolkit (course_utils.verdict): hand-computed metrics, the verdict rule, errors."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from course_utils import stats, verdict
from course_utils.data.interactions import Interactions


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
