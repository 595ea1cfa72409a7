"""Exercises of notebook 01 (autoencoders and VAEs): the reparameterisation trick and the ELBO."""

from __future__ import annotations

import math

import torch

from course_utils.exercises import Exercise, assert_close
from course_utils.models import vae


def _test_reparameterize(candidate) -> None:
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 3.0, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(4.0), requires_grad=True)  # sigma = 2
    z = candidate(mu, logvar)
    if not isinstance(z, torch.Tensor) or z.shape != mu.shape:
        raise AssertionError(
            f"return a tensor shaped like mu {tuple(mu.shape)}, got {getattr(z, 'shape', type(z))}."
        )
    if torch.allclose(z, mu):
        raise AssertionError("z equals mu: you forgot the noise eps ~ N(0, I).")
    std = z.std().item()
    if abs(std - 4.0) < 0.2:
        raise AssertionError(
            "the spread of z is 4 = the variance; scale eps by sigma = exp(logvar / 2), not by exp(logvar)."
        )
    if abs(std - math.log(4.0)) < 0.1:
        raise AssertionError("the spread of z is logvar itself; scale eps by sigma = exp(logvar / 2).")
    if abs(z.mean().item() - 3.0) > 0.05 or abs(std - 2.0) > 0.05:
        raise AssertionError(
            "with mu = 3 and sigma = 2, z should have mean 3 and std 2; "
            f"got mean {z.mean().item():.2f}, std {std:.2f}."
        )
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        raise AssertionError(
            "no gradient reaches mu or logvar: build z from them with torch operations "
            "(no .detach(), no numpy)."
        )


reparameterize = Exercise(
    "The reparameterisation trick",
    test=_test_reparameterize,
    hint="""sigma = torch.exp(0.5 * logvar); eps = torch.randn_like(sigma); return mu + sigma * eps.
    The randomness lives in eps, so gradients flow through mu and sigma.""",
    reference=vae.reparameterize,
)


def _test_elbo_loss(candidate) -> None:
    # Two examples of two pixels; logits 0 -> p = 1/2 -> reconstruction 2 ln 2 per example.
    logits, target = torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mu = torch.tensor([[0.0], [2.0]])  # KL = 0 and 2 (sigma = 1): mean KL = 1
    logvar = torch.zeros(2, 1)
    reconstruction = 2 * math.log(2)
    for beta in (1.0, 0.5):
        loss = candidate(logits, target, mu, logvar, beta)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise AssertionError("return a single number (a 0-dim tensor): the loss averaged over the batch.")
        if math.isclose(loss.item(), reconstruction + beta * 2, rel_tol=1e-4):
            raise AssertionError("you summed over the batch: average the per-example loss over the batch.")
        if math.isclose(loss.item(), reconstruction - beta * 1, rel_tol=1e-4):
            raise AssertionError("the KL term has the wrong sign: the loss *adds* beta * KL.")
        if math.isclose(loss.item(), reconstruction / 2 + beta * 1, rel_tol=1e-4):
            raise AssertionError(
                "sum the reconstruction loss over pixels, don't average it: "
                "it is -log p(x|z) of the whole image."
            )
        assert_close(loss, reconstruction + beta * 1.0, f"the loss for beta = {beta}")
    torch.manual_seed(0)
    shapes = (3, 3, 28, 28)
    logits, target = torch.randn(shapes), torch.rand(shapes)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    assert_close(
        candidate(logits, target, mu, logvar, 2.0),
        vae.elbo_loss(logits, target, mu, logvar, 2.0),
        "the loss on random images",
        atol=1e-3,
    )


elbo_loss = Exercise(
    "The (beta-)ELBO loss",
    test=_test_elbo_loss,
    hint="""Per example: reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    summed over every dimension but the first; KL = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1).
    Return (reconstruction + beta * KL).mean().""",
    reference=vae.elbo_loss,
)
