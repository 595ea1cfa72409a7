"""GAN-based augmentation: synthetic items for rare categories, synthetic clicks for sparse users.

Two ways a generative model can add data that a recommender never logged:

1. **Rebalancing the catalogue** with a conditional GAN (Mirza & Osindero, 2014): ask
   ``G(z, y)`` for images of the under-represented categories ``y`` until every category has
   as many examples as the largest one (the idea of BAGAN, Mariani et al., 2018). The GAN
   itself -- networks, losses, training, the sample-diversity score -- lives in
   ``course_utils.models.gan``; this module only decides *how many of what* to generate.
2. **Densifying sparse users** with CFGAN (Chae et al., 2018, "CFGAN: A Generic Collaborative
   Filtering Framework based on Generative Adversarial Networks", CIKM): a generator that maps a
   user's purchase vector to a *vector* of plausible purchases, trained against a
   discriminator that sees real and generated vectors, with two tricks against the trivial
   "everything is 1" solution (below). Its top unseen items become synthetic interactions.

CFGAN, for a user ``u`` with binary purchase vector ``e_u`` (also the condition ``c_u``):

- ``G(c_u) = r_hat_u in (0, 1)^n_items`` (a sigmoid MLP without a noise input: CFGAN wants the
  single most plausible purchase vector of each user, so the condition alone drives G);
- **vector-wise masking**: ``D`` sees ``r_hat_u * (e_u + k_u)`` next to ``c_u``: only the
  generator's values on purchased items (and partial-masking items), because the real vector
  ``e_u`` is 1 on purchases and says nothing about the rest;
- **partial masking (PM)**: ``k_u`` marks a random share ``pm_ratio`` of the unpurchased items;
  ``D`` then sees the generator's values there too and learns that real vectors are 0 there;
- **zero reconstruction (ZR)**: ``+ zr_weight * sum_{j in ZR_u} r_hat_uj^2`` for a random share
  ``zr_ratio`` of unpurchased items, pulling the generator towards 0 on non-purchases.

Losses are the non-saturating ones of ``course_utils.models.gan`` (Goodfellow et al., 2014);
the paper wrote the minimax form, which has the same fixed point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from course_utils.models.gan import IMAGE_SHAPE, discriminator_loss, generate, generator_loss
from course_utils.models.recommenders import Matrix, TorchRecommender
from course_utils.train import History

# --------------------------------------------------------------------------------------
# 1. Rebalancing categories with a conditional generator
# --------------------------------------------------------------------------------------


def rebalancing_counts(labels: np.ndarray, n_classes: int, target: int | None = None) -> np.ndarray:
    """How many synthetic samples each category needs to reach ``target`` examples.

    ``counts[c] = max(0, target - n_c)`` where ``n_c`` is the number of real examples of ``c``;
    ``target`` defaults to the largest category, so all categories end up equally large.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of category ids, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integer category ids, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got range [{labels.min()}, {labels.max()}]")
    real = np.bincount(labels, minlength=n_classes)
    target = int(real.max()) if target is None else target
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    return np.maximum(target - real, 0)


