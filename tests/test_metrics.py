"""Metrics against hand-computed fixtures, invariants and bad input (course_utils.metrics)."""

import numpy as np
import pytest
import scipy.sparse as sp

from course_utils import metrics as m

LOG2_3 = np.log2(3)


def csr(rows: list[set[int]], n_items: int) -> sp.csr_array:
    return m.as_relevance_matrix(rows, len(rows), n_items)


# Two users, six items.
#   user 0: list [0, 1, 2, 3], relevant {1, 3, 5} -> hits at ranks 2 and 4
#   user 1: list [4, 5, 0, 1], relevant {2}       -> no hit
RECS = np.array([[0, 1, 2, 3], [4, 5, 0, 1]])
TRUTH = csr([{1, 3, 5}, {2}], 6)


def test_hit_matrix():
    expected = [[False, True, False, True], [False, False, False, False]]
    np.testing.assert_array_equal(m.hit_matrix(RECS, TRUTH), expected)


def test_precision_recall_hit_rate():
    # P@4 = 2 hits / 4; R@4 = 2 hits / 3 relevant; P@2 = 1/2
    np.testing.assert_allclose(m.precision_at_k(RECS, TRUTH), [0.5, 0.0])
    np.testing.assert_allclose(m.precision_at_k(RECS, TRUTH, k=2), [0.5, 0.0])
    np.testing.assert_allclose(m.recall_at_k(RECS, TRUTH), [2 / 3, 0.0])
    # Recall@2: 1 hit / |R|=3 (default), or / min(2, 3) = 2 when capped (Liang et al. 2018)
    np.testing.assert_allclose(m.recall_at_k(RECS, TRUTH, k=2), [1 / 3, 0.0])
    np.testing.assert_allclose(m.recall_at_k(RECS, TRUTH, k=2, capped=True), [1 / 2, 0.0])
    np.testing.assert_allclose(m.hit_rate_at_k(RECS, TRUTH), [1.0, 0.0])
    np.testing.assert_allclose(m.hit_rate_at_k(RECS, TRUTH, k=1), [0.0, 0.0])


def test_ndcg_hand_computed():
    # DCG = 1/log2(3) + 1/log2(5); IDCG (3 relevant, K=4) = 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 / LOG2_3 + 1 / np.log2(5)
    idcg = 1 + 1 / LOG2_3 + 1 / 2
    np.testing.assert_allclose(m.ndcg_at_k(RECS, TRUTH), [dcg / idcg, 0.0])
    np.testing.assert_allclose(dcg / idcg, 0.498189, atol=1e-6)


def test_ndcg_is_one_for_an_ideal_list():
    assert m.ndcg_at_k(np.array([[1, 3, 5, 0]]), csr([{1, 3, 5}], 6))[0] == pytest.approx(1.0)
    # more relevant items than K: the ideal list is K hits
    assert m.ndcg_at_k(np.array([[1, 3]]), csr([{1, 3, 5}], 6))[0] == pytest.approx(1.0)


def test_average_precision_and_reciprocal_rank():
    # AP@4 = (P@2 + P@4) / min(4, 3) = (1/2 + 2/4) / 3 = 1/3; first hit at rank 2 -> RR = 1/2
    np.testing.assert_allclose(m.average_precision_at_k(RECS, TRUTH), [1 / 3, 0.0])
    np.testing.assert_allclose(m.reciprocal_rank_at_k(RECS, TRUTH), [0.5, 0.0])
    # a perfect list scores AP = 1 even with more relevant items than K (min(K, |R|) denominator)
    assert m.average_precision_at_k(np.array([[1, 3]]), csr([{1, 3, 5}], 6))[0] == pytest.approx(1.0)


