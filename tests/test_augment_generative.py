import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils.augment.generative import (
    CFGAN,
    CFGANDiscriminator,
    CFGANGenerator,
    cfgan_discriminator_loss,
    cfgan_generator_loss,
    rebalancing_counts,
    sparse_users,
    synthesise_for_categories,
    synthetic_precision,
)
from course_utils.models.gan import DCGANGenerator

TINY_CFGAN = dict(  # tiny config for tests: 16 hidden units, 2 batches per epoch
    hidden_dim=16,
    epochs=60,
    batch_size=20,
    learning_rate=1e-2,
    zr_ratio=0.7,
    pm_ratio=0.7,
    zr_weight=1.0,
    device="cpu",
    progress=False,
)


def test_rebalancing_counts_fill_up_to_the_largest_category():
    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    assert rebalancing_counts(labels, n_classes=4).tolist() == [0, 3, 2, 4]
    assert rebalancing_counts(labels, n_classes=3, target=3).tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        rebalancing_counts(labels, n_classes=2)
    with pytest.raises(TypeError, match="integer"):
        rebalancing_counts(labels.astype(float), n_classes=3)


def test_synthesise_for_categories_returns_requested_labels():
    torch.manual_seed(0)
    tiny_generator = DCGANGenerator(noise_dim=8, channels=4, n_classes=3).eval()
    images, labels = synthesise_for_categories(tiny_generator, [2, 0, 3], seed=1)
    assert images.shape == (5, 28, 28, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 2, 2, 2]
    again, _ = synthesise_for_categories(tiny_generator, [2, 0, 3], seed=1)
    assert np.array_equal(images, again)
    empty, no_labels = synthesise_for_categories(tiny_generator, [0, 0, 0])
    assert empty.shape == (0, 28, 28, 3) and len(no_labels) == 0
    with pytest.raises(ValueError, match="unconditional"):
        synthesise_for_categories(DCGANGenerator(noise_dim=8, channels=4), [1])


def test_cfgan_losses_are_finite_and_only_the_generator_loss_reaches_the_generator(taste_clicks):
    torch.manual_seed(0)
    generator, discriminator = CFGANGenerator(10, hidden_dim=8), CFGANDiscriminator(10, hidden_dim=8)
    purchases = torch.from_numpy(taste_clicks(40, 5, 3).toarray()[:6])
    d_loss = cfgan_discriminator_loss(generator, discriminator, purchases, pm_ratio=0.5)
    d_loss.backward()
    assert torch.isfinite(d_loss) and all(p.grad is None for p in generator.parameters())
    g_loss = cfgan_generator_loss(generator, discriminator, purchases, 0.5, 0.5, zr_weight=0.1)
    g_loss.backward()
    assert torch.isfinite(g_loss) and all(p.grad is not None for p in generator.parameters())


def test_zero_reconstruction_penalises_generated_non_purchases(taste_clicks):
    torch.manual_seed(0)
    generator, discriminator = CFGANGenerator(10, hidden_dim=8), CFGANDiscriminator(10, hidden_dim=8)
    purchases = torch.from_numpy(taste_clicks(40, 5, 3).toarray()[:6])
    torch.manual_seed(1)
    without = cfgan_generator_loss(generator, discriminator, purchases, 0.5, zr_ratio=1.0, zr_weight=0.0)
    torch.manual_seed(1)
    with_zr = cfgan_generator_loss(generator, discriminator, purchases, 0.5, zr_ratio=1.0, zr_weight=1.0)
    generated = generator(purchases).detach()
    expected = (generated.pow(2) * (purchases == 0)).sum(1).mean()  # every non-purchase, weight 1
    assert (with_zr - without).item() == pytest.approx(expected.item(), rel=1e-5)


def test_tiny_cfgan_learns_the_two_tastes_and_is_deterministic(taste_clicks):
    train = taste_clicks(40, 5, 3)  # users 0-19 buy 3 of items 0-4, users 20-39 3 of items 5-9
    model = CFGAN(**TINY_CFGAN, seed=0).fit(train)
    recommended = model.recommend(np.arange(40), k=2, exclude=train)  # the 2 missing items of each user
    in_own_group = np.where(np.arange(40)[:, None] < 20, recommended < 5, recommended >= 5)
    assert in_own_group.mean() >= 0.9
    again = CFGAN(**TINY_CFGAN, seed=0).fit(train)
    assert np.allclose(model.score(np.arange(40)), again.score(np.arange(40)))
    assert len(model.history_.records) == TINY_CFGAN["epochs"]


def test_synthetic_interactions_are_new_valid_and_only_for_the_chosen_users(taste_clicks):
    train = taste_clicks(40, 5, 3)
    model = CFGAN(**{**TINY_CFGAN, "epochs": 3}, seed=0).fit(train)
    synthetic = model.synthetic_interactions([3, 25, 3], n_per_user=2)
    assert synthetic.shape == train.shape
    assert np.diff(synthetic.indptr).tolist() == [2 if u in (3, 25) else 0 for u in range(40)]
    assert synthetic.multiply(train).nnz == 0  # never an item the user already has
    assert set(np.unique(synthetic.data)) == {1.0}
    with pytest.raises(ValueError, match="n_per_user"):
        model.synthetic_interactions([3], n_per_user=0)


def test_sparse_users_and_fit_errors(taste_clicks):
    train = taste_clicks(40, 5, 3)[:4]
    train = sp.vstack([train, sp.csr_matrix((1, 10), dtype=np.float32)]).tocsr()  # user 4 has nothing
    assert sparse_users(train, max_interactions=3).tolist() == [0, 1, 2, 3]
    assert sparse_users(train, max_interactions=2).tolist() == []
    with pytest.raises(RuntimeError, match="not fitted"):
        CFGAN().score([0])
    with pytest.raises(ValueError, match="empty"):
        CFGAN(device="cpu").fit(sp.csr_matrix((3, 10)))
    with pytest.raises(ValueError, match="pm_ratio"):
        CFGAN(pm_ratio=2.0)


def test_synthetic_precision_hand_computed():
    synthetic = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]))
    future = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]]))
    assert synthetic_precision(synthetic, future) == pytest.approx(3 / 4)  # hits: (0,0), (1,2), (1,3)
    assert np.isnan(synthetic_precision(sp.csr_matrix((3, 4)), future))
    with pytest.raises(ValueError, match="shape"):
        synthetic_precision(synthetic, future[:2])
