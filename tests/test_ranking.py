"""Tests for course_utils.ranking: validators, unit rows, min-max, top-k with ties, shortlists."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from course_utils import ranking

NEG_INF = -np.inf


def test_rerank_score_fusion_and_simulation_import_without_torch():
    code = (
        "import sys, course_utils.ranking, course_utils.rerank, course_utils.models.score_fusion, "
        "course_utils.simulation, course_utils.metrics; "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("value", [10.0, True, "3", None, 0, -2, np.float64(2.0)])
def test_positive_int_refuses_floats_bools_and_non_positive(value):
    with pytest.raises(ValueError, match="window must be a positive integer"):
        ranking.positive_int(value, "window")


def test_positive_int_accepts_numpy_integers():
    assert ranking.positive_int(np.int32(4)) == 4 and type(ranking.positive_int(np.int64(4))) is int


def test_as_scores_validates_once_for_everyone():
    np.testing.assert_array_equal(ranking.as_scores([[1, 2]]), [[1.0, 2.0]])
    assert ranking.as_scores(np.array([0.5, NEG_INF])).dtype == np.float64
    with pytest.raises(ValueError, match="NaN"):
        ranking.as_scores([1.0, np.nan])
    with pytest.raises(ValueError, match=r"\+inf"):
        ranking.as_scores([1.0, np.inf])
    with pytest.raises(ValueError, match="-inf"):
        ranking.as_scores([1.0, NEG_INF], "relevance", excluded_ok=False)
    with pytest.raises(ValueError, match=r"relevance must be 2-D \(n_users, n_items\)"):
        ranking.as_scores([1.0, 2.0], "relevance", ndim=(2,))
    with pytest.raises(ValueError, match="empty"):
        ranking.as_scores(np.zeros((2, 0)))
    with pytest.raises(TypeError, match="real numbers"):
        ranking.as_scores(np.array(["a", "b"]))


def test_unit_rows_and_its_one_zero_row_rule():
    unit = ranking.unit_rows(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 1.0]])
    with pytest.raises(ValueError, match="item 1 of text is all zero.*all-zero embedding"):
        ranking.unit_rows(np.array([[1.0, 0.0], [0.0, 0.0]]), "text")
    with pytest.raises(ValueError, match="NaN or inf"):
        ranking.unit_rows(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="non-empty"):
        ranking.unit_rows(np.ones(3))


def test_minmax_normalize_hand_computed_with_excluded_items():
    scores = np.array([[2.0, NEG_INF, 4.0, 3.0], [5.0, 5.0, NEG_INF, 5.0], [-1.0, 1.0, 0.0, 3.0]])
    expected = np.array([[0.0, NEG_INF, 1.0, 0.5], [0.0, 0.0, NEG_INF, 0.0], [0.0, 0.5, 0.25, 1.0]])
    np.testing.assert_array_equal(ranking.minmax_normalize(scores), expected)
    np.testing.assert_array_equal(ranking.minmax_normalize(np.array([1.0, 3.0])), [0.0, 1.0])
    with pytest.raises(ValueError, match="no finite entry"):
        ranking.minmax_normalize(np.array([[1.0, 2.0], [NEG_INF, NEG_INF]]))
    with pytest.raises(ValueError, match="relevance contains NaN"):
        ranking.minmax_normalize(np.array([[1.0, np.nan]]), "relevance")


def test_top_k_items_ties_by_item_id_and_exclusion():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1], [1.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(ranking.top_k_items(scores, 3), [[1, 0, 2], [0, 1, 2]])
    exclude = sp.csr_array(np.array([[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]]))
    np.testing.assert_array_equal(ranking.top_k_items(scores, 3, exclude), [[0, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ranking.top_k_items(scores, 2.0)
    with pytest.raises(ValueError, match="larger than the catalog"):
        ranking.top_k_items(scores, 6)
    with pytest.raises(ValueError, match="only 4 items left"):
        ranking.top_k_items(scores, 5, exclude)
    with pytest.raises(ValueError, match="NaN"):
        ranking.top_k_items(np.array([[np.nan, 1.0]]), 1)


def test_candidate_set_excludes_seen_items_and_returns_their_scores():
    scores = np.array([[0.9, 0.8, 0.1, 0.5]])
    candidates, relevance = ranking.candidate_set(scores, 2, exclude=np.array([[1, 0, 0, 0]]))
    np.testing.assert_array_equal(candidates, [[1, 3]])
    np.testing.assert_allclose(relevance, [[0.8, 0.5]])


def test_keep_top_returns_items_and_scores_best_first_ties_by_position():
    candidates = np.array([[7, 3, 9, 4, 1]])
    scores = np.array([[0.5, 0.9, 0.5, NEG_INF, 0.1]])
    kept = ranking.keep_top(candidates, scores, 3)
    np.testing.assert_array_equal(kept.items, [[3, 7, 9]])
    np.testing.assert_allclose(kept.scores, [[0.9, 0.5, 0.5]])
    with pytest.raises(ValueError, match="only 4 that are not excluded"):
        ranking.keep_top(candidates, scores, 5)
    with pytest.raises(ValueError, match="both be"):
        ranking.keep_top(candidates, scores[:, :3], 2)


def test_shortlist_subset_looks_up_the_scores_of_kept_items():
    shortlist = ranking.Shortlist(
        np.array([[7, 3, 9], [1, 2, 0]]), np.array([[0.9, 0.5, 0.1], [3.0, 2.0, 1.0]])
    )
    kept = shortlist.subset(np.array([[9, 7], [0, 2]]))
    np.testing.assert_array_equal(kept.items, [[9, 7], [0, 2]])
    np.testing.assert_allclose(kept.scores, [[0.1, 0.9], [1.0, 2.0]])
    with pytest.raises(ValueError, match="item 5 of row 1 is not among"):
        shortlist.subset(np.array([[9, 7], [0, 5]]))
