"""Autoencoders and variational autoencoders: for images, and for click histories.

Read top to bottom:

1. ``reparameterize`` and the two ELBO terms (``gaussian_kl``, ``bernoulli_reconstruction``)
   combined by ``elbo_loss`` (Kingma & Welling, 2014; beta from Higgins et al., 2017);
2. ``Autoencoder`` and ``ImageVAE``: a small convolutional pair for 28x28 RGB images,
   trained by ``train_image_model``;
3. ``MultVAE``: the variational autoencoder for collaborative filtering of Liang et al.
   (2018), with a multinomial likelihood and KL annealing, behind the course's recommender
   interface ``fit(train)`` / ``score(user_ids)`` / ``recommend(user_ids, k)``
   (``course_utils.models.recommenders``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import fast_mode, pick_device, seed_everything
from course_utils.models.recommenders import Matrix, TorchRecommender
from course_utils.ranking import top_k_items
from course_utils.train import History, fit, supervised_step, tensor_batches

# --------------------------------------------------------------------------------------
# 1. The ELBO
# --------------------------------------------------------------------------------------


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """Draw ``z ~ N(mu, diag(exp(logvar)))`` as ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``.

    Writing the sample as a deterministic function of ``(mu, logvar)`` plus independent
    noise lets gradients flow into ``mu`` and ``logvar`` (Kingma & Welling, 2014, §2.4).
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mu, diag(sigma^2)) || N(0, I) ) per example, in nats:

    ``KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)``  (Kingma & Welling, 2014, App. B).

    ``(batch, latent) -> (batch,)``.
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def bernoulli_reconstruction(logits: Tensor, target: Tensor) -> Tensor:
    """Negative Bernoulli log-likelihood ``-log p(x | z)`` per example, summed over pixels:

    ``-sum_i [x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))]`` for targets in [0, 1].

    ``(batch, ...) -> (batch,)``.
    """
    if logits.shape != target.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(dim=1)


def elbo_loss(logits: Tensor, target: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0) -> Tensor:
    """Negative ELBO, averaged over the batch:

    ``loss = mean_batch[ -log p(x | z) + beta * KL(q(z | x) || N(0, I)) ]``

    with a Bernoulli decoder (``bernoulli_reconstruction``) and a Gaussian encoder
    (``gaussian_kl``). ``beta = 1`` is the VAE of Kingma & Welling (2014); ``beta > 1`` is
    the beta-VAE of Higgins et al. (2017) (smoother, more disentangled latents, blurrier
    reconstructions); ``beta < 1`` trades the prior for sharper reconstructions.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return (bernoulli_reconstruction(logits, target) + beta * gaussian_kl(mu, logvar)).mean()


# --------------------------------------------------------------------------------------
# 2. Image autoencoder and VAE
# --------------------------------------------------------------------------------------


def images_to_tensor(images: np.ndarray) -> Tensor:
    """``uint8 (n, H, W, 3)`` images -> ``float32 (n, 3, H, W)`` tensor in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (n, H, W, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images (0..255), got dtype {images.dtype}")
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


def tensor_to_images(tensor: Tensor) -> np.ndarray:
    """``float (n, 3, H, W)`` in [0, 1] -> ``uint8 (n, H, W, 3)`` for plotting."""
    array = tensor.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return np.round(array * 255).astype(np.uint8)


class ConvEncoder(nn.Module):
    """``(batch, 3, 28, 28) -> (batch, out_features)``: two stride-2 convolutions, then a linear map."""

    def __init__(self, out_features: int, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 4, stride=2, padding=1),  # (B, c, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),  # (B, 2c, 7, 7)
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (B, 2c * 49)
            nn.Linear(2 * channels * 7 * 7, out_features),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != (3, 28, 28):
            raise ValueError(f"expected images of shape (batch, 3, 28, 28), got {tuple(x.shape)}")
        return self.net(x)


class ConvDecoder(nn.Module):
    """``(batch, latent_dim) -> (batch, 3, 28, 28)`` pixel logits, mirroring ``ConvEncoder``."""

    def __init__(self, latent_dim: int, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 2 * channels * 7 * 7),
            nn.LeakyReLU(0.2),
            nn.Unflatten(1, (2 * channels, 7, 7)),  # (B, 2c, 7, 7)
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),  # (B, c, 14, 14)
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(channels, 3, 4, stride=2, padding=1),  # (B, 3, 28, 28)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Autoencoder(nn.Module):
    """Deterministic autoencoder: ``x -> z = enc(x) -> logits = dec(z)``; trained on reconstruction only."""

    def __init__(self, latent_dim: int = 16, channels: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(latent_dim, channels)
        self.decoder = ConvDecoder(latent_dim, channels)

    def encode(self, x: Tensor) -> Tensor:
        """Latent codes ``(batch, latent_dim)``."""
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        """Pixel logits ``(batch, 3, 28, 28)``; ``torch.sigmoid`` gives the reconstruction."""
        return self.decoder(self.encoder(x))

    def loss(self, x: Tensor) -> Tensor:
        """Mean per-image Bernoulli reconstruction loss (nats)."""
        return bernoulli_reconstruction(self(x), x).mean()


class ImageVAE(nn.Module):
    """Variational autoencoder for 28x28 RGB images (Kingma & Welling, 2014).

    The encoder outputs ``(mu, logvar)`` of ``q(z | x)``; training samples ``z`` with
    ``reparameterize``; the decoder gives Bernoulli pixel logits. ``beta`` weighs the KL
    term (Higgins et al., 2017).
    """

    def __init__(self, latent_dim: int = 16, channels: int = 32, beta: float = 1.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.beta = beta
        self.encoder = ConvEncoder(2 * latent_dim, channels)
        self.decoder = ConvDecoder(latent_dim, channels)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)``, each ``(batch, latent_dim)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits (batch, 3, 28, 28), mu, logvar)``; samples ``z`` in training, uses ``mu`` in eval."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decoder(z), mu, logvar

    def loss(self, x: Tensor) -> Tensor:
        """Negative ELBO (``elbo_loss``) of the batch, with this model's ``beta``."""
        logits, mu, logvar = self(x)
        return elbo_loss(logits, x, mu, logvar, self.beta)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Images in [0, 1] ``(batch, 3, 28, 28)`` from latent codes."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` new images decoded from the prior ``z ~ N(0, I)``."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z)


