"""Tests for course_utils.protocol: the evaluation splits on a hand-made log, and select_on_validation."""

import numpy as np
import pandas as pd
import pytest

from course_utils.data.interactions import Interactions
from course_utils.protocol import evaluation_split, sample_evaluation_users, select_on_validation

# User 0: items 0..9 at times 0..9 -> train 0..7, valid 8, test 9.
# User 1: items 3, 1, 4, 0, 2 at times 1..5 -> train 3, 1, 4; valid 0; test 2.
# User 2: two events (< 3): both stay in train, so user 2 is never evaluated.
LOG = pd.DataFrame(
    [(0, item, item) for item in range(10)]
    + [(1, item, time) for time, item in enumerate([3, 1, 4, 0, 2], start=1)]
    + [(2, 5, 1), (2, 6, 2)],
    columns=["user", "item", "timestamp"],
)
DATA = Interactions.from_events(LOG, n_users=3, n_items=10)


def rows(matrix) -> list[list[int]]:
    return [sorted(matrix[u].indices.tolist()) for u in range(matrix.shape[0])]


def test_validation_sees_train_excludes_train_and_targets_valid():
    split = evaluation_split(DATA, "valid")
    assert rows(split.inputs) == [list(range(8)), [1, 3, 4], [5, 6]]
    assert rows(split.exclude) == rows(split.inputs)
    assert rows(split.targets) == [[8], [0], []]
    assert split.users.tolist() == [0, 1]
    assert rows(split.ground_truth) == [[8], [0]]
    assert [s.tolist() for s in split.sequences] == [list(range(8)), [3, 1, 4], [5, 6]]


def test_test_sees_train_and_valid_excludes_both_and_targets_test():
    split = evaluation_split(DATA, "test")
    assert rows(split.inputs) == [list(range(9)), [0, 1, 3, 4], [5, 6]]
    assert rows(split.exclude) == rows(split.inputs)
    assert rows(split.targets) == [[9], [2], []]
    assert split.users.tolist() == [0, 1]
    assert [s.tolist() for s in split.sequences] == [list(range(9)), [3, 1, 4, 0], [5, 6]]
    assert set(np.unique(split.inputs.data)) == {1.0}  # train and valid never share a pair
    assert split.inputs.multiply(split.targets).nnz == 0  # no target is ever excluded


@pytest.mark.parametrize(("name", "expected"), [("valid", [[8], [0]]), ("test", [[9], [2]])])
def test_top_k_never_recommends_an_input_item(name, expected):
    split = evaluation_split(DATA, name)
    flat_scores = np.zeros((split.users.size, DATA.n_items))  # ties: lowest unexcluded item id first
    # user 0 has every item but one in its input, so that one is its list -- and its target
    assert split.top_k(flat_scores, k=1).tolist() == expected


def test_top_k_wants_one_score_row_per_evaluated_user():
    split = evaluation_split(DATA, "test")
    with pytest.raises(ValueError, match=r"one row per evaluated user, shape \(2, n_items\); got \(3, 10\)"):
        split.top_k(np.zeros((3, 10)), k=1)


def test_bad_split_arguments_get_clear_errors():
    with pytest.raises(ValueError, match=r"split must be one of \('valid', 'test'\), got 'train'"):
        evaluation_split(DATA, "train")
    with pytest.raises(TypeError, match="must be an Interactions object, got csr_matrix"):
        evaluation_split(DATA.train, "test")


# --------------------------------------------------------------------------------------------
# Choose on validation
# --------------------------------------------------------------------------------------------

DIVERSITY = [0.0, 0.1, 0.2, 0.3, 0.4]
VALID_ILD = [0.30, 0.35, 0.40, 0.45, 0.50]
VALID_NDCG = [0.100, 0.099, 0.096, 0.094, 0.080]


def test_without_a_budget_the_best_objective_wins_and_ties_go_to_the_first():
    choice = select_on_validation(["a", "b", "c", "d"], [0.5, 0.7, 0.7, 0.6])
    assert (choice.index, choice.candidate, choice.valid_value, choice.n_allowed) == (1, "b", 0.7, 4)
    assert str(choice) == (
        "candidate 1 = 'b' (validation objective 0.7); rule: highest validation objective; "
        "ties go to the first candidate"
    )