def test_users_without_relevant_items_are_nan_and_skipped_by_the_table():
    truth = csr([{1}, set()], 6)
    values = m.ndcg_at_k(RECS, truth)
    assert values[0] == pytest.approx(1 / LOG2_3) and np.isnan(values[1])
    row = m.evaluate_lists(RECS, truth, train=sp.csr_array(np.ones((2, 6))))
    assert row["NDCG@4"] == pytest.approx(1 / LOG2_3)


def test_list_of_sets_equals_sparse_ground_truth():
    as_sets = [{1, 3, 5}, {2}]
    for metric in (
        m.precision_at_k,
        m.recall_at_k,
        m.ndcg_at_k,
        m.average_precision_at_k,
        m.reciprocal_rank_at_k,
    ):
        np.testing.assert_allclose(metric(RECS, as_sets), metric(RECS, TRUTH))


def test_auc_hand_computed():
    # relevant {0, 2}, irrelevant {1, 3}; pairs (0,1)=1 (0,3)=1 (2,1)=1 (2,3)=tie 0.5 -> 3.5 / 4
    scores = np.array([[0.9, 0.1, 0.5, 0.5]])
    truth = csr([{0, 2}], 4)
    assert m.auc(scores, truth)[0] == pytest.approx(0.875)
    # excluding item 3 (e.g. seen in training) leaves pairs (0,1), (2,1): both correct
    assert m.auc(scores, truth, exclude=csr([{3}], 4))[0] == pytest.approx(1.0)
    assert np.isnan(m.auc(scores, csr([set()], 4))[0])


def test_auc_matches_scikit_learn_on_random_data():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 30)).round(1)  # rounding creates ties
    truth = (rng.random((5, 30)) < 0.3).astype(float)
    truth[:, 0] = 1
    expected = [roc_auc_score(truth[u], scores[u]) for u in range(5)]
    np.testing.assert_allclose(m.auc(scores, sp.csr_array(truth)), expected)


# ---- distances and intra-list diversity ------------------------------------------------------

# e0 = (1, 0), e1 = (0, 1), e2 = (1, 1)/sqrt2: d01 = 1, d02 = d12 = 1 - 1/sqrt2
EMBEDDINGS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
D_DIAGONAL = 1 - 1 / np.sqrt(2)


def test_cosine_ild_hand_computed():
    ild = m.intra_list_diversity(np.array([[0, 1, 2], [0, 2, 1]]), m.CosineDistance(EMBEDDINGS))
    np.testing.assert_allclose(ild, [(1 + 2 * D_DIAGONAL) / 3] * 2)  # 0.528595 for either order


def test_jaccard_ild_hand_computed():
    # items' attribute sets: {a, b}, {b, c}, {a, b} -> d01 = 1 - 1/3, d02 = 0, d12 = 2/3 -> ILD = 4/9
    features = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 0]])
    assert m.intra_list_diversity(np.array([[0, 1, 2]]), m.JaccardDistance(features))[0] == pytest.approx(
        4 / 9
    )


def test_cooccurrence_ild_hand_computed():
    # item columns (1,1), (1,0), (0,1): cos01 = cos02 = 1/sqrt2, cos12 = 0
    interactions = sp.csr_array(np.array([[1, 1, 0], [1, 0, 1]]))
    ild = m.intra_list_diversity(np.array([[0, 1, 2]]), m.CooccurrenceDistance(interactions))
    assert ild[0] == pytest.approx((2 * D_DIAGONAL + 1) / 3)


def test_ild_of_identical_items_is_zero():
    same = np.tile([[0.3, -1.2, 2.0]], (5, 1))
    assert m.intra_list_diversity(np.array([[0, 1, 2, 3, 4]]), m.CosineDistance(same))[0] == pytest.approx(
        0.0, abs=1e-12
    )


def test_ild_is_invariant_to_list_order():
    rng = np.random.default_rng(1)
    distance = m.CosineDistance(rng.normal(size=(50, 8)))
    recs = np.stack([rng.permutation(50)[:10] for _ in range(6)])
    shuffled = np.stack([row[rng.permutation(10)] for row in recs])
    np.testing.assert_allclose(
        m.intra_list_diversity(recs, distance), m.intra_list_diversity(shuffled, distance)
    )