def train_image_model(
    model: Autoencoder | ImageVAE,
    images: np.ndarray | Tensor,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train an ``Autoencoder`` or ``ImageVAE`` with Adam on its own ``loss`` (see ``fit``).

    ``images`` are uint8 ``(n, 28, 28, 3)`` or a float tensor ``(n, 3, 28, 28)`` in [0, 1].
    Returns the ``History`` with the mean training loss per epoch (nats per image).
    """
    device = pick_device(device)
    data = images if isinstance(images, Tensor) else images_to_tensor(images)
    if len(data) == 0:
        raise ValueError("no images to train on")
    seed_everything(seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    batches = tensor_batches(
        data, batch_size=batch_size, generator=torch.Generator().manual_seed(seed), device=device
    )
    step = supervised_step(model, lambda model, x: model.loss(x), optimizer)
    history = fit(step, batches, epochs, desc=type(model).__name__, progress=progress)
    model.eval()
    return history


# --------------------------------------------------------------------------------------
# 3. Mult-VAE for collaborative filtering
# --------------------------------------------------------------------------------------


def multinomial_log_likelihood(logits: Tensor, clicks: Tensor) -> Tensor:
    """``log p(x_u | z_u) = sum_i x_ui log softmax(f(z_u))_i`` per user, up to a constant
    (Liang et al., 2018, eq. 2). ``(batch, n_items), (batch, n_items) -> (batch,)``."""
    return (F.log_softmax(logits, dim=-1) * clicks).sum(dim=-1)


def kl_anneal_beta(step: int, anneal_steps: int, beta_max: float) -> float:
    """KL weight at update ``step``: ``beta = beta_max * min(1, step / anneal_steps)``.

    Liang et al. (2018, §2.2.2) raise beta linearly from 0 and stop at ``beta_max`` (0.2 in
    their experiments), so the model first learns to reconstruct, then is regularised. (Their
    code writes ``min(beta_max, step / T)``: the same line with ``T = anneal_steps / beta_max``.)
    """
    if anneal_steps <= 0:
        return beta_max
    return beta_max * min(1.0, step / anneal_steps)


class MultVAENet(nn.Module):
    """The Mult-VAE network (Liang et al., 2018): encoder I -> hidden -> 2 x latent, decoder
    latent -> hidden -> I, tanh activations.

    The click row is L2-normalised and passed through dropout before the encoder.
    """

    def __init__(
        self, n_items: int, latent_dim: int = 64, hidden_dim: int = 200, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_items, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, n_items)
        )
        self.input_dropout = nn.Dropout(dropout)

    def forward(self, clicks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``clicks (batch, n_items) -> (logits (batch, n_items), mu, logvar)``."""
        x = self.input_dropout(F.normalize(clicks, dim=1))
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decoder(z), mu, logvar


class MultVAE(TorchRecommender):
    """Mult-VAE recommender (Liang et al., 2018) behind the course's recommender interface.

    ``fit(train)`` trains on the users' binary click rows; ``score(user_ids)`` encodes each
    user's training row (``z = mu``, no sampling) and returns the decoder's logits
    ``(n, n_items)``; ``score_rows(rows)`` / ``recommend_rows(rows, k)`` do the same for any
    click rows (new users: the "fold-in"); ``recommend(user_ids, k)`` hides training items
    (inherited from ``Recommender``).

    Loss per batch of users: ``-mean_u[ log p(x_u | z_u) ] + beta * mean_u[ KL_u ]`` with
    ``beta = kl_anneal_beta(update, anneal_steps, beta_max)``: ``beta`` rises linearly to
    ``beta_max`` over the first ``anneal_fraction`` of the planned updates, then stays there.

    The paper's setting for ML-20M (136k users) is [I -> 600 -> 200 -> 600 -> I], batch 500.
    The defaults here are sized for the course's datasets of about 1,000 users: a narrower
    network [I -> 200 -> 64 -> 200 -> I] and batches of 32 users (more updates per epoch);
    tanh, input dropout 0.5, Adam 1e-3, ``beta_max = 0.2`` and no weight decay are the paper's.
    ``epochs=None`` means 60, or 3 when ``COURSE_FAST=1``. With ``valid`` passed to ``fit``,
    the weights of the epoch with the best validation NDCG@20 are kept (the paper selects on
    validation NDCG@100); ``patience`` (default ``None``: never) stops training after that many
    epochs without improvement.
    """

    name = "Mult-VAE"

    def __init__(
        self,
        latent_dim: int = 64,
        hidden_dim: int = 200,
        dropout: float = 0.5,
        beta_max: float = 0.2,
        anneal_fraction: float = 0.2,
        epochs: int | None = None,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if beta_max < 0:
            raise ValueError(f"beta_max must be >= 0, got {beta_max}")
        self.latent_dim, self.hidden_dim, self.dropout = latent_dim, hidden_dim, dropout
        self.beta_max, self.anneal_fraction = beta_max, anneal_fraction
        self.epochs = epochs if epochs is not None else (3 if fast_mode() else 60)
        self.batch_size, self.learning_rate, self.patience = batch_size, learning_rate, patience
        self.weight_decay = weight_decay
        self.seed, self.device, self.progress = seed, device, progress

    def _fit(self, train: sp.csr_array) -> None:
        self.net_ = MultVAENet(self.n_items, self.latent_dim, self.hidden_dim, self.dropout).to(self.device_)
        optimizer = torch.optim.Adam(
            self.net_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        n_active_users = int((np.diff(train.indptr) > 0).sum())
        steps_per_epoch = -(-n_active_users // self.batch_size)
        anneal_steps = int(self.anneal_fraction * self.epochs * steps_per_epoch)
        update = 0

        def negative_elbo(net: MultVAENet, users: np.ndarray) -> tuple[Tensor, dict[str, float]]:
            nonlocal update
            clicks = self._rows_to_tensor(train[users])  # (B, n_items)
            logits, mu, logvar = net(clicks)
            beta = kl_anneal_beta(update, anneal_steps, self.beta_max)
            nll = -multinomial_log_likelihood(logits, clicks).mean()
            kl = gaussian_kl(mu, logvar).mean()
            update += 1
            return nll + beta * kl, {"nll": nll.item(), "kl": kl.item(), "beta": beta}

        step = supervised_step(self.net_, negative_elbo, optimizer)
        batches = self._shuffled_user_batches(self.batch_size, np.random.default_rng(self.seed))
        self.history_: History = self._train(step, batches, self.net_, self.patience)
        self.net_.eval()

    @torch.no_grad()
    def score_rows(self, rows: Matrix | np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Logits ``(n_rows, n_items)`` for any binary click rows ``(n_rows, n_items)``."""
        if not hasattr(self, "net_"):
            raise RuntimeError("MultVAE is not fitted yet: call .fit(train) first")
        rows = sp.csr_array(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_items:
            raise ValueError(f"rows must have shape (n, {self.n_items}), got {rows.shape}")
        self.net_.eval()
        chunks = [
            self.net_(self._rows_to_tensor(rows[start : start + batch_size]))[0].cpu().numpy()
            for start in range(0, rows.shape[0], batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.n_items), dtype=np.float32)

    def recommend_rows(self, rows: Matrix | np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` item ids ``(n_rows, k)`` for any click rows, skipping the items in each row."""
        return top_k_items(self.score_rows(rows), k, exclude=sp.csr_array(rows))

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Logits ``(len(user_ids), n_items)`` from each user's training clicks."""
        user_ids = self._check_users(user_ids)
        return self.score_rows(self.train_[user_ids])

    def __repr__(self) -> str:
        return f"MultVAE(latent_dim={self.latent_dim}, beta_max={self.beta_max}, epochs={self.epochs})"
