"""Generative adversarial networks for 28x28 RGB images, and how to measure their diversity.

Read top to bottom:

1. the non-saturating GAN losses (Goodfellow et al., 2014);
2. an MLP generator/discriminator, then a small DCGAN (Radford et al., 2016) that becomes a
   conditional GAN when given ``n_classes`` (label embedding in the generator, Mirza &
   Osindero, 2014; projection discriminator, Miyato & Koyama, 2018);
3. ``train_gan``: alternating discriminator / generator updates, with a fixed-noise sample
   grid saved after every epoch;
4. a small category classifier and ``sample_diversity``: label generated samples and
   measure how evenly they spread over the categories (1 = uniform, 0 = mode collapse).

Generators output images in [-1, 1] (tanh); ``to_uint8`` turns them into plottable images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import pick_device, seed_everything
from course_utils.models.vae import images_to_tensor
from course_utils.train import History, fit, supervised_step, tensor_batches

IMAGE_SHAPE = (3, 28, 28)

# --------------------------------------------------------------------------------------
# 1. Losses
# --------------------------------------------------------------------------------------


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``L_D = -E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(logit)`` (Goodfellow et al., 2014).

    Binary cross-entropy with label 1 for real and 0 for generated images, computed from
    logits (``-log sigmoid(l) = softplus(-l)``, ``-log(1 - sigmoid(l)) = softplus(l)``) for
    numerical stability. Returns the batch mean (a scalar).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``L_G = -E[log D(G(z))]`` (Goodfellow et al., 2014, §3).

    Minimising ``log(1 - D(G(z)))`` (the minimax objective) has vanishing gradients while
    ``D`` easily rejects early samples; ``-log D(G(z))`` has the same fixed point and strong
    gradients exactly then. Returns the batch mean (a scalar).
    """
    return F.softplus(-fake_logits).mean()


# --------------------------------------------------------------------------------------
# 2. Networks
# --------------------------------------------------------------------------------------


class MLPGenerator(nn.Module):
    """``z (batch, noise_dim) -> image (batch, 3, 28, 28)`` in [-1, 1] with two hidden layers."""

    def __init__(self, noise_dim: int = 64, hidden_dim: int = 256) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 2 * hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden_dim, int(np.prod(IMAGE_SHAPE))),
            nn.Tanh(),
            nn.Unflatten(1, IMAGE_SHAPE),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            raise ValueError("MLPGenerator is unconditional: it takes no labels")
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``image (batch, 3, 28, 28) -> logit (batch,)``; a positive logit means "looks real"."""

    def __init__(self, hidden_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(np.prod(IMAGE_SHAPE)), 2 * hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            raise ValueError("MLPDiscriminator is unconditional: it takes no labels")
        return self.net(x).squeeze(1)


class DCGANGenerator(nn.Module):
    """Small DCGAN generator (Radford et al., 2016): linear -> 7x7 -> 14x14 -> 28x28.

    With ``n_classes`` it is conditional (Mirza & Osindero, 2014): a learned label embedding
    is concatenated to the noise, so ``G(z, y)`` draws an image of category ``y``.
    """

    def __init__(self, noise_dim: int = 64, channels: int = 32, n_classes: int | None = None) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.n_classes = n_classes
        label_dim = 0 if n_classes is None else 16
        self.label_embedding = None if n_classes is None else nn.Embedding(n_classes, label_dim)
        self.net = nn.Sequential(
            nn.Linear(noise_dim + label_dim, 2 * channels * 7 * 7),
            nn.Unflatten(1, (2 * channels, 7, 7)),  # (B, 2c, 7, 7)
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),  # (B, c, 14, 14)
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 3, 4, stride=2, padding=1),  # (B, 3, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if (labels is None) != (self.label_embedding is None):
            raise ValueError("pass labels exactly when the generator was built with n_classes")
        if labels is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)  # (B, noise_dim + 16)
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """Small DCGAN discriminator: two stride-2 convolutions, then a linear logit.

    With ``n_classes`` it is a projection discriminator (Miyato & Koyama, 2018):
    ``logit(x, y) = w . h(x) + embed(y) . h(x)``, which asks "is this a real image *of
    category y*?".
    """

    def __init__(self, channels: int = 32, n_classes: int | None = None) -> None:
        super().__init__()
        features = 2 * channels * 7 * 7
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 4, stride=2, padding=1),  # (B, c, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),  # (B, 2c, 7, 7)
            nn.BatchNorm2d(2 * channels),
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (B, 2c * 49)
        )
        self.logit = nn.Linear(features, 1)
        self.label_embedding = None if n_classes is None else nn.Embedding(n_classes, features)
        if self.label_embedding is not None:
            nn.init.zeros_(self.label_embedding.weight)  # start unconditional; learn the projection

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if (labels is None) != (self.label_embedding is None):
            raise ValueError("pass labels exactly when the discriminator was built with n_classes")
        h = self.features(x)  # (B, features)
        logit = self.logit(h).squeeze(1)  # (B,)
        if labels is not None:
            logit = logit + (self.label_embedding(labels) * h).sum(dim=1)
        return logit


def images_to_gan_tensor(images: np.ndarray) -> Tensor:
    """uint8 ``(n, 28, 28, 3)`` -> float ``(n, 3, 28, 28)`` scaled to [-1, 1], the generator's range."""
    return images_to_tensor(images) * 2 - 1