# ---- catalog-level: coverage, Gini, entropy ----------------------------------------------------


def test_coverage():
    assert m.catalog_coverage(np.array([[0, 1], [1, 2]]), n_items=5) == pytest.approx(3 / 5)
    assert m.catalog_coverage(np.array([[0, 1], [2, 3], [4, 0]]), n_items=5) == 1.0


def test_gini_hand_computed():
    # sorted counts [0,0,0,4], weights 2i-n-1 = [-3,-1,1,3]: 12 / (4 * 4) = 0.75 = 1 - 1/n
    assert m.gini_index(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    # [1,2,3]: weights [-2,0,2] -> (6 - 2) / (3 * 6) = 2/9
    assert m.gini_index(np.array([3, 1, 2])) == pytest.approx(2 / 9)
    assert m.gini_index(np.full(7, 3.0)) == pytest.approx(0.0)


def test_gini_is_twice_the_area_between_lorenz_curve_and_diagonal():
    counts = np.sort(np.random.default_rng(2).integers(0, 20, size=40)).astype(float)
    lorenz = np.concatenate([[0], np.cumsum(counts) / counts.sum()])
    area_under = np.sum((lorenz[1:] + lorenz[:-1]) / 2) / counts.size  # trapezoids of width 1/n
    assert m.gini_index(counts) == pytest.approx(1 - 2 * area_under)


def test_entropy_hand_computed():
    # p = (1/4, 1/4, 1/2): H = 2 * 1/4 * 2 + 1/2 * 1 = 1.5 bits
    assert m.shannon_entropy(np.array([1, 1, 2])) == pytest.approx(1.5)
    assert m.shannon_entropy(np.array([1, 1, 2]), normalized=True) == pytest.approx(1.5 / np.log2(3))
    assert m.shannon_entropy(np.ones(8)) == pytest.approx(3.0)
    assert m.shannon_entropy(np.array([0, 5, 0])) == pytest.approx(0.0)


def test_entropy_row_wise_with_an_axis():
    # rows: (1/2, 1/2) -> 1 bit; one category -> 0; uniform over 4 -> 2 bits
    counts = np.array([[1, 1, 0, 0], [4, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(m.shannon_entropy(counts, axis=1), [1.0, 0.0, 2.0])
    np.testing.assert_allclose(m.shannon_entropy(counts, normalized=True, axis=1), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(m.shannon_entropy(counts.T, axis=0), [1.0, 0.0, 2.0])
    assert m.shannon_entropy(counts[2]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="all zero in slice"):
        m.shannon_entropy(np.array([[1, 1], [0, 0]]), axis=1)


def test_item_exposure_and_gini_ignore_item_relabelling():
    rng = np.random.default_rng(3)
    recs = np.stack([rng.permutation(30)[:5] for _ in range(20)])
    relabel = rng.permutation(30)
    assert m.gini_index(m.item_exposure(recs, 30)) == pytest.approx(
        m.gini_index(m.item_exposure(relabel[recs], 30))
    )
    assert m.item_exposure(recs, 30).sum() == recs.size


# ---- novelty, unexpectedness, serendipity, calibration, alpha-nDCG ----------------------------


def test_novelty_hand_computed():
    # 4 training users; item 0 seen by 4 (p=1 -> 0 bits), item 1 by 1 (2 bits), item 2 by 2 (1 bit),
    # item 3 by nobody (counted as one user -> 2 bits)
    train = sp.csr_array(np.array([[1, 1, 1, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0]]))
    np.testing.assert_allclose(m.novelty(np.array([[0, 1], [2, 3]]), train), [1.0, 1.5])


def test_unexpectedness_hand_computed():
    # history {0}; list [1, 2]: distances to item 0 are 1 and 1 - 1/sqrt2
    history = csr([{0}, set()], 3)
    values = m.unexpectedness(np.array([[1, 2], [1, 2]]), history, m.CosineDistance(EMBEDDINGS))
    assert values[0] == pytest.approx((1 + D_DIAGONAL) / 2) and np.isnan(values[1])


def test_serendipity_hand_computed():
    # relevant {1, 3}; the popularity list already shows 1 -> only 3 is relevant and unexpected: 1/4
    values = m.serendipity(np.array([[0, 1, 2, 3]]), csr([{1, 3}], 7), np.array([[0, 1, 5, 6]]))
    assert values[0] == pytest.approx(0.25)


CATEGORIES = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])  # items 0, 1 in A; items 2, 3 in B


def test_calibration_kl_hand_computed():
    # p = (1/2, 1/2) from history {0, 2}; list [0, 1] has q = (1, 0);
    # q~ = 0.99 q + 0.01 p = (0.995, 0.005); KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005)
    history = csr([{0, 2}, {0, 2}], 4)
    values = m.calibration_kl(np.array([[0, 1], [0, 2]]), history, CATEGORIES)
    expected = 0.5 * np.log(0.5 / 0.995) + 0.5 * np.log(0.5 / 0.005)
    np.testing.assert_allclose(values, [expected, 0.0], atol=1e-12)
    assert expected == pytest.approx(1.958518, abs=1e-6)


def test_alpha_ndcg_hand_computed():
    # aspects: item 0 {A}, item 1 {A}, item 2 {B}; all relevant; alpha = 0.5
    # list [0, 1, 2]: gains 1, 0.5 (A seen once), 1 -> DCG = 1 + 0.5/log2(3) + 1/2
    # greedy ideal [0, 2, 1]: gains 1, 1, 0.5 -> IDCG = 1 + 1/log2(3) + 0.5/2
    aspects = np.array([[1, 0], [1, 0], [0, 1]])
    truth = csr([{0, 1, 2}, {0, 1, 2}], 3)
    values = m.alpha_ndcg_at_k(np.array([[0, 1, 2], [0, 2, 1]]), truth, aspects)
    expected = (1 + 0.5 / LOG2_3 + 0.5) / (1 + 1 / LOG2_3 + 0.25)
    np.testing.assert_allclose(values, [expected, 1.0])
    # alpha = 0 ignores redundancy: it is plain NDCG weighted by aspect counts -> 1 for both
    np.testing.assert_allclose(
        m.alpha_ndcg_at_k(np.array([[0, 1, 2], [0, 2, 1]]), truth, aspects, alpha=0.0), [1, 1]
    )


# ---- properties on random data -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranges_and_order_invariance_on_random_lists(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 25, 60, 10
    recs = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    truth = sp.csr_array((rng.random((n_users, n_items)) < 0.15).astype(float))
    train = sp.csr_array((rng.random((n_users, n_items)) < 0.2).astype(float))
    for metric in (m.precision_at_k, m.recall_at_k, m.ndcg_at_k, m.hit_rate_at_k, m.average_precision_at_k):
        values = metric(recs, truth)
        finite = values[~np.isnan(values)]
        assert ((finite >= 0) & (finite <= 1 + 1e-12)).all(), metric.__name__
    shuffled = np.stack([row[rng.permutation(k)] for row in recs])
    for metric in (m.precision_at_k, m.recall_at_k):  # set-based: list order does not matter
        np.testing.assert_allclose(metric(recs, truth), metric(shuffled, truth))
    np.testing.assert_allclose(m.novelty(recs, train), m.novelty(shuffled, train))
    assert 0 <= m.gini_index(m.item_exposure(recs, n_items)) < 1
    assert 0 < m.catalog_coverage(recs, n_items) <= 1


def test_evaluate_lists_columns():
    train = sp.csr_array(np.ones((2, 6)))
    row = m.evaluate_lists(RECS, TRUTH, train, k=2, distances={"emb": m.CosineDistance(np.eye(6) + 0.1)})
    assert {
        "Precision@2",
        "Recall@2",
        "NDCG@2",
        "HR@2",
        "MAP@2",
        "MRR@2",
        "ILD@2[emb]",
        "Coverage@2",
        "Gini@2",
    } <= set(row)
    assert row["Coverage@2"] == pytest.approx(4 / 6)


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recommendations", "message"),
    [
        (np.array([0, 1, 2]), "2-D"),
        (np.zeros((0, 3), dtype=int), "empty"),
        (np.array([[0.0, 1.0]]), "integer"),
        (np.array([[0, 0, 1], [1, 2, 3]]), "same item twice"),
        (np.array([[-1, 2, 3], [1, 2, 3]]), "negative"),
        (np.array([[0, 1, 9], [1, 2, 3]]), "out of range"),
    ],
)
def test_bad_recommendations_are_named(recommendations, message):
    with pytest.raises(ValueError, match=message):
        m.ndcg_at_k(recommendations, csr([{1}, {2}], 6))


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="k=5 is larger than the 4"):
        m.precision_at_k(RECS, TRUTH, k=5)
    with pytest.raises(ValueError, match="3 user rows but recommendations have 2"):
        m.recall_at_k(RECS, csr([{1}, {2}, {3}], 6))
    with pytest.raises(ValueError, match="NaN"):
        m.auc(np.array([[0.1, np.nan]]), csr([{0}], 2))
    with pytest.raises(ValueError, match="at least 2 items"):
        m.intra_list_diversity(np.array([[0], [1]]), m.CosineDistance(EMBEDDINGS))
    with pytest.raises(ValueError, match="all-zero embedding"):
        m.CosineDistance(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="binary"):
        m.JaccardDistance(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="all zero"):
        m.gini_index(np.zeros(4))
    with pytest.raises(ValueError, match="belongs to no category"):
        m.calibration_kl(np.array([[0, 1]]), csr([{0}], 2), np.array([[1, 0], [0, 0]]))
    with pytest.raises(ValueError, match="out of range for 3 items"):
        m.intra_list_diversity(np.array([[0, 5]]), m.CosineDistance(EMBEDDINGS))


def test_issue_13_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="finite non-negative"):
        m.gini_index(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(ValueError, match="finite non-negative"):
        m.shannon_entropy(np.array([1.0, np.inf]))
    categories = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 0]], dtype=float)
    for bad in (np.nan, -1.0):
        weights = categories.copy()
        weights[2, 0] = bad
        with pytest.raises(ValueError, match="item_categories must be finite and non-negative"):
            m.alpha_ndcg_at_k(RECS, TRUTH, weights)
    history = sp.csr_array(np.array([[0, 0, 0, 1], [1, 0, 0, 0]]))  # item 3 is unknown to a 3-item distance
    with pytest.raises(ValueError, match="history holds item id 3 but the distance knows only 3 items"):
        m.unexpectedness(np.array([[0, 1], [1, 2]]), history, m.CosineDistance(EMBEDDINGS))
    for k in (2.0, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            m.ndcg_at_k(RECS, TRUTH, k=k)
    with pytest.raises(ValueError, match=r"\+inf"):
        m.auc(np.array([[0.1, np.inf]]), csr([{0}], 2))


def test_ild_crosses_the_1024_user_blocks_like_a_per_user_loop():
    rng = np.random.default_rng(11)
    embeddings = rng.normal(size=(50, 4))
    recs = np.stack([rng.permutation(50)[:4] for _ in range(2500)])  # 2,500 users: three blocks of 1,024
    distance = m.CosineDistance(embeddings)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    expected = [
        np.mean([1 - unit[a] @ unit[b] for i, a in enumerate(row) for b in row[i + 1 :]]) for row in recs
    ]
    np.testing.assert_allclose(m.intra_list_diversity(recs, distance), expected)


def test_pareto_mask():
    # (NDCG, ILD): (0.30, 0.20) and (0.25, 0.40) trade off; (0.24, 0.30) is dominated by (0.25, 0.40);
    # a duplicate of a frontier point stays on the frontier
    points = np.array([[0.30, 0.20], [0.25, 0.40], [0.24, 0.30], [0.30, 0.20]])
    np.testing.assert_array_equal(m.pareto_mask(points), [True, True, False, True])
    with pytest.raises(ValueError, match="NaN"):
        m.pareto_mask(np.array([[np.nan, 1.0]]))


def test_gini_index_along_an_axis_is_the_gini_of_each_slice():
    exposure = np.array([[5.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    rows = m.gini_index(exposure, axis=1)
    np.testing.assert_allclose(rows, [0.75, 0.0, m.gini_index(exposure[2])])  # 1 - 1/n at the top
    np.testing.assert_allclose(m.gini_index(exposure.T, axis=0), rows)
    assert isinstance(m.gini_index(exposure[2]), float)


def test_head_items_is_the_shortest_prefix_holding_the_share():
    # clicks per item: 5, 3, 1, 1 (10 in all): 5 + 3 = 80 % -> head {0, 1}
    clicks = sp.csr_array(np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]))
    assert m.head_items(clicks, 0.8).tolist() == [True, True, False, False]
    assert m.head_items(clicks, 0.5).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="head_share"):
        m.head_items(clicks, 1.0)
    with pytest.raises(ValueError, match="no clicks"):
        m.head_items(sp.csr_array((2, 3)), 0.8)


def test_tail_share_and_category_entropy_by_hand():
    head = np.array([True, True, False, False])
    lists = np.array([[0, 2, 3], [0, 1, 2]])
    np.testing.assert_allclose(m.tail_share(lists, head), [2 / 3, 1 / 3])
    np.testing.assert_allclose(m.tail_share(lists, head, k=1), [0.0, 0.0])
    categories = np.array([[1, 0], [1, 0], [0, 1], [0.5, 0.5]])
    # list 0: counts (1.5, 1.5) -> 1 bit; list 1: (2, 1) -> H(2/3, 1/3)
    expected = -(2 / 3 * np.log2(2 / 3) + 1 / 3 * np.log2(1 / 3))
    np.testing.assert_allclose(m.category_entropy(lists, categories), [1.0, expected])
    np.testing.assert_allclose(m.category_entropy(lists, categories, k=2), [1.0, 0.0])
    with pytest.raises(ValueError, match="without a category"):
        m.category_entropy(lists, np.zeros((4, 2)))


def test_exposure_coverage_per_row_and_as_a_float():
    exposure = np.array([[0, 2, 0, 1], [1, 1, 1, 1]])
    np.testing.assert_allclose(m.exposure_coverage(exposure), [0.5, 1.0])
    assert m.exposure_coverage(exposure[0]) == 0.5
    assert m.catalog_coverage(np.array([[1, 3]]), 4) == 0.5
    with pytest.raises(ValueError, match="item axis"):
        m.exposure_coverage(np.float64(3.0))


def test_category_entropy_needs_a_category_matrix():
    with pytest.raises(ValueError, match="n_categories"):
        m.category_entropy(np.array([[0, 1]]), np.array([0, 1, 1]))


def test_user_exposure_marks_each_users_top_k_and_sums_to_item_exposure():
    lists = np.array([[2, 0, 1], [1, 3, 0]])
    np.testing.assert_array_equal(m.user_exposure(lists, 4, k=2).toarray(), [[1, 0, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(m.user_exposure(lists, 4).sum(axis=0), m.item_exposure(lists, 4))
    with pytest.raises(ValueError, match="larger than"):
        m.user_exposure(lists, 4, k=4)
