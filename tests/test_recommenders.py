"""Recommenders: one contract for every ``Recommender`` subclass, hand-computed EASE, content-based and
item-kNN cases, and BPR actually learning."""

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils import metrics
from course_utils.augment.generative import CFGAN
from course_utils.models.recommenders import (
    BPRMF,
    EASE,
    ContentBased,
    ItemKNN,
    Popularity,
    RandomRecommender,
    Recommender,
    TorchRecommender,
)
from course_utils.models.vae import MultVAE
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
# content: item i points along its group's axis, with a small item-specific tilt
GROUP_EMBEDDINGS = np.array([[1.0, 0.02 * (i % 20)] if i < 20 else [0.02 * (i % 20), 1.0] for i in range(40)])

# ---------------------------------------------------------------------------------------------
# The contract every recommender keeps (tiny configs: the whole table trains in a few seconds)
# ---------------------------------------------------------------------------------------------

CONTRACT: dict[str, Callable[[int], Recommender]] = {  # class name -> tiny model built with a seed
    "RandomRecommender": lambda seed: RandomRecommender(seed=seed),
    "Popularity": lambda seed: Popularity(),
    "ItemKNN": lambda seed: ItemKNN(neighbours=10),
    "EASE": lambda seed: EASE(l2=10.0),
    "ContentBased": lambda seed: ContentBased(GROUP_EMBEDDINGS),
    "BPRMF": lambda seed: BPRMF(**{**TINY_BPR, "epochs": 2}, seed=seed, device="cpu"),
    "MultVAE": lambda seed: MultVAE(
        latent_dim=4, hidden_dim=8, epochs=2, seed=seed, device="cpu", progress=False
    ),
    "CFGAN": lambda seed: CFGAN(hidden_dim=8, epochs=2, seed=seed, device="cpu", progress=False),
}


def all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *all_subclasses(direct)}}


def test_the_contract_covers_every_recommender():
    # SASRec is not a Recommender: it ranks from click *sequences* (train_sasrec, NextItemTask),
    # not from a user-item matrix, so fit(train)/score(user_ids) does not apply to it.
    concrete = {cls.__name__ for cls in all_subclasses(Recommender)} - {TorchRecommender.__name__}
    assert concrete == set(CONTRACT)


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_shapes_and_seen_items_excluded(name):
    model = CONTRACT[name](0).fit(TRAIN)
    scores = model.score(ALL_USERS[:5])
    assert scores.shape == (5, TRAIN.shape[1]) and np.issubdtype(scores.dtype, np.floating)
    lists = model.recommend(ALL_USERS, k=5)
    assert lists.shape == (len(ALL_USERS), 5) and lists.dtype == np.int64
    assert not metrics.hit_matrix(lists, TRAIN).any(), "recommended an item already seen in training"
    assert all(len(set(row)) == 5 for row in lists)
    assert model.recommend(ALL_USERS, k=5, exclude=None).shape == (len(ALL_USERS), 5)


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_same_seed_same_lists(name):
    first = CONTRACT[name](3).fit(TRAIN).recommend(ALL_USERS, k=5)
    second = CONTRACT[name](3).fit(TRAIN).recommend(ALL_USERS, k=5)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_lists_follow_scores_and_break_ties_by_item_id(name):
    model = CONTRACT[name](0).fit(TRAIN)
    users = ALL_USERS[::7]
    scores = model.score(users).astype(np.float64)
    scores[TRAIN[users].toarray() > 0] = -np.inf  # seen items last
    item_ids = np.arange(TRAIN.shape[1])
    expected = np.array([np.lexsort((item_ids, -row))[:10] for row in scores])  # score desc, then id asc
    np.testing.assert_array_equal(model.recommend(users, k=10), expected)


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_errors_name_the_problem(name):
    with pytest.raises(RuntimeError, match="not fitted"):
        CONTRACT[name](0).recommend([0], 2)
    with pytest.raises(ValueError, match="valid has shape"):
        CONTRACT[name](0).fit(TRAIN, valid=sp.csr_array((3, TRAIN.shape[1])))
    model = CONTRACT[name](0).fit(TRAIN)
    for bad_user in (-1, TRAIN.shape[0]):
        with pytest.raises(ValueError, match="user ids must lie in"):
            model.score([bad_user])


