"""Baseline recommenders: the shared interface, exclusion, determinism, and BPR actually learning."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils import metrics
from course_utils.models.recommenders import BPRMF, ItemKNN, Popularity, RandomRecommender
from course_utils.ranking import top_k_items

TINY_BPR = {
    "factors": 8,
    "epochs": 20,
    "learning_rate": 0.05,
    "batch_size": 600,
    "progress": False,
}  # tiny for tests


def planted_data(seed: int = 0, users_per_group: int = 30, items_per_group: int = 20):
    """Two taste groups: users of group g only like items of group g. Half of each user's
    group items are in train, the other half are the test set."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 2 * users_per_group, 2 * items_per_group
    train, test = np.zeros((n_users, n_items)), np.zeros((n_users, n_items))
    for user in range(n_users):
        group_items = np.arange(items_per_group) + (user // users_per_group) * items_per_group
        shuffled = rng.permutation(group_items)
        train[user, shuffled[: items_per_group // 2]] = 1
        test[user, shuffled[items_per_group // 2 :]] = 1
    return sp.csr_array(train), sp.csr_array(test)


TRAIN, TEST = planted_data()
ALL_USERS = np.arange(TRAIN.shape[0])


@pytest.mark.parametrize(
    "model", [RandomRecommender(), Popularity(), ItemKNN(neighbours=10), BPRMF(**TINY_BPR)], ids=repr
)
def test_interface_shapes_and_exclusion(model):
    model.fit(TRAIN)
    assert model.score(ALL_USERS[:5]).shape == (5, TRAIN.shape[1])
    lists = model.recommend(ALL_USERS, k=5)
    assert lists.shape == (len(ALL_USERS), 5) and lists.dtype == np.int64
    assert not metrics.hit_matrix(lists, TRAIN).any(), "recommended an item already seen in training"
    seen_allowed = model.recommend(ALL_USERS, k=5, exclude=None)
    assert seen_allowed.shape == (len(ALL_USERS), 5)


def test_popularity_ranks_by_count():
    train = sp.csr_array(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]))
    model = Popularity().fit(train)
    np.testing.assert_array_equal(model.score([0])[0], [3, 2, 1, 0])
    np.testing.assert_array_equal(model.recommend([0, 1], k=2, exclude=None), [[0, 1], [0, 1]])
    np.testing.assert_array_equal(model.recommend([1], k=2), [[1, 3]])  # items 0 and 2 seen by user 1


def test_item_knn_hand_computed():
    # item columns: i0 = (1,1,0), i1 = (1,1,0), i2 = (0,0,1): cos(i0, i1) = 1, cos(., i2) = 0
    train = sp.csr_array(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]))
    model = ItemKNN(neighbours=1).fit(train)
    np.testing.assert_allclose(model.similarity_.toarray(), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    # a user who has item 0 gets item 1 scored 1
    np.testing.assert_allclose(model.score([0])[0], [1, 1, 0])


def test_same_seed_same_recommendations():
    first = BPRMF(**TINY_BPR, seed=3).fit(TRAIN).recommend(ALL_USERS, k=5)
    second = BPRMF(**TINY_BPR, seed=3).fit(TRAIN).recommend(ALL_USERS, k=5)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(
        RandomRecommender(seed=1).fit(TRAIN).recommend(ALL_USERS, 5),
        RandomRecommender(seed=1).fit(TRAIN).recommend(ALL_USERS, 5),
    )


def test_bpr_and_item_knn_beat_random_on_planted_tastes():
    random_recall = metrics.recall_at_k(RandomRecommender().fit(TRAIN).recommend(ALL_USERS, 10), TEST).mean()
    for model in (BPRMF(**TINY_BPR), ItemKNN(neighbours=10)):
        recall = metrics.recall_at_k(model.fit(TRAIN).recommend(ALL_USERS, 10), TEST).mean()
        assert recall > 0.8 > 2 * random_recall, (repr(model), recall, random_recall)


def test_bpr_early_stopping_on_validation_keeps_history():
    model = BPRMF(**{**TINY_BPR, "epochs": 5}).fit(TRAIN, valid=TEST)
    frame = model.history_.frame()
    assert "valid_NDCG@20" in frame.columns and len(frame) <= 5
    assert np.isfinite(frame["loss"]).all()


def test_top_k_items_orders_and_breaks_ties_by_id():
    scores = np.array([[0.1, 0.5, 0.5, 0.9]])
    np.testing.assert_array_equal(top_k_items(scores, 3), [[3, 1, 2]])
    np.testing.assert_array_equal(top_k_items(scores, 4), [[3, 1, 2, 0]])


def test_errors_name_the_problem():
    model = Popularity()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.recommend([0], 2)
    model.fit(TRAIN)
    with pytest.raises(ValueError, match="user ids must lie in"):
        model.recommend([TRAIN.shape[0]], 2)
    with pytest.raises(ValueError, match="larger than the catalog"):
        model.recommend([0], TRAIN.shape[1] + 1, exclude=None)
    with pytest.raises(ValueError, match="items left after exclusion"):
        model.recommend([0], TRAIN.shape[1] - 5)
    with pytest.raises(ValueError, match="exclude must be 'train'"):
        model.recommend([0], 2, exclude="test")
    with pytest.raises(ValueError, match="NaN"):
        top_k_items(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(TypeError, match="scipy.sparse"):
        Popularity().fit(np.ones((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        Popularity().fit(sp.csr_array((3, 3)))


def test_bpr_accepts_a_device_object_and_scores_on_cpu():
    model = BPRMF(**{**TINY_BPR, "epochs": 1}, device=torch.device("cpu")).fit(TRAIN)
    scores = model.score(ALL_USERS[:3])
    assert isinstance(scores, np.ndarray) and scores.shape == (3, TRAIN.shape[1])


def test_top_k_breaks_ties_by_item_id_at_the_cut():
    # regression: ties at the k-th position used to be resolved arbitrarily by argpartition
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 4, size=(3, 12)).astype(float)
        full = top_k_items(scores, 12)
        np.testing.assert_array_equal(top_k_items(scores, 3), full[:, :3])
    np.testing.assert_array_equal(top_k_items(np.array([[1.0, 2.0, 2.0, 2.0]]), 2), [[1, 2]])
