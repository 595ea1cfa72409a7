"""Re-rankers: hand-worked picks, relevance order at zero diversity, fast DPP == naive DPP, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

from course_utils import metrics, rerank

# Three candidates: items 0 and 1 are the same thing (identical embeddings, category A),
# item 2 is different (orthogonal embedding, category B).
EMBEDDINGS = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
ITEM_CATEGORIES = np.array([[1, 0], [1, 0], [0, 1]])
CANDIDATES = np.array([[0, 1, 2]])


def random_problem(seed: int, n_users: int = 6, n_candidates: int = 30, n_items: int = 80, dim: int = 8):
    rng = np.random.default_rng(seed)
    candidates = np.stack([rng.permutation(n_items)[:n_candidates] for _ in range(n_users)])
    relevance = rng.normal(size=(n_users, n_candidates))
    embeddings = rng.normal(size=(n_items, dim))
    categories = np.eye(5)[rng.integers(0, 5, n_items)]
    preferences = rng.dirichlet(np.ones(5), size=n_users)
    return candidates, relevance, embeddings, categories, preferences


def all_rerankers(candidates, relevance, embeddings, categories, preferences, k, diversity):
    return {
        "mmr": rerank.mmr(candidates, relevance, embeddings, k, diversity),
        "dpp": rerank.dpp(candidates, relevance, embeddings, k, diversity),
        "dpp_window": rerank.dpp(candidates, relevance, embeddings, k, diversity, window=3),
        "xquad": rerank.xquad(candidates, relevance, categories, preferences, k, diversity),
        "calibrated": rerank.calibrated(candidates, relevance, categories, preferences, k, diversity),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_zero_diversity_reproduces_relevance_order(seed):
    candidates, relevance, *rest = random_problem(seed)
    expected = np.take_along_axis(candidates, np.argsort(-relevance, axis=1)[:, :10], axis=1)
    for name, picks in all_rerankers(candidates, relevance, *rest, k=10, diversity=0.0).items():
        np.testing.assert_array_equal(picks, expected, err_msg=name)


def test_outputs_are_distinct_candidates_of_the_right_shape():
    candidates, relevance, *rest = random_problem(3)
    for name, picks in all_rerankers(candidates, relevance, *rest, k=12, diversity=0.7).items():
        assert picks.shape == (6, 12), name
        for row, chosen in zip(candidates, picks, strict=True):
            assert len(set(chosen)) == 12 and set(chosen) <= set(row), name


def mmr_naive(candidates, relevance, embeddings, k, diversity, penalty=np.max):
    """MMR straight from its definition, one user and one step at a time (test oracle).

    ``penalty`` aggregates the similarities to the items picked so far (the definition: max).
    """
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    lists = []
    for items, scores in zip(candidates, relevance, strict=True):
        span = scores.max() - scores.min()
        scores = (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)
        picked: list[int] = []  # positions within the candidate row
        for _ in range(k):
            best, best_value = None, -np.inf
            for position in range(len(items)):
                if position in picked:
                    continue
                similarities = [unit[items[position]] @ unit[items[other]] for other in picked]
                value = (1 - diversity) * scores[position] - diversity * (
                    penalty(similarities) if picked else 0.0
                )
                if value > best_value:  # strict: the first (lowest position) wins a tie, like argmax
                    best, best_value = position, value
            picked.append(best)
        lists.append(items[picked])
    return np.array(lists)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("diversity", [0.2, 0.5, 0.9])
def test_mmr_equals_the_plain_loop_definition(seed, diversity):
    candidates, relevance, embeddings, *_ = random_problem(seed, n_users=4, n_candidates=12)
    np.testing.assert_array_equal(
        rerank.mmr(candidates, relevance, embeddings, 6, diversity),
        mmr_naive(candidates, relevance, embeddings, 6, diversity),
    )


def test_mmr_penalises_the_maximum_similarity_not_the_sum():
    # e0, e1 orthogonal; e2 is 0.6-similar to both (max 0.6, sum 1.2); e3 is 0.8-similar to e0 only
    # (max = sum = 0.8). Relevance [1, 0.9, 0.5, 0.5] normalises to [1, 0.8, 0, 0]; diversity 0.5:
    #   step 1: item 0 (0.5).  step 2: item 1: 0.4 - 0 = 0.4; item 2: -0.3; item 3: -0.4 -> item 1.
    #   step 3 (max): item 2: -0.5 * 0.6 = -0.3 > item 3: -0.5 * 0.8 = -0.4 -> item 2;
    #   a sum penalty would give item 2: -0.5 * 1.2 = -0.6 < item 3: -0.4 -> item 3.
    embeddings = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.6, np.sqrt(0.28)], [0.8, 0.0, 0.6]])
    candidates, relevance = np.array([[0, 1, 2, 3]]), np.array([[1.0, 0.9, 0.5, 0.5]])
    np.testing.assert_array_equal(rerank.mmr(candidates, relevance, embeddings, 3, 0.5), [[0, 1, 2]])
    # the fixture tells the two apart: the sum-penalty variant picks item 3
    np.testing.assert_array_equal(mmr_naive(candidates, relevance, embeddings, 3, 0.5, np.sum), [[0, 1, 3]])


def test_mmr_hand_worked():
    # normalised relevance [1, 0.9, 0]. diversity 0.5, step 2:
    #   item 1: 0.5 * 0.9 - 0.5 * cos(e1, e0) = 0.45 - 0.5 = -0.05;  item 2: 0 - 0.5 * 0 = 0  -> item 2
    relevance = np.array([[1.0, 0.9, 0.0]])
    np.testing.assert_array_equal(rerank.mmr(CANDIDATES, relevance, EMBEDDINGS, 3, 0.5), [[0, 2, 1]])
    # diversity 0.1: item 1: 0.9 * 0.9 - 0.1 = 0.71 > item 2: 0 -> relevance wins
    np.testing.assert_array_equal(rerank.mmr(CANDIDATES, relevance, EMBEDDINGS, 3, 0.1), [[0, 1, 2]])


def test_dpp_skips_the_duplicate():
    # after item 0, the duplicate item 1 adds no volume (det of two identical rows ~ jitter)
    relevance = np.array([[1.0, 0.9, 0.5]])
    np.testing.assert_array_equal(rerank.dpp(CANDIDATES, relevance, EMBEDDINGS, 2, 0.5), [[0, 2]])


def test_xquad_hand_worked():
    # P(A|u) = P(B|u) = 1/2, normalised relevance [1, 0.4, 0], diversity 0.5
    # step 1: 0.5*1 + 0.5*0.5 = 0.75 (item 0) beats 0.45 and 0.25
    # step 2: A is covered -> item 1: 0.5*0.4 = 0.2; item 2: 0 + 0.5*0.5 = 0.25 -> item 2
    relevance = np.array([[1.0, 0.4, 0.0]])
    picks = rerank.xquad(CANDIDATES, relevance, ITEM_CATEGORIES, np.array([[0.5, 0.5]]), 2, 0.5)
    np.testing.assert_array_equal(picks, [[0, 2]])


def test_calibrated_matches_the_target_mix():
    # target 50/50: with strong calibration the two-item list takes one item per category
    relevance = np.array([[1.0, 0.9, 0.0]])
    picks = rerank.calibrated(CANDIDATES, relevance, ITEM_CATEGORIES, np.array([[0.5, 0.5]]), 2, 0.9)
    np.testing.assert_array_equal(picks, [[0, 2]])


def test_more_diversity_gives_more_diverse_lists():
    candidates, relevance, embeddings, categories, preferences = random_problem(4, n_users=20)
    distance = metrics.CosineDistance(embeddings)
    for reranker in (rerank.mmr, rerank.dpp):
        low = metrics.intra_list_diversity(
            reranker(candidates, relevance, embeddings, 10, 0.0), distance
        ).mean()
        high = metrics.intra_list_diversity(
            reranker(candidates, relevance, embeddings, 10, 0.9), distance
        ).mean()
        assert high > low, reranker.__name__
    history = sp.csr_array((np.random.default_rng(4).random((20, 80)) < 0.1).astype(float))
    target = metrics.user_category_distribution(history, categories)
    before = metrics.calibration_kl(
        rerank.calibrated(candidates, relevance, categories, target, 10, 0.0), history, categories
    )
    after = metrics.calibration_kl(
        rerank.calibrated(candidates, relevance, categories, target, 10, 0.9), history, categories
    )
    assert np.nanmean(after) < np.nanmean(before)


# ---- DPP: fast greedy MAP equals the naive log-det greedy ----------------------------------------


def random_psd_kernel(rng: np.random.Generator, size: int) -> np.ndarray:
    features = rng.normal(size=(size, size + 4))
    return features @ features.T / size  # (size, size), full-rank PSD


@pytest.mark.parametrize("seed", range(5))
def test_fast_dpp_equals_naive_greedy(seed):
    rng = np.random.default_rng(seed)
    kernel = random_psd_kernel(rng, 25)
    np.testing.assert_array_equal(rerank.dpp_greedy(kernel, 10), rerank.dpp_greedy_naive(kernel, 10))


def test_batched_dpp_equals_one_kernel_at_a_time():
    rng = np.random.default_rng(7)
    kernels = np.stack([random_psd_kernel(rng, 20) for _ in range(4)])
    batched = rerank.dpp_greedy(kernels, 8)
    np.testing.assert_array_equal(
        batched, np.stack([rerank.dpp_greedy_naive(kernel, 8) for kernel in kernels])
    )


def test_sliding_window_limits():
    rng = np.random.default_rng(8)
    kernel = random_psd_kernel(rng, 20)
    # a window at least as long as the list is the plain greedy
    np.testing.assert_array_equal(rerank.dpp_greedy(kernel, 6, window=6), rerank.dpp_greedy(kernel, 6))
    # a window of one forgets everything: items come in order of their own volume L_ii
    np.testing.assert_array_equal(rerank.dpp_greedy(kernel, 6, window=1), np.argsort(-np.diag(kernel))[:6])


def test_sliding_window_equals_naive_greedy_over_the_window():
    rng = np.random.default_rng(9)
    kernel, window, k = random_psd_kernel(rng, 15), 3, 7
    picks: list[int] = []
    for _ in range(k):  # naive: maximise det over the last window-1 picks plus the new item
        recent = picks[-(window - 1) :]
        best = max(
            (i for i in range(15) if i not in picks),
            key=lambda i: np.linalg.slogdet(kernel[np.ix_(recent + [i], recent + [i])])[1],
        )
        picks.append(best)
    np.testing.assert_array_equal(rerank.dpp_greedy(kernel, k, window=window), picks)


def test_dpp_reranker_uses_the_documented_kernel():
    candidates, relevance, embeddings, *_ = random_problem(10, n_users=3)
    diversity = 0.6
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    quality = rerank.quality_from_relevance(relevance, diversity)  # (users, M)
    similarity = np.einsum("umd,und->umn", unit[candidates], unit[candidates]) + 1e-6 * np.eye(
        candidates.shape[1]
    )
    positions = rerank.dpp_greedy(rerank.dpp_kernel(quality, similarity), 10)
    expected = np.take_along_axis(candidates, positions, axis=1)
    np.testing.assert_array_equal(rerank.dpp(candidates, relevance, embeddings, 10, diversity), expected)


def test_dpp_kernel_formula():
    quality = np.array([1.0, 2.0])
    similarity = np.array([[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(rerank.dpp_kernel(quality, similarity), [[1.0, 1.0], [1.0, 4.0]])


def test_dpp_greedy_beyond_the_kernel_rank_continues_by_quality_without_repeats():
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(10, 3))  # rank 3
    quality = rng.uniform(0.5, 2.0, size=10)
    kernel = rerank.dpp_kernel(quality, vectors @ vectors.T)
    picks = rerank.dpp_greedy(kernel, 6)
    assert len(set(picks.tolist())) == 6
    np.testing.assert_array_equal(picks[:3], rerank.dpp_greedy_naive(kernel, 3))
    rest = np.setdiff1d(np.arange(10), picks[:3])
    np.testing.assert_array_equal(picks[3:], rest[np.argsort(-np.diag(kernel)[rest], kind="stable")][:3])
    # in a batch, the full-rank user is unaffected by the rank-deficient one
    full = random_psd_kernel(rng, 10)
    batched = rerank.dpp_greedy(np.stack([kernel, full]), 6)
    np.testing.assert_array_equal(batched, [picks, rerank.dpp_greedy_naive(full, 6)])
    windowed = rerank.dpp_greedy(kernel, 10, window=4)
    assert sorted(windowed.tolist()) == list(range(10))


def test_dpp_greedy_validates_the_kernel_cheaply():
    kernel = random_psd_kernel(np.random.default_rng(5), 8)
    asymmetric = kernel.copy()
    asymmetric[3, 0] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        rerank.dpp_greedy(asymmetric, 3)
    for bad_diagonal in (np.nan, -1.0):
        broken = kernel.copy()
        broken[2, 2] = bad_diagonal
        with pytest.raises(ValueError, match="diagonal must be finite and non-negative"):
            rerank.dpp_greedy(broken, 3)
    with_nan = kernel.copy()
    first = int(np.argmax(np.diag(kernel)))
    with_nan[first, 5] = with_nan[5, first] = np.nan  # a NaN in the first row the greedy reads
    with pytest.raises(ValueError, match="NaN or inf"):
        rerank.dpp_greedy(with_nan, 3)
    with pytest.raises(ValueError, match="NaN or inf"):  # the batched path checks every row it reads
        rerank.dpp_greedy(np.stack([kernel, with_nan]), 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rerank.dpp_greedy(kernel, 3.0)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        rerank.dpp_greedy(kernel, 3, window=True)


def test_quality_from_relevance_refuses_nan_instead_of_flattening_the_row():
    np.testing.assert_allclose(
        rerank.quality_from_relevance(np.array([[0.0, 1.0]]), 0.5), [[np.exp(-0.5), 1.0]]
    )
    with pytest.raises(ValueError, match="relevance contains NaN"):
        rerank.quality_from_relevance(np.array([[1.0, np.nan, 0.0]]), 0.5)
    with pytest.raises(ValueError, match="-inf"):
        rerank.quality_from_relevance(np.array([[1.0, -np.inf, 0.0]]), 0.5)


def test_calibrated_refuses_a_target_that_is_not_a_distribution():
    candidates, relevance, _, categories, preferences = random_problem(6)
    with pytest.raises(ValueError, match="target_distribution row 0 sums to 2"):
        rerank.calibrated(candidates, relevance, categories, 2 * preferences, 5)
    no_history = preferences.copy()
    no_history[1] = 0.0  # a user without history has no target: relevance order
    picks = rerank.calibrated(candidates, relevance, categories, no_history, 5, diversity=0.9)
    np.testing.assert_array_equal(picks[1], candidates[1][np.argsort(-relevance[1], kind="stable")[:5]])


def test_chunked_rerankers_equal_one_chunk(monkeypatch):
    problem = random_problem(7, n_users=7)
    expected = all_rerankers(*problem, k=6, diversity=0.6)
    monkeypatch.setattr(rerank, "_CHUNK_ELEMENTS", 1)  # one user per chunk
    assert len(rerank._chunks(7, 30 * 8)) == 7
    for name, picks in all_rerankers(*problem, k=6, diversity=0.6).items():
        np.testing.assert_array_equal(picks, expected[name], err_msg=name)


# ---- bad input ------------------------------------------------------------------------------------


def test_errors_name_the_problem():
    relevance = np.array([[1.0, 0.5, 0.2]])
    with pytest.raises(ValueError, match="k=4 is larger than the 3 candidates"):
        rerank.mmr(CANDIDATES, relevance, EMBEDDINGS, 4)
    with pytest.raises(ValueError, match="diversity must be in"):
        rerank.dpp(CANDIDATES, relevance, EMBEDDINGS, 2, diversity=1.5)
    with pytest.raises(ValueError, match="NaN"):
        rerank.mmr(CANDIDATES, np.array([[1.0, np.nan, 0.2]]), EMBEDDINGS, 2)
    with pytest.raises(ValueError, match="relevance has shape"):
        rerank.mmr(CANDIDATES, np.ones((1, 2)), EMBEDDINGS, 2)
    with pytest.raises(ValueError, match="candidates lists the same item twice"):
        rerank.mmr(np.array([[0, 0, 2]]), relevance, EMBEDDINGS, 2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        rerank.dpp(np.array([[0, 1, 7]]), relevance, EMBEDDINGS, 2)
    with pytest.raises(ValueError, match="all-zero embedding"):
        rerank.mmr(CANDIDATES, relevance, np.array([[1.0, 0], [0, 0], [0, 1]]), 2)
    with pytest.raises(ValueError, match="category preferences must have shape"):
        rerank.xquad(CANDIDATES, relevance, ITEM_CATEGORIES, np.ones((1, 3)), 2)
    with pytest.raises(ValueError, match="square"):
        rerank.dpp_greedy(np.ones((3, 4)), 2)
    with pytest.raises(ValueError, match="window"):
        rerank.dpp(CANDIDATES, relevance, EMBEDDINGS, 2, window=0)
    with pytest.raises(ValueError, match="k must be a positive integer, got 2.0"):
        rerank.mmr(CANDIDATES, relevance, EMBEDDINGS, 2.0)
    with pytest.raises(ValueError, match="k must be a positive integer, got True"):
        rerank.xquad(CANDIDATES, relevance, ITEM_CATEGORIES, np.ones((1, 2)) / 2, True)
    with pytest.raises(ValueError, match="window must be a positive integer, got 2.0"):
        rerank.dpp(CANDIDATES, relevance, EMBEDDINGS, 2, window=2.0)
