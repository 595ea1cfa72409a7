"""Tests for course_utils.models.vae: the ELBO terms, image (V)AEs and Mult-VAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils.models.vae import (
    Autoencoder,
    ImageVAE,
    MultVAE,
    bernoulli_reconstruction,
    elbo_loss,
    gaussian_kl,
    images_to_tensor,
    kl_anneal_beta,
    multinomial_log_likelihood,
    reparameterize,
    tensor_to_images,
    train_image_model,
)

TINY_IMAGE_MODEL = {"latent_dim": 2, "channels": 4}  # small for speed
TINY_MULT_VAE = {
    "latent_dim": 4,
    "hidden_dim": 16,
    "batch_size": 8,
    "device": "cpu",
    "progress": False,
}  # small for speed


def test_kl_of_standard_normal_is_zero() -> None:
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).tolist() == [0.0, 0.0, 0.0]


def test_kl_hand_computed() -> None:
    # one latent with mu = 1, sigma^2 = e: KL = -1/2 (1 + 1 - 1 - e) = (e - 1) / 2
    # plus one with mu = 0, sigma^2 = 1: KL = 0
    kl = gaussian_kl(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert kl.item() == pytest.approx((math.e - 1) / 2)


def test_kl_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)


def test_bernoulli_reconstruction_hand_computed() -> None:
    # logit 0 -> p = 1/2 -> -log(1/2) per pixel, whatever the target; two pixels per example
    loss = bernoulli_reconstruction(torch.zeros(2, 1, 1, 2), torch.tensor([[[[0.0, 1.0]]], [[[0.3, 0.7]]]]))
    assert loss.tolist() == pytest.approx([2 * math.log(2)] * 2)
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_reconstruction(torch.zeros(2, 3), torch.zeros(2, 4))


def test_elbo_combines_terms_with_beta() -> None:
    logits, target = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[0.0]])  # KL = 1/2
    assert elbo_loss(logits, target, mu, logvar, beta=0).item() == pytest.approx(2 * math.log(2))
    assert elbo_loss(logits, target, mu, logvar, beta=4).item() == pytest.approx(2 * math.log(2) + 4 * 0.5)
    with pytest.raises(ValueError, match="beta"):
        elbo_loss(logits, target, mu, logvar, beta=-1)


def test_reparameterize_moments_and_gradients() -> None:
    torch.manual_seed(0)
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert z.mean().item() == pytest.approx(2.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, abs=0.02)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


def test_image_conversion_round_trip_and_validation() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28, 3), dtype=np.uint8)
    tensor = images_to_tensor(images)
    assert tensor.shape == (2, 3, 28, 28) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(tensor_to_images(tensor), images)
    with pytest.raises(TypeError, match="uint8"):
        images_to_tensor(images.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        images_to_tensor(images[..., 0])


def test_image_vae_shapes_and_eval_is_deterministic() -> None:
    torch.manual_seed(0)
    model = ImageVAE(**TINY_IMAGE_MODEL)
    x = torch.rand(5, 3, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 2)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])  # eval decodes mu, no sampling
    assert model.sample(3).shape == (3, 3, 28, 28)
    with pytest.raises(ValueError, match=r"\(batch, 3, 28, 28\)"):
        model(torch.rand(5, 3, 32, 32))


def test_tiny_image_models_learn_and_are_reproducible() -> None:
    images = np.zeros((32, 28, 28, 3), dtype=np.uint8)
    images[:16, 7:21, 7:21] = 255  # two kinds of image: white squares and black
    histories = []
    for model_class in (Autoencoder, ImageVAE, ImageVAE):
        torch.manual_seed(0)
        model = model_class(**TINY_IMAGE_MODEL)
        histories.append(
            train_image_model(
                model, images, epochs=4, batch_size=16, learning_rate=1e-2, device=torch.device("cpu")
            )
        )
    for history in histories:
        losses = history.frame()["loss"]
        assert losses.iloc[-1] < losses.iloc[0]
    assert histories[1].records == histories[2].records  # same seed, same numbers


def test_multinomial_log_likelihood_hand_computed() -> None:
    # uniform logits over 4 items: log softmax = -log 4; two clicks -> -2 log 4
    ll = multinomial_log_likelihood(torch.zeros(1, 4), torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    assert ll.item() == pytest.approx(-2 * math.log(4))


def test_kl_anneal_schedule() -> None:
    assert [kl_anneal_beta(s, 100, 0.2) for s in (0, 50, 100, 500)] == pytest.approx([0.0, 0.1, 0.2, 0.2])
    assert kl_anneal_beta(5, 0, 0.3) == 0.3


def test_mult_vae_learns_block_structure(taste_clicks) -> None:
    clicks = taste_clicks(40, 6, 4)  # users 0-19 click 4 of items 0-5, users 20-39 4 of items 6-11
    model = MultVAE(epochs=60, learning_rate=1e-2, **TINY_MULT_VAE).fit(clicks)
    losses = model.history_.frame()["nll"]
    assert losses.iloc[-5:].mean() < losses.iloc[:5].mean()
    assert model.history_.frame()["beta"].iloc[-1] == pytest.approx(0.2)  # annealed to beta_max
    top = model.recommend(np.array([0, 39]), k=2)
    assert set(top[0]) <= set(range(6)) and set(top[1]) <= set(range(6, 12))  # the unseen items of its block
    assert not clicks[[0, 39]].toarray()[np.arange(2)[:, None], top].any()  # nothing already clicked
    assert model.score(np.array([0, 1, 2])).shape == (3, 12)
    # fold-in of a new user who clicked items of the second block prefers that block
    new_user = sp.csr_matrix(np.r_[np.zeros(6), np.ones(3), np.zeros(3)][None, :])
    assert model.score_rows(new_user)[0].argsort()[-6:].min() >= 6
    assert set(model.recommend_rows(new_user, k=3)[0]) == {9, 10, 11}  # the unclicked rest of that block


def test_mult_vae_keeps_best_validation_epoch(taste_clicks) -> None:
    clicks, other_clicks = taste_clicks(40, 6, 4, n_items=30), taste_clicks(40, 6, 4, n_items=30, seed=1)
    valid = other_clicks - clicks.multiply(other_clicks)  # unseen items of the user's own block
    model = MultVAE(epochs=6, patience=2, learning_rate=1e-2, **TINY_MULT_VAE).fit(clicks, valid=valid)
    frame = model.history_.frame()
    assert "valid_NDCG@20" in frame
    assert frame["valid_NDCG@20"].max() == frame.loc[model.history_.best_epoch, "valid_NDCG@20"]


def test_mult_vae_is_deterministic_with_a_seed(taste_clicks) -> None:
    clicks = taste_clicks(40, 6, 4)
    scores = [
        MultVAE(epochs=3, seed=7, **TINY_MULT_VAE).fit(clicks).score(np.array([0, 1])) for _ in range(2)
    ]
    assert np.array_equal(scores[0], scores[1])


def test_mult_vae_errors(taste_clicks) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        MultVAE(**TINY_MULT_VAE).score(np.array([0]))
    with pytest.raises(ValueError, match="empty"):
        MultVAE(**TINY_MULT_VAE).fit(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="dropout"):
        MultVAE(dropout=1.0)
    model = MultVAE(epochs=1, **TINY_MULT_VAE).fit(taste_clicks(40, 6, 4))
    with pytest.raises(ValueError, match="user ids"):
        model.score(np.array([40]))
    with pytest.raises(ValueError, match=r"\(n, 12\)"):
        model.score_rows(sp.csr_matrix((1, 5)))
    with pytest.raises(ValueError, match="valid has shape"):
        MultVAE(**TINY_MULT_VAE).fit(taste_clicks(40, 6, 4), valid=sp.csr_matrix((3, 12)))
