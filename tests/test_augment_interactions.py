import numpy as np
import pytest
import scipy.sparse as sp

from course_utils.augment.interactions import (
    augment_sequences,
    crop_sequence,
    mask_sequence,
    reorder_sequence,
    subsample_history,
)

SEQUENCE = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])


def is_contiguous_window(window, sequence):
    n = len(window)
    return any(np.array_equal(window, sequence[i : i + n]) for i in range(len(sequence) - n + 1))


def test_crop_is_a_contiguous_window_of_floor_eta_n():
    for seed in range(10):
        cropped = crop_sequence(SEQUENCE, eta=0.6, rng=seed)
        assert len(cropped) == 6 and is_contiguous_window(cropped, SEQUENCE)
    assert len(crop_sequence(SEQUENCE[:1], eta=0.1)) == 1  # never empty


def test_mask_hides_floor_gamma_n_positions_and_keeps_the_rest():
    masked = mask_sequence(SEQUENCE, mask_id=-1, gamma=0.3, rng=0)
    assert (masked == -1).sum() == 3
    assert np.array_equal(masked[masked != -1], SEQUENCE[masked != -1])
    with pytest.raises(ValueError, match="real item"):
        mask_sequence(SEQUENCE, mask_id=12)


def test_reorder_shuffles_one_window_and_keeps_the_items():
    reordered = reorder_sequence(SEQUENCE, beta=0.5, rng=3)
    assert sorted(reordered) == sorted(SEQUENCE) and not np.array_equal(reordered, SEQUENCE)
    changed = np.flatnonzero(reordered != SEQUENCE)
    assert changed.max() - changed.min() < 5  # only inside a window of floor(0.5 * 10) = 5
    assert np.array_equal(reorder_sequence(SEQUENCE, beta=0.0), SEQUENCE)


def test_operations_are_deterministic_and_do_not_modify_input():
    original = SEQUENCE.copy()
    for augment in (
        lambda rng: crop_sequence(SEQUENCE, 0.5, rng),
        lambda rng: mask_sequence(SEQUENCE, 99, 0.5, rng),
        lambda rng: reorder_sequence(SEQUENCE, 0.8, rng),
    ):
        assert np.array_equal(augment(5), augment(5))
        assert len({tuple(augment(seed)) for seed in range(8)}) > 1
    assert np.array_equal(SEQUENCE, original)


def test_augment_sequences_keeps_ids_valid_and_alignment():
    n_items = 20
    sequences = [SEQUENCE, SEQUENCE[:1], np.array([], dtype=np.int64), np.array([3, 1, 4, 1, 5])]
    views = augment_sequences(sequences, mask_id=n_items, rng=0)
    assert len(views) == len(sequences)
    assert np.array_equal(views[1], SEQUENCE[:1]) and len(views[2]) == 0  # too short: unchanged
    for view, sequence in zip(views, sequences, strict=True):
        assert set(view.tolist()) <= set(sequence.tolist()) | {n_items}
    first, again = (augment_sequences(sequences, mask_id=n_items, rng=1) for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_bad_sequences_get_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        crop_sequence([])
    with pytest.raises(TypeError, match="integers"):
        crop_sequence([1.5, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        reorder_sequence(np.ones((2, 2), dtype=int))
    with pytest.raises(ValueError, match="eta"):
        crop_sequence(SEQUENCE, eta=1.5)
    with pytest.raises(ValueError, match="unknown"):
        augment_sequences([SEQUENCE], methods=["shuffle_all"])


@pytest.fixture
def tiny_matrix():
    """5 users x 8 items with 0, 1, 2, 4 and 8 interactions (values are counts)."""
    dense = np.zeros((5, 8), dtype=np.float32)
    dense[1, 3] = 1
    dense[2, [0, 7]] = [2, 1]
    dense[3, [1, 2, 5, 6]] = 1
    dense[4, :] = np.arange(1, 9)
    return sp.csr_matrix(dense)


def test_subsample_history_keeps_a_subset_of_each_user(tiny_matrix):
    sub = subsample_history(tiny_matrix, keep=0.5, min_keep=1, rng=0)
    assert sub.shape == tiny_matrix.shape and sub.dtype == tiny_matrix.dtype
    assert np.diff(sub.indptr).tolist() == [0, 1, 1, 2, 4]  # max(min(1, n), round(0.5 n))
    dense, original = sub.toarray(), tiny_matrix.toarray()
    assert np.all((dense == 0) | (dense == original))  # stored values are original values
    again = subsample_history(tiny_matrix, keep=0.5, min_keep=1, rng=0)
    assert (sub != again).nnz == 0
    assert (subsample_history(tiny_matrix, keep=1.0) != tiny_matrix).nnz == 0


def test_subsample_history_draws_every_item_eventually(tiny_matrix):
    kept = sum(subsample_history(tiny_matrix, keep=0.25, rng=seed).toarray()[4] > 0 for seed in range(40))
    assert (kept > 0).all() and kept.sum() == 40 * 2  # 2 of 8 each time, every item sometimes


def test_subsample_history_errors(tiny_matrix):
    with pytest.raises(TypeError, match="scipy.sparse"):
        subsample_history(tiny_matrix.toarray())
    with pytest.raises(ValueError, match="keep"):
        subsample_history(tiny_matrix, keep=-0.1)