def to_uint8(images: Tensor) -> np.ndarray:
    """Generator output ``(n, 3, H, W)`` in [-1, 1] -> uint8 ``(n, H, W, 3)`` for plotting or classifying."""
    unit = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    return np.round(unit.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


@torch.no_grad()
def generate(
    generator: nn.Module, n: int, labels: Tensor | np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """``n`` uint8 images ``(n, 28, 28, 3)`` from ``generator`` (eval mode), with fixed-seed noise.

    ``labels`` (length ``n``) are required for a conditional generator.
    """
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.noise_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    was_training = generator.training
    generator.eval()
    images = to_uint8(generator(z, labels))
    generator.train(was_training)
    return images


# --------------------------------------------------------------------------------------
# 3. Training
# --------------------------------------------------------------------------------------


@dataclass
class GANTraining:
    """What ``train_gan`` returns: per-epoch losses and the fixed-noise samples after each epoch."""

    history: History
    samples_per_epoch: list[np.ndarray] = field(default_factory=list)  # each uint8 (n_fixed, 28, 28, 3)


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    images: np.ndarray,
    epochs: int,
    labels: np.ndarray | None = None,
    batch_size: int = 64,
    generator_lr: float = 2e-4,
    discriminator_lr: float = 2e-4,
    generator_steps: int = 1,
    n_fixed_samples: int = 40,
    seed: int = 0,
    device: str | torch.device | None = None,
    d_loss_fn: Callable[[Tensor, Tensor], Tensor] = discriminator_loss,
    g_loss_fn: Callable[[Tensor], Tensor] = generator_loss,
    progress: bool = True,
) -> GANTraining:
    """Alternate one discriminator step and ``generator_steps`` generator steps per batch.

    Adam with ``betas = (0.5, 0.999)`` as in DCGAN (Radford et al., 2016). ``labels`` (ints,
    one per image) make the run conditional: both networks then receive the category.
    Logged per epoch: ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (mean D probability on
    real and generated batches). ``generator_steps > 1`` lets the generator chase the current
    discriminator -- the recipe for mode collapse ("the Helvetica scenario", Goodfellow et al., 2014).
    ``discriminator_lr=0`` freezes the discriminator: the generator then chases one fixed
    opponent, which drives it to the few outputs that opponent likes best (mode collapse).
    ``d_loss_fn(real_logits, fake_logits)`` and ``g_loss_fn(fake_logits)`` default to the
    losses above; pass your own to train with them.
    """
    data = images_to_gan_tensor(images)
    if len(data) == 0:
        raise ValueError("no images to train on")
    conditional = labels is not None
    if conditional:
        label_tensor = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if label_tensor.shape != (len(data),):
            raise ValueError(
                f"labels must have one entry per image ({len(data)}), got shape {tuple(label_tensor.shape)}"
            )
    if generator_steps < 1:
        raise ValueError(f"generator_steps must be >= 1, got {generator_steps}")
    device = pick_device(device)
    seed_everything(seed)
    generator.to(device)
    discriminator.to(device)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=generator_lr, betas=(0.5, 0.999))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=discriminator_lr, betas=(0.5, 0.999))
    n_classes = int(label_tensor.max()) + 1 if conditional else 0
    fixed_labels = torch.arange(n_fixed_samples) % n_classes if conditional else None
    result = GANTraining(history=History())
    batches = tensor_batches(  # (images, labels or None); full batches only, for BatchNorm
        data,
        label_tensor if conditional else None,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
        device=device,
        drop_last=True,
    )

    def step(batch: tuple[Tensor, Tensor | None]) -> dict[str, float]:
        real, y = batch
        generator.train()
        discriminator.train()
        z = torch.randn(len(real), generator.noise_dim, device=device)
        fake = generator(z, y)
        real_logits, fake_logits = discriminator(real, y), discriminator(fake.detach(), y)
        d_loss = d_loss_fn(real_logits, fake_logits)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()
        for _ in range(generator_steps):
            z = torch.randn(len(real), generator.noise_dim, device=device)
            g_loss = g_loss_fn(discriminator(generator(z, y), y))
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }

    def snapshot() -> dict[str, float]:
        result.samples_per_epoch.append(generate(generator, n_fixed_samples, fixed_labels, seed=seed))
        return {}

    result.history = fit(
        step, batches, epochs, evaluate=snapshot, desc=type(generator).__name__, progress=progress
    )
    generator.eval()
    discriminator.eval()
    return result


