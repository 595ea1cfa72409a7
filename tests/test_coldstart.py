"""Cold-start split and new-item metrics (course_utils.coldstart): hand-worked cases and errors."""

import numpy as np
import pytest
import scipy.sparse as sp

from course_utils import coldstart


def test_newest_items_takes_the_latest_arrivals_with_ties_to_the_larger_id():
    arrival = np.array([5.0, 1.0, 9.0, 9.0, 3.0, np.inf])
    assert coldstart.newest_items(arrival, 0.5).tolist() == [2, 3, 5]  # inf (never shown) is the latest
    assert coldstart.newest_items(arrival, 0.2).tolist() == [3, 5]  # ceil(1.2) = 2; the tie 2/3 goes to 3
    assert coldstart.newest_items(np.arange(10.0), 0.1).tolist() == [9]


@pytest.mark.parametrize(
    ("arrival", "fraction", "match"),
    [(np.ones((2, 2)), 0.1, "1-D"), (np.array([1.0, np.nan]), 0.1, "NaN"), (np.arange(4.0), 1.0, "fraction")],
)
def test_newest_items_rejects_bad_input(arrival, fraction, match):
    with pytest.raises(ValueError, match=match):
        coldstart.newest_items(arrival, fraction)


def test_hide_and_keep_items_split_the_columns_and_leave_the_input_alone():
    matrix = sp.csr_array(np.array([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=float))
    hidden = coldstart.hide_items(matrix, np.array([2]))
    kept = coldstart.keep_items(matrix, np.array([2]))
    assert hidden.toarray().tolist() == [[1, 0, 0, 1], [0, 1, 0, 0]]
    assert kept.toarray().tolist() == [[0, 0, 1, 0], [0, 0, 1, 0]]
    assert (hidden + kept).toarray().tolist() == matrix.toarray().tolist()
    assert hidden.nnz == 3 and matrix.nnz == 5  # explicit zeros removed; the input is unchanged
    with pytest.raises(ValueError, match=r"item ids in \[0, 4\)"):
        coldstart.hide_items(matrix, np.array([4]))
    with pytest.raises(ValueError, match="integer item ids"):
        coldstart.keep_items(matrix, np.array([1.0]))


def test_new_item_metrics_on_a_hand_worked_case():
    # new items {8, 9}; k = 2, recall_k = 3
    lists = np.array([[8, 1, 9], [2, 3, 4], [9, 8, 5]])
    targets = sp.csr_array((np.ones(5), ([0, 0, 1, 2, 2], [9, 3, 2, 8, 6])), shape=(3, 10))
    result = coldstart.new_item_metrics(lists, targets, np.array([8, 9]), k=2, recall_k=3)
    np.testing.assert_allclose(result.recall, [1.0, np.nan, 1.0])  # user 1 has no new-item target
    np.testing.assert_allclose(result.share, [0.5, 0.0, 1.0])
    assert result.coverage == 1.0  # both new items appear in some top 2
    only_eight = coldstart.new_item_metrics(lists[:2], targets[:2], np.array([8, 9]), k=2, recall_k=3)
    assert only_eight.coverage == 0.5


def test_new_item_metrics_errors_name_the_argument():
    lists = np.tile(np.arange(20), (3, 1))
    targets = sp.csr_array((3, 30))
    with pytest.raises(ValueError, match="need at least"):
        coldstart.new_item_metrics(lists[:, :5], targets, np.array([25]))
    with pytest.raises(ValueError, match="one row per user"):
        coldstart.new_item_metrics(lists[:2], targets, np.array([25]))
    with pytest.raises(ValueError, match="new_items is empty"):
        coldstart.new_item_metrics(lists, targets, np.array([], dtype=int))