def test_equal_scores_are_ordered_by_item_id():
    train = sp.csr_array(np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]))  # every item clicked once
    np.testing.assert_array_equal(Popularity().fit(train).recommend([0, 1], k=2), [[1, 2], [0, 3]])


# ---------------------------------------------------------------------------------------------
# EASE (Steck 2019)
# ---------------------------------------------------------------------------------------------


def test_ease_hand_computed():
    # X = [[1,1,0],[0,1,1]], l2 = 1: X^T X + I = [[2,1,0],[1,3,1],[0,1,2]] (determinant 8), so
    # P = (1/8) [[5,-2,1],[-2,4,-2],[1,-2,5]] and B_ij = -P_ij / P_jj off the diagonal:
    # B = [[0, .5, -.2], [.4, 0, .4], [-.2, .5, 0]]
    train = sp.csr_array(np.array([[1, 1, 0], [0, 1, 1]]))
    model = EASE(l2=1.0).fit(train)
    np.testing.assert_allclose(model.weights_, [[0, 0.5, -0.2], [0.4, 0, 0.4], [-0.2, 0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(model.score([0, 1]), [[0.4, 0.5, 0.2], [0.2, 0.5, 0.4]], atol=1e-6)
    np.testing.assert_array_equal(model.recommend([0, 1], k=1), [[2], [0]])  # the one unseen item


def test_ease_equals_the_closed_form_with_zero_diagonal():
    rng = np.random.default_rng(0)
    clicks = (rng.random((50, 15)) < 0.3).astype(np.float64)
    l2 = 7.0
    precision = np.linalg.inv(clicks.T @ clicks + l2 * np.eye(15))
    expected = np.eye(15) - precision @ np.diag(1.0 / np.diag(precision))  # Steck 2019, eq. 8
    model = EASE(l2=l2).fit(sp.csr_array(clicks))
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)
    assert (np.diag(model.weights_) == 0).all()
    np.testing.assert_allclose(model.score(np.arange(50)), clicks @ expected, atol=1e-4)


def test_the_cholesky_inverse_is_the_inverse_and_refuses_an_indefinite_matrix():
    from course_utils.models.recommenders import _symmetric_positive_definite_inverse

    factor = np.random.default_rng(1).random((6, 6))
    matrix = factor @ factor.T + np.eye(6)
    inverse = _symmetric_positive_definite_inverse(matrix.copy())
    np.testing.assert_allclose(inverse, np.linalg.inv(matrix), atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        _symmetric_positive_definite_inverse(np.diag([1.0, -1.0, 2.0]))


def test_ease_rejects_a_non_positive_l2():
    with pytest.raises(ValueError, match="l2 must be > 0"):
        EASE(l2=0.0)


# ---------------------------------------------------------------------------------------------
# Content-based
# ---------------------------------------------------------------------------------------------

# items: e0 = (1, 0), e1 = (0, 2), e2 = (1, 1), e3 = (-1, 0)
EMBEDDINGS_2D = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]])


def test_content_based_hand_computed():
    # user 0 has items {0, 1}: unit vectors (1,0), (0,1) -> profile (1,1)/sqrt 2
    # user 1 has items {0, 3}: (1,0) + (-1,0) -> a zero profile -> every score 0
    # user 2 has no history -> every score 0
    train = sp.csr_array(np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]]))
    model = ContentBased(EMBEDDINGS_2D).fit(train)
    root_half = np.sqrt(0.5)
    np.testing.assert_allclose(model.score([0])[0], [root_half, root_half, 1.0, -root_half], atol=1e-6)
    np.testing.assert_array_equal(model.score([1, 2]), np.zeros((2, 4)))
    np.testing.assert_array_equal(model.recommend([0, 1, 2], k=2), [[2, 3], [1, 2], [0, 1]])  # ties by id