# --------------------------------------------------------------------------------------
# 4. Measuring diversity of generated samples
# --------------------------------------------------------------------------------------


class CategoryClassifier(nn.Module):
    """Small CNN ``(batch, 3, 28, 28) in [0, 1] -> category logits (batch, n_classes)``."""

    def __init__(self, n_classes: int = 10, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),  # (B, c, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c, 14, 14)
            nn.Conv2d(channels, 2 * channels, 3, padding=1),  # (B, 2c, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 2c, 7, 7)
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2 * channels * 7 * 7, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Category probabilities ``(n, n_classes)`` for uint8 images ``(n, 28, 28, 3)``."""
        self.eval()
        device = next(self.parameters()).device
        data = images_to_tensor(images)
        chunks = [
            torch.softmax(self(data[i : i + batch_size].to(device)), 1).cpu()
            for i in range(0, len(data), batch_size)
        ]
        return torch.cat(chunks).numpy()


def train_category_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 5,
    n_classes: int | None = None,
    validation_fraction: float = 0.2,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[CategoryClassifier, float]:
    """Train a ``CategoryClassifier`` with cross-entropy; return it and its held-out accuracy.

    A random ``validation_fraction`` of the images is held out, so the accuracy says how far
    its labels for generated samples can be trusted.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    n_classes = n_classes or int(labels.max()) + 1
    device = pick_device(device)
    rng = seed_everything(seed)
    order = rng.permutation(len(images))
    n_valid = max(1, int(validation_fraction * len(images)))
    valid, train = order[:n_valid], order[n_valid:]
    x_train, y_train = images_to_tensor(images[train]), torch.from_numpy(labels[train])
    model = CategoryClassifier(n_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    batches = tensor_batches(
        x_train, y_train, batch_size=batch_size, generator=torch.Generator().manual_seed(seed), device=device
    )
    step = supervised_step(model, lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]), optimizer)
    fit(step, batches, epochs, desc="classifier", progress=progress)
    accuracy = float((model.predict_proba(images[valid]).argmax(1) == labels[valid]).mean())
    return model, accuracy


@dataclass
class SampleDiversity:
    """Normalised entropy of the category distribution of samples, and the share per category."""

    normalised_entropy: float
    class_share: np.ndarray  # (n_classes,), sums to 1


def sample_diversity(predictions: np.ndarray, n_classes: int) -> SampleDiversity:
    """How evenly generated samples spread over ``n_classes`` categories.

    ``predictions`` are predicted labels ``(n,)`` (ints) or class probabilities ``(n, n_classes)``.
    The share ``p_c`` is the fraction of samples labelled ``c`` (or the mean probability of
    ``c``, the marginal ``p(y)`` of the Inception Score, Salimans et al., 2016), and

    ``normalised_entropy = -sum_c p_c ln p_c / ln(n_classes)``  (0 ln 0 = 0),

    which is 1 when every category is equally common and 0 when all samples fall in one
    category: complete mode collapse.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    predictions = np.asarray(predictions)
    if predictions.size == 0:
        raise ValueError("no samples given")
    if predictions.ndim == 1:
        if not np.issubdtype(predictions.dtype, np.integer):
            raise TypeError(f"1-D predictions must be integer labels, got dtype {predictions.dtype}")
        if predictions.min() < 0 or predictions.max() >= n_classes:
            raise ValueError(
                f"labels must lie in [0, {n_classes}), got range [{predictions.min()}, {predictions.max()}]"
            )
        share = np.bincount(predictions, minlength=n_classes) / predictions.size
    elif predictions.ndim == 2:
        if predictions.shape[1] != n_classes:
            raise ValueError(f"probabilities must have {n_classes} columns, got {predictions.shape[1]}")
        if not np.isfinite(predictions).all() or (predictions < 0).any():
            raise ValueError("probabilities must be finite and non-negative")
        if not np.allclose(predictions.sum(axis=1), 1.0, atol=1e-4):
            raise ValueError("each row of probabilities must sum to 1")
        share = predictions.mean(axis=0)
    else:
        raise ValueError(
            f"predictions must be 1-D labels or 2-D probabilities, got {predictions.ndim} dimensions"
        )
    nonzero = share[share > 0]
    entropy = float((nonzero * np.log(1 / nonzero)).sum() / np.log(n_classes))
    return SampleDiversity(normalised_entropy=entropy, class_share=share)
