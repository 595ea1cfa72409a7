"""Tests for course_utils.data.interactions: the per-user temporal split, on hand-made events."""

import numpy as np
import pandas as pd
import pytest

from course_utils.data.interactions import Interactions


def events_table(rows):
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


# User 0: ten events at times 10..1 (given in reverse order); user 1: two events; user 2: none.
TEN_EVENTS = [(0, item, 10 - item) for item in range(10)]
FIXTURE = events_table(TEN_EVENTS + [(1, 7, 5), (1, 3, 6)])


def test_split_puts_the_latest_events_last_hand_computed():
    data = Interactions.from_events(FIXTURE, n_users=3, n_items=10)
    # user 0 in time order: items 9, 8, ..., 0 -> train 9..2, valid 1, test 0
    assert data.test[0].indices.tolist() == [0]
    assert data.valid[0].indices.tolist() == [1]
    assert sorted(data.train[0].indices.tolist()) == list(range(2, 10))
    assert data.train_sequences[0].tolist() == [9, 8, 7, 6, 5, 4, 3, 2]
    # user 1 has 2 < min_events_to_split=3 events: all in train, in time order
    assert data.train_sequences[1].tolist() == [7, 3]
    assert data.test[1].nnz == 0 and data.valid[1].nnz == 0
    assert data.train_sequences[2].size == 0
    assert data.evaluation_users("test").tolist() == [0]


def test_matrices_are_binary_csr_of_the_right_shape_without_overlap():
    data = Interactions.from_events(FIXTURE, n_users=3, n_items=10)
    for matrix in (data.train, data.valid, data.test):
        assert matrix.shape == (3, 10) and matrix.format == "csr"
        assert set(np.unique(matrix.data)) <= {1.0}
    assert (data.train.multiply(data.test)).nnz == 0
    assert (data.train.multiply(data.valid)).nnz == 0
    assert (data.valid.multiply(data.test)).nnz == 0
    assert data.train.nnz + data.valid.nnz + data.test.nnz == len(FIXTURE)


def test_fractions_round_and_sequences_concatenate_in_time_order():
    rows = [(0, item, item) for item in range(20)]
    data = Interactions.from_events(events_table(rows), 1, 20, valid_fraction=0.1, test_fraction=0.2)
    assert data.test.nnz == 4 and data.valid.nnz == 2 and data.train.nnz == 14
    assert data.sequences()[0].tolist() == list(range(20))
    assert data.sequences(("train", "valid"))[0].tolist() == list(range(16))


def test_repeated_pairs_keep_their_first_occurrence_and_ties_keep_row_order():
    rows = [(0, 1, 5), (0, 2, 5), (0, 1, 9), (0, 3, 7)]
    data = Interactions.from_events(events_table(rows), 1, 4, valid_fraction=0.0, test_fraction=0.0)
    assert data.train_sequences[0].tolist() == [1, 2, 3]


def test_zero_fraction_skips_that_split():
    data = Interactions.from_events(FIXTURE, 3, 10, valid_fraction=0.0)
    assert data.valid.nnz == 0 and data.test.nnz == 1


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (events_table([]), "empty"),
        (pd.DataFrame({"user": [0], "item": [0]}), "missing column"),
        (events_table([(0, 10, 1)]), r"\[0, 10\)"),
        (events_table([(-1, 0, 1)]), r"\[0, 3\)"),
        (pd.DataFrame({"user": [0.5], "item": [0], "timestamp": [1]}), "integers"),
        (pd.DataFrame({"user": [0, None], "item": [0, 1], "timestamp": [1, 2]}), "NaN"),
    ],
)
def test_bad_events_get_clear_errors(events, message):
    with pytest.raises(ValueError, match=message):
        Interactions.from_events(events, n_users=3, n_items=10)


def test_bad_fractions_and_split_names_are_rejected():
    with pytest.raises(ValueError, match="sum to less than 1"):
        Interactions.from_events(FIXTURE, 3, 10, valid_fraction=0.5, test_fraction=0.5)
    data = Interactions.from_events(FIXTURE, 3, 10)
    with pytest.raises(ValueError, match="unknown split"):
        data.sequences(("training",))
    with pytest.raises(ValueError, match="unknown split"):
        data.evaluation_users("dev")