def test_content_based_centre_subtracts_the_catalogue_mean():
    # mean of the four items = (0.25, 0.75); centred e0 = (0.75, -0.75), e2 = (0.75, 0.25):
    # cos = (0.5625 - 0.1875) / (sqrt(1.125) * sqrt(0.625)) = 1 / sqrt(5)
    train = sp.csr_array(np.array([[0, 0, 1, 0]]))
    centred = ContentBased(EMBEDDINGS_2D, centre=True).fit(train).score([0])[0]
    assert centred[0] == pytest.approx(1 / np.sqrt(5), abs=1e-6)
    assert centred[2] == pytest.approx(1.0, abs=1e-6)
    raw = ContentBased(EMBEDDINGS_2D).fit(train).score([0])[0]
    assert raw[0] == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_content_based_errors():
    with pytest.raises(ValueError, match="item_embeddings must be a non-empty"):
        ContentBased(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        ContentBased(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="one embedding per item"):
        ContentBased(EMBEDDINGS_2D).fit(sp.csr_array(np.ones((2, 3))))
    with pytest.raises(ValueError, match="all-zero"):
        ContentBased(np.array([[1.0, 0.0], [0.0, 0.0]])).fit(sp.csr_array(np.ones((2, 2))))


# ---------------------------------------------------------------------------------------------
# Item-kNN, BPR-MF
# ---------------------------------------------------------------------------------------------


def test_item_knn_blocks_give_the_same_model():
    # 40 items in blocks of 7: five full blocks and a last one of 5 rows
    default, blocked = ItemKNN(neighbours=5).fit(TRAIN), ItemKNN(neighbours=5, block_size=7).fit(TRAIN)
    np.testing.assert_array_equal(default.similarity_.toarray(), blocked.similarity_.toarray())
    np.testing.assert_array_equal(default.recommend(ALL_USERS, 10), blocked.recommend(ALL_USERS, 10))


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


def test_bpr_item_knn_ease_and_content_beat_random_on_planted_tastes():
    random_recall = metrics.recall_at_k(RandomRecommender().fit(TRAIN).recommend(ALL_USERS, 10), TEST).mean()
    for model in (BPRMF(**TINY_BPR), ItemKNN(neighbours=10), EASE(l2=10.0), ContentBased(GROUP_EMBEDDINGS)):
        recall = metrics.recall_at_k(model.fit(TRAIN).recommend(ALL_USERS, 10), TEST).mean()
        assert recall > 0.8 > 2 * random_recall, (repr(model), recall, random_recall)


def test_bpr_early_stopping_on_validation_keeps_history():
    model = BPRMF(**{**TINY_BPR, "epochs": 5}).fit(TRAIN, valid=TEST)
    frame = model.history_.frame()
    assert "valid_NDCG@20" in frame.columns and len(frame) <= 5
    assert np.isfinite(frame["loss"]).all()


def test_validation_ndcg_cut_off_shrinks_for_a_tiny_catalogue():
    # 22 items, user 0 has seen 5: only 17 unseen items, fewer than the usual cut-off of 20
    train = sp.csr_array(np.eye(4, 22) + np.pad(np.ones((1, 5)), ((0, 3), (0, 17))))
    valid = sp.csr_array(np.pad(np.ones((4, 1)), ((0, 0), (21, 0))))  # everyone's last item
    model = BPRMF(**{**TINY_BPR, "epochs": 2}, device="cpu").fit(train, valid=valid)
    assert np.isfinite(model.history_.frame()["valid_NDCG@20"]).all()
    with pytest.raises(ValueError, match="valid has no interactions"):
        BPRMF(**TINY_BPR).fit(train, valid=sp.csr_array(train.shape))


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