def test_budget_keeps_only_candidates_within_the_relative_loss():
    choice = select_on_validation(DIVERSITY, VALID_ILD, valid_budget_metric=VALID_NDCG,
                                  budget_reference=0.100, max_relative_loss=0.05)
    # NDCG floor 0.095: diversity 0.0, 0.1, 0.2 are allowed; 0.2 has the highest ILD
    assert (choice.index, choice.candidate, choice.n_allowed) == (2, 0.2, 3)
    assert "within 5% of the reference 0.1" in choice.rule


def test_dataframe_candidates_can_name_their_validation_columns():
    sweep = pd.DataFrame({"diversity": DIVERSITY, "valid ILD@10": VALID_ILD, "valid NDCG@10": VALID_NDCG})
    choice = select_on_validation(sweep, "valid ILD@10", valid_budget_metric="valid NDCG@10",
                                  budget_reference=sweep["valid NDCG@10"].iloc[0], max_relative_loss=0.05)
    assert choice.candidate["diversity"] == 0.2 and choice.index == 2


def test_a_test_column_is_refused():
    sweep = pd.DataFrame({"diversity": DIVERSITY, "test NDCG@10": VALID_NDCG})
    with pytest.raises(ValueError, match="looks like a test metric"):
        select_on_validation(sweep, "test NDCG@10")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"valid_budget_metric": VALID_NDCG, "budget_reference": 0.2, "max_relative_loss": 0.05},
         ValueError, "no candidate keeps valid_budget_metric >= 0.19.*loosen the budget"),
        ({"valid_budget_metric": VALID_NDCG}, ValueError, "together"),
        ({"valid_budget_metric": VALID_NDCG, "budget_reference": 0.1, "max_relative_loss": 5},
         ValueError, r"max_relative_loss must lie in \[0, 1\)"),
        ({"valid_budget_metric": VALID_NDCG[:3], "budget_reference": 0.1, "max_relative_loss": 0.05},
         ValueError, r"one value per candidate \(5\), got shape \(3,\)"),
    ],
)
def test_bad_budgets_get_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        select_on_validation(DIVERSITY, VALID_ILD, **kwargs)


def test_bad_objectives_get_clear_errors():
    with pytest.raises(ValueError, match="candidates is empty"):
        select_on_validation([], [])
    with pytest.raises(ValueError, match="NaN or inf"):
        select_on_validation([1, 2], [0.1, np.nan])
    with pytest.raises(TypeError, match="names a column, but candidates is not a DataFrame"):
        select_on_validation([1, 2], "valid NDCG@10")
    with pytest.raises(ValueError, match="is not a column"):
        select_on_validation(pd.DataFrame({"a": [1, 2]}), "valid NDCG@10")


def test_sample_evaluation_users_is_seeded_sorted_and_a_subset():
    big = Interactions.from_events(
        pd.DataFrame([(user, item, item) for user in range(40) for item in range(5)],
                     columns=["user", "item", "timestamp"]),
        n_users=40, n_items=5,
    )
    split = evaluation_split(big, "test")
    sample = sample_evaluation_users(split, 7, seed=3)
    assert sample.users.size == 7 and np.all(np.diff(sample.users) > 0)
    assert set(sample.users) <= set(split.users)
    assert np.array_equal(sample.users, sample_evaluation_users(split, 7, seed=3).users)
    assert not np.array_equal(sample.users, sample_evaluation_users(split, 7, seed=4).users)
    assert sample.ground_truth.shape[0] == 7 and sample.inputs is split.inputs


def test_sample_evaluation_users_keeps_everyone_without_a_limit_and_rejects_bad_sizes():
    split = evaluation_split(DATA, "test")
    assert sample_evaluation_users(split, None, seed=0) is split
    assert sample_evaluation_users(split, 99, seed=0) is split
    with pytest.raises(ValueError, match="max_users must be a positive integer"):
        sample_evaluation_users(split, 0, seed=0)
    with pytest.raises(TypeError, match="must be an EvaluationSplit"):
        sample_evaluation_users(split.users, 1, seed=0)
