"""Exercises of notebook 01 (autoencoders and VAEs): reparameterisation, the ELBO, the training step."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models import vae


def _test_reparameterize(candidate) -> None:
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.0, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(9.0), requires_grad=True)  # sigma = 3, variance 9
    z = candidate(mu, logvar)
    if not isinstance(z, torch.Tensor):
        raise AssertionError(
            f"return a torch.Tensor shaped like mu {tuple(mu.shape)}, got {type(z).__name__}."
        )
    if z.shape != mu.shape:
        raise AssertionError(f"return a tensor shaped like mu {tuple(mu.shape)}, got {tuple(z.shape)}.")
    z_values = z.detach().double()
    if torch.allclose(z_values, mu.detach().double()):
        raise AssertionError("z equals mu: you forgot the noise eps ~ N(0, I).")
    if torch.allclose(z_values, z_values[0].expand_as(z_values)):
        raise AssertionError(
            "every row of z got the same noise: draw eps with the shape of mu (torch.randn_like), "
            "one independent draw per example and dimension."
        )
    std, mean = z_values.std().item(), z_values.mean().item()
    if abs(std - 9.0) < 0.3:
        raise AssertionError(
            "the spread of z is 9 = the variance; scale eps by sigma = exp(logvar / 2), not by exp(logvar)."
        )
    if abs(std - math.log(9.0)) < 0.1:
        raise AssertionError("the spread of z is logvar itself; scale eps by sigma = exp(logvar / 2).")
    if abs(mean - 1.0) > 0.08 or abs(std - 3.0) > 0.08:
        raise AssertionError(
            f"with mu = 1 and sigma = 3, z should have mean 1 and std 3; got mean {mean:.2f}, std {std:.2f}."
        )
    if not z.requires_grad:
        raise AssertionError(
            "z carries no gradient: build it from mu and logvar with torch operations (no numpy, no "
            ".detach())."
        )
    z.sum().backward()
    missing = [name for name, tensor in (("mu", mu), ("logvar", logvar)) if tensor.grad is None]
    if missing:
        raise AssertionError(
            f"no gradient reaches {' or '.join(missing)}: build z from it with torch operations (no "
            ".detach())."
        )


def _variance_as_scale(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)


def _logvar_as_scale(mu, logvar):
    return mu + logvar * torch.randn_like(mu)


def _one_noise_for_the_batch(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[-1])


def _detached_sigma(mu, logvar):
    return mu + torch.exp(0.5 * logvar).detach() * torch.randn_like(mu)


def _numpy_noise(mu, logvar):
    sigma = np.exp(0.5 * logvar.detach().numpy())
    return torch.from_numpy(mu.detach().numpy() + sigma * np.random.standard_normal(mu.shape))


def _no_noise(mu, logvar):
    return mu


reparameterize = Exercise(
    "The reparameterisation trick",
    test=_test_reparameterize,
    hints=(
        "Sampling z ~ N(mu, sigma^2) directly blocks the gradient. Instead draw standard noise that does "
        "not depend on the parameters, and move and stretch it with mu and sigma.",
        "logvar is log(sigma^2), so sigma = exp(logvar / 2). Draw eps ~ N(0, I) with the shape of mu "
        "(torch.randn_like) and return mu + sigma * eps.",
    ),
    reference=vae.reparameterize,
    mistakes=[
        Mistake("exp(logvar) is the variance, not sigma", _variance_as_scale, "9 = the variance"),
        Mistake("logvar used as sigma", _logvar_as_scale, "the spread of z is logvar itself"),
        Mistake(
            "one eps shared by the whole batch", _one_noise_for_the_batch, "every row of z got the same noise"
        ),
        Mistake("sigma detached", _detached_sigma, "no gradient reaches logvar"),
        Mistake("noise drawn in numpy", _numpy_noise, "z carries no gradient"),
        Mistake("no noise at all", _no_noise, "you forgot the noise"),
    ],
    alternatives=[
        lambda mu, logvar: mu + logvar.mul(0.5).exp() * torch.randn_like(logvar),
        lambda mu, logvar: torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample(),
        lambda mu, logvar: mu + torch.sqrt(torch.exp(logvar)) * torch.randn(mu.shape),
    ],
)


def _elbo_fixture() -> tuple[torch.Tensor, ...]:
    """Two examples of three pixels, a 2-d latent; every slip below gives a different number."""
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    mu = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    logvar = torch.tensor([[0.2, -0.4], [-1.0, 0.6]])
    return logits, target, mu, logvar


def _per_example(logits, target, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())  # (batch, latent)
    return reconstruction, kl


_ELBO_SLIPS = {
    "beta ignored": (
        lambda r, kl, beta: (r + kl.sum(1)).mean(),
        "the loss does not change with beta: multiply the KL term by beta.",
    ),
    "summed over the batch": (
        lambda r, kl, beta: (r + beta * kl.sum(1)).sum(),
        "you summed over the batch: average the per-example loss over the batch.",
    ),
    "KL sign": (
        lambda r, kl, beta: (r - beta * kl.sum(1)).mean(),
        "the KL term has the wrong sign: the loss *adds* beta * KL.",
    ),
    "pixel mean": (
        lambda r, kl, beta: (r / 3 + beta * kl.sum(1)).mean(),
        "sum the reconstruction loss over pixels, don't average it: it is -log p(x|z) of the whole image.",
    ),
    "latent mean": (
        lambda r, kl, beta: (r + beta * kl.mean(1)).mean(),
        "sum the KL over the latent dimensions, don't average it: it is the KL of the whole latent vector.",
    ),
}


def _test_elbo_loss(candidate) -> None:
    logits, target, mu, logvar = _elbo_fixture()
    reconstruction, kl = _per_example(logits, target, mu, logvar)
    beta = 0.5
    loss = candidate(logits, target, mu, logvar, beta)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise AssertionError("return a single number (a 0-dim tensor): the loss averaged over the batch.")
    value = float(loss.detach())
    for slip, message in _ELBO_SLIPS.values():
        if math.isclose(value, float(slip(reconstruction, kl, beta)), rel_tol=1e-4):
            raise AssertionError(message)
    assert_close(loss, vae.elbo_loss(logits, target, mu, logvar, beta), f"the loss for beta = {beta}")
    torch.manual_seed(0)
    shapes = (3, 3, 28, 28)
    logits, target = torch.randn(shapes), torch.rand(shapes)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    assert_close(
        candidate(logits, target, mu, logvar, 2.0),
        vae.elbo_loss(logits, target, mu, logvar, 2.0),
        "the loss on random images of shape (3, 3, 28, 28) (sum over every dimension but the batch)",
        atol=1e-3,
    )


def _elbo_slip(name):
    slip = _ELBO_SLIPS[name][0]

    def elbo_loss(logits, target, mu, logvar, beta=1.0):
        reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        reconstruction = reconstruction.flatten(1).sum(1)
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())
        return slip(reconstruction, kl, beta)

    return elbo_loss


def _elbo_with_sigmoid(logits, target, mu, logvar, beta=1.0):
    batch = logits.shape[0]
    reconstruction = F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum") / batch
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / batch
    return reconstruction + beta * kl


def _elbo_with_softplus(logits, target, mu, logvar, beta=1.0):
    negative_log_likelihood = (F.softplus(logits) - target * logits).flatten(1).sum(1)  # BCE from logits
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = torch.distributions.kl_divergence(posterior, prior).sum(1)
    return (negative_log_likelihood + beta * kl).mean()


elbo_loss = Exercise(
    "The (beta-)ELBO loss",
    test=_test_elbo_loss,
    hints=(
        "Per example the loss has two parts: how badly the decoder explains the image (a binary "
        "cross-entropy, summed over the whole image) plus beta times how far q(z|x) is from N(0, I) "
        "(a KL, summed over the latent dimensions). Then average over the batch.",
        "Reconstruction: binary cross-entropy *with logits*, reduction='none', summed over every dimension "
        "but the first. KL of N(mu, sigma^2) from N(0, 1): -1/2 * (1 + logvar - mu^2 - exp(logvar)), "
        "summed over the latent dimension. Loss = mean over the batch of reconstruction + beta * KL.",
    ),
    reference=vae.elbo_loss,
    mistakes=[
        Mistake(name, _elbo_slip(name), message.split(":")[0]) for name, (_, message) in _ELBO_SLIPS.items()
    ],
    alternatives=[_elbo_with_sigmoid, _elbo_with_softplus],
)


def vae_training_step(
    model: vae.ImageVAE, optimizer: torch.optim.Optimizer, batch: torch.Tensor, beta: float
) -> dict[str, float]:
    """One optimiser step on the negative (beta-)ELBO of ``batch``; returns the batch's two loss terms.

    Encode ``(mu, logvar)``, sample ``z`` by ``reparameterize``, decode pixel logits, take
    ``elbo_loss(logits, batch, mu, logvar, beta)``, zero the gradients, backpropagate, step.
    Returns ``{"reconstruction": mean BCE per image, "KL": mean KL per image}`` of that batch, in nats.
    """
    return _vae_step_variant(model, optimizer, batch, beta)


def _vae_step_variant(
    model, optimizer, batch, beta, sample=True, use_beta=True, zero_grad=True, sign=1.0, step=True
) -> dict[str, float]:
    model.train()
    mu, logvar = model.encode(batch)  # each (B, latent_dim)
    z = vae.reparameterize(mu, logvar) if sample else mu
    logits = model.decoder(z)  # (B, 3, 28, 28)
    loss = sign * vae.elbo_loss(logits, batch, mu, logvar, beta if use_beta else 1.0)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return {
        "reconstruction": vae.bernoulli_reconstruction(logits, batch).mean().item(),
        "KL": vae.gaussian_kl(mu, logvar).mean().item(),
    }


_STEP_SLIPS = {
    "optimizer.step() missing": ({"step": False}, "the weights did not change: call optimizer.step()"),
    "mu decoded, no sampling": (
        {"sample": False},
        "you decoded mu: sample z = reparameterize(mu, logvar) and decode z "
        "(the noise is what makes it a VAE)",
    ),
    "beta ignored": ({"use_beta": False}, "the step ignores beta: pass it to elbo_loss"),
    "gradients not zeroed": (
        {"zero_grad": False},
        "gradients pile up from step to step: call optimizer.zero_grad() before loss.backward()",
    ),
    "loss maximised": (
        {"sign": -1.0},
        "the weights moved uphill: minimise the negative ELBO, do not negate it",
    ),
}


def _run_steps(step_function, beta: float, n_steps: int = 2, **variant):
    """Run ``n_steps`` steps on a tiny VAE from a fixed start; the same noise for every caller."""
    torch.manual_seed(0)
    model = vae.ImageVAE(latent_dim=2, channels=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    batch = torch.rand(6, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    logs = []
    for step in range(n_steps):
        torch.manual_seed(100 + step)  # the noise eps of this step
        if variant:
            logs.append(_vae_step_variant(model, optimizer, batch, beta, **variant))
        else:
            logs.append(step_function(model, optimizer, batch, beta))
    return torch.cat([p.detach().flatten() for p in model.parameters()]), logs


def _test_vae_training_step(candidate) -> None:
    weights, logs = _run_steps(candidate, beta=4.0)
    if not isinstance(logs[0], dict) or not {"reconstruction", "KL"} <= set(logs[0]):
        raise AssertionError(
            "return a dict with the batch's two loss terms, {'reconstruction': ..., 'KL': ...} "
            "(fit logs them)."
        )
    expected_weights, expected_logs = _run_steps(None, beta=4.0, step=True)
    if torch.allclose(weights, expected_weights, atol=1e-6):
        for got, expected in zip(logs, expected_logs, strict=True):
            assert_close(
                [got["reconstruction"], got["KL"]],
                [expected["reconstruction"], expected["KL"]],
                "the returned reconstruction and KL (mean per image, before the step)",
                rtol=1e-3,
            )
        return
    for _, (variant, message) in _STEP_SLIPS.items():
        variant_weights, _ = _run_steps(None, beta=4.0, **variant)
        if torch.allclose(weights, variant_weights, atol=1e-6):
            raise AssertionError(message + ".")
    raise AssertionError(
        "after two steps on a tiny VAE your weights differ from the reference's: encode, sample z with "
        "reparameterize, decode, elbo_loss with beta, zero the gradients, backward, step -- in that order."
    )


def _step_with_functional_terms(model, optimizer, batch, beta):
    model.train()
    mu, logvar = model.encode(batch)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decoder(z)
    reconstruction = F.binary_cross_entropy_with_logits(logits, batch, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    loss = (reconstruction + beta * kl).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"reconstruction": reconstruction.mean().item(), "KL": kl.mean().item()}


def _step_zero_grad_after(model, optimizer, batch, beta):
    model.train()
    mu, logvar = model.encode(batch)
    logits = model.decoder(vae.reparameterize(mu, logvar))
    vae.elbo_loss(logits, batch, mu, logvar, beta).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # clearing after the step works as well, from a clean start
    with torch.no_grad():
        return {
            "reconstruction": vae.bernoulli_reconstruction(logits, batch).mean().item(),
            "KL": vae.gaussian_kl(mu, logvar).mean().item(),
        }


vae_training_step_exercise = Exercise(
    "The VAE training step",
    test=_test_vae_training_step,
    hints=(
        "One step is the forward pass of the picture above, the loss, then the three optimiser calls every "
        "PyTorch training loop makes. Use your reparameterize and elbo_loss.",
        "mu, logvar = model.encode(batch); z from reparameterize; logits from model.decoder(z); loss = "
        "elbo_loss(logits, batch, mu, logvar, beta); then zero the gradients, backward, optimizer step. "
        "Return the mean reconstruction (bernoulli_reconstruction) and mean KL (gaussian_kl) of the batch.",
    ),
    reference=vae_training_step,
    mistakes=[
        Mistake(
            name,
            lambda m, o, b, beta, v=variant: _vae_step_variant(m, o, b, beta, **v),
            message.split(":")[0],
        )
        for name, (variant, message) in _STEP_SLIPS.items()
    ],
    alternatives=[_step_with_functional_terms, _step_zero_grad_after],
)