def synthesise_for_categories(
    generator: nn.Module, counts: Sequence[int] | np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[c]`` images of each category ``c`` from a conditional generator.

    The labels *are* the condition ``y`` of ``G(z, y)``. Returns ``(images, labels)``: uint8
    images ``(sum(counts), 28, 28, 3)`` and the requested category of each ``(sum(counts),)``,
    in category order, ready to append to the real training set.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError(f"counts must be a 1-D array of non-negative ints, got {counts}")
    if getattr(generator, "n_classes", None) is None:
        raise ValueError("the generator is unconditional: build it with n_classes=... (a conditional GAN)")
    if len(counts) > generator.n_classes:
        raise ValueError(f"{len(counts)} categories requested, the generator knows {generator.n_classes}")
    labels = np.repeat(np.arange(len(counts)), counts)  # (n,)
    if len(labels) == 0:
        channels, height, width = IMAGE_SHAPE
        return np.zeros((0, height, width, channels), dtype=np.uint8), labels
    return generate(generator, len(labels), labels, seed=seed), labels


# --------------------------------------------------------------------------------------
# 2. CFGAN: plausible purchase vectors for sparse users
# --------------------------------------------------------------------------------------


def _mlp(in_features: int, hidden_dim: int, n_hidden: int, out_features: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class CFGANGenerator(nn.Module):
    """``c_u (batch, n_items) -> r_hat_u (batch, n_items)`` in (0, 1): a sigmoid MLP."""

    def __init__(self, n_items: int, hidden_dim: int = 256, n_hidden: int = 1) -> None:
        super().__init__()
        self.net = _mlp(n_items, hidden_dim, n_hidden, n_items)

    def forward(self, condition: Tensor) -> Tensor:
        return torch.sigmoid(self.net(condition))


class CFGANDiscriminator(nn.Module):
    """``(purchase vector, condition) -> logit (batch,)``; positive means "a real user's vector"."""

    def __init__(self, n_items: int, hidden_dim: int = 256, n_hidden: int = 1) -> None:
        super().__init__()
        self.net = _mlp(2 * n_items, hidden_dim, n_hidden, 1)

    def forward(self, purchases: Tensor, condition: Tensor) -> Tensor:
        return self.net(torch.cat([purchases, condition], dim=1)).squeeze(1)  # (batch,)


def _unpurchased_sample(purchases: Tensor, ratio: float) -> Tensor:
    """A float mask ``(batch, n_items)``: each unpurchased item is drawn with probability ``ratio``."""
    return ((torch.rand_like(purchases) < ratio) & (purchases == 0)).float()


def cfgan_discriminator_loss(
    generator: CFGANGenerator, discriminator: CFGANDiscriminator, purchases: Tensor, pm_ratio: float
) -> Tensor:
    """``-log D(e_u | c_u) - log(1 - D(r_hat_u * (e_u + k_u) | c_u))``, averaged over the batch.

    ``purchases`` are binary purchase vectors ``e_u (batch, n_items)``, also the condition
    ``c_u``; ``k_u`` is a fresh partial-masking draw of unpurchased items at rate ``pm_ratio``
    (Chae et al., 2018, §4). The generator is not updated by this loss.
    """
    with torch.no_grad():
        masked = generator(purchases) * (purchases + _unpurchased_sample(purchases, pm_ratio))  # (B, n_items)
    return discriminator_loss(discriminator(purchases, purchases), discriminator(masked, purchases))


def cfgan_generator_loss(
    generator: CFGANGenerator,
    discriminator: CFGANDiscriminator,
    purchases: Tensor,
    pm_ratio: float,
    zr_ratio: float,
    zr_weight: float,
) -> Tensor:
    """``-log D(r_hat_u * (e_u + k_u) | c_u) + zr_weight * sum_{j in ZR_u} r_hat_uj^2``, batch mean.

    ``k_u`` (partial masking) and ``ZR_u`` (zero reconstruction) are fresh random draws of
    unpurchased items at rates ``pm_ratio`` and ``zr_ratio`` (Chae et al., 2018, §4).
    """
    generated = generator(purchases)  # (B, n_items)
    masked = generated * (purchases + _unpurchased_sample(purchases, pm_ratio))  # (B, n_items)
    zero_reconstruction = (generated.pow(2) * _unpurchased_sample(purchases, zr_ratio)).sum(dim=1).mean()
    return generator_loss(discriminator(masked, purchases)) + zr_weight * zero_reconstruction


class CFGAN(TorchRecommender):
    """CFGAN recommender (Chae et al., 2018) behind the course's recommender interface.

    ``fit(train)`` trains G and D on the users' binary purchase rows; ``score(user_ids)``
    returns ``r_hat_u`` ``(n, n_items)``; ``recommend(user_ids, k)`` the top-k unseen items
    (inherited from ``Recommender``); ``synthetic_interactions(user_ids, n_per_user)`` the
    generated purchases used as augmentation. Per batch: ``d_steps`` discriminator updates,
    then ``g_steps`` generator updates (Adam). ``zr_ratio``, ``pm_ratio`` and ``zr_weight`` are
    the paper's S_ZR, S_PM and alpha. With ``valid`` passed to ``fit``, the generator of the
    epoch with the best validation NDCG@20 is kept and training stops after ``patience``
    epochs without improvement.
    """

    name = "CFGAN"

    def __init__(
        self,
        hidden_dim: int = 256,
        n_hidden: int = 1,
        zr_ratio: float = 0.5,
        pm_ratio: float = 0.5,
        zr_weight: float = 0.1,
        epochs: int = 100,
        batch_size: int = 64,
        learning_rate: float = 1e-4,
        d_steps: int = 1,
        g_steps: int = 1,
        patience: int = 10,
        seed: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        for name, ratio in (("zr_ratio", zr_ratio), ("pm_ratio", pm_ratio)):
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {ratio}")
        if min(epochs, batch_size, d_steps, g_steps, hidden_dim) < 1:
            raise ValueError("epochs, batch_size, d_steps, g_steps and hidden_dim must all be >= 1")
        self.hidden_dim, self.n_hidden = hidden_dim, n_hidden
        self.zr_ratio, self.pm_ratio, self.zr_weight = zr_ratio, pm_ratio, zr_weight
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.d_steps, self.g_steps, self.patience = d_steps, g_steps, patience
        self.seed, self.device, self.progress = seed, device, progress

    def _fit(self, train: sp.csr_array) -> None:
        generator = CFGANGenerator(self.n_items, self.hidden_dim, self.n_hidden).to(self.device_)
        discriminator = CFGANDiscriminator(self.n_items, self.hidden_dim, self.n_hidden).to(self.device_)
        self.generator_, self.discriminator_ = generator, discriminator
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=self.learning_rate)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=self.learning_rate)

        def step(users: np.ndarray) -> dict[str, float]:
            generator.train()
            discriminator.train()
            purchases = self._rows_to_tensor(train[users])  # (B, n_items) binary e_u
            for _ in range(self.d_steps):
                d_loss = cfgan_discriminator_loss(generator, discriminator, purchases, self.pm_ratio)
                d_optimizer.zero_grad(set_to_none=True)
                d_loss.backward()
                d_optimizer.step()
            for _ in range(self.g_steps):
                g_loss = cfgan_generator_loss(
                    generator, discriminator, purchases, self.pm_ratio, self.zr_ratio, self.zr_weight
                )
                g_optimizer.zero_grad(set_to_none=True)
                g_loss.backward()
                g_optimizer.step()
            return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

        batches = self._shuffled_user_batches(self.batch_size, np.random.default_rng(self.seed))
        self.history_: History = self._train(step, batches, generator, self.patience)
        generator.eval()
        discriminator.eval()

    @torch.no_grad()
    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Generated purchase vectors ``r_hat_u`` ``(len(user_ids), n_items)`` from training rows."""
        user_ids = self._check_users(user_ids)
        self.generator_.eval()
        chunks = [
            self.generator_(self._rows_to_tensor(self.train_[user_ids[start : start + 1024]]))
            for start in range(0, user_ids.size, 1024)
        ]
        return torch.cat(chunks).cpu().numpy()

    def synthetic_interactions(self, user_ids: np.ndarray, n_per_user: int) -> sp.csr_matrix:
        """The generator's ``n_per_user`` most plausible *new* purchases of each user in ``user_ids``.

        Returns a binary CSR matrix shaped like the training matrix, non-zero only in the rows
        of ``user_ids`` and never on an item the user already has: add it to the training
        matrix (``train + synthetic``) to densify sparse users.
        """
        if n_per_user < 1:
            raise ValueError(f"n_per_user must be >= 1, got {n_per_user}")
        user_ids = np.unique(np.asarray(user_ids, dtype=np.int64))
        if user_ids.size == 0:
            return sp.csr_matrix((self.n_users, self.n_items), dtype=np.float32)
        new_items = self.recommend(user_ids, n_per_user)  # (n_selected, n_per_user), unseen items
        rows = np.repeat(user_ids, n_per_user)
        values = np.ones(rows.size, dtype=np.float32)
        return sp.csr_matrix((values, (rows, new_items.ravel())), shape=(self.n_users, self.n_items))

    def __repr__(self) -> str:
        return f"CFGAN(hidden_dim={self.hidden_dim}, zr_ratio={self.zr_ratio}, pm_ratio={self.pm_ratio})"


def synthetic_precision(synthetic: Matrix, future: Matrix) -> float:
    """Share of synthetic interactions that really happen later: ``|S ∩ F| / |S|``.

    ``synthetic`` and ``future`` are ``(n_users, n_items)`` matrices (non-zero = interaction);
    ``future`` holds each user's held-out later interactions (validation + test). A generator
    of *plausible* interactions should beat a trivial filler (e.g. the most popular items) here;
    1 would mean every synthetic click is one the user really made later. NaN when ``synthetic``
    is empty.
    """
    synthetic, future = sp.csr_matrix(synthetic), sp.csr_matrix(future)
    if synthetic.shape != future.shape:
        raise ValueError(f"synthetic has shape {synthetic.shape} but future has shape {future.shape}")
    synthetic.eliminate_zeros()
    if synthetic.nnz == 0:
        return float("nan")
    return float((synthetic != 0).multiply(future != 0).nnz / synthetic.nnz)


def sparse_users(train_csr: sp.spmatrix, max_interactions: int) -> np.ndarray:
    """Ids of users with between 1 and ``max_interactions`` training interactions (the sparse ones)."""
    if max_interactions < 1:
        raise ValueError(f"max_interactions must be >= 1, got {max_interactions}")
    counts = sp.csr_matrix(train_csr).getnnz(axis=1)
    return np.flatnonzero((counts >= 1) & (counts <= max_interactions))
