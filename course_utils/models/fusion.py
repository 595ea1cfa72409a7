"""Cross-modal fusion: combine what a text encoder and an image encoder see in one item.

Read top to bottom:

1. three ways to fuse per-modality feature vectors into one -- early fusion by concatenation
   (the source article's §4.1 ``X_cross = Concat(X_text, X_image)``), attention fusion over
   modality tokens, and gated fusion (a learned, per-item mixing weight per modality);
2. contrastive alignment (CLIP-style): two projection heads trained with the symmetric InfoNCE
   loss so that an item's text and image land close together, and retrieval Recall@K;
3. the article's §5.2 click model rebuilt correctly in PyTorch on cached embeddings of frozen
   encoders: one tower per modality, a fusion, a sigmoid output trained with binary
   cross-entropy -- in text-only, image-only and fused variants, with a learned position bias
   so that the content towers are not credited with where the logging policy put an item.

Every fusion module takes one tensor per modality, each of shape ``(batch, input_dims[m])``,
as positional arguments (``fusion(text, image)``) and returns ``(batch, output_dim)``.
Fusing *scores* of several recommenders is in ``course_utils.models.score_fusion``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import sparse
from torch import Tensor, nn

from course_utils.config import pick_device
from course_utils.data.interactions import Interactions
from course_utils.models.attention import MultiHeadAttention
from course_utils.train import History, fit, supervised_step


def _check_modalities(modalities: Sequence[Tensor], input_dims: Sequence[int], who: str) -> None:
    """Raise a clear error unless ``modalities`` are 2-D float tensors matching ``input_dims``."""
    if len(modalities) != len(input_dims):
        raise ValueError(f"{who} was built for {len(input_dims)} modalities, got {len(modalities)} tensors")
    for index, (tensor, dim) in enumerate(zip(modalities, input_dims, strict=True)):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{who}: modality {index} must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise TypeError(f"{who}: modality {index} must be a float tensor, got dtype {tensor.dtype}")
        if tensor.ndim != 2 or tensor.shape[1] != dim:
            raise ValueError(
                f"{who}: modality {index} must have shape (batch, {dim}), got {tuple(tensor.shape)}"
            )
    if len({tensor.shape[0] for tensor in modalities}) > 1:
        raise ValueError(f"{who}: modalities have different batch sizes {[t.shape[0] for t in modalities]}")


def _check_dims(input_dims: Sequence[int]) -> list[int]:
    dims = [int(dim) for dim in input_dims]
    if not dims or any(dim < 1 for dim in dims):
        raise ValueError(f"input_dims must be a non-empty list of positive sizes, got {input_dims}")
    return dims


# --------------------------------------------------------------------------------------------
# 1. Feature fusion modules
# --------------------------------------------------------------------------------------------


class ConcatFusion(nn.Module):
    """Early fusion by concatenation: ``X_cross = Concat(X_1, ..., X_M)`` (the article's §4.1).

    No parameters: whatever comes next (a dense layer) learns how to weigh and combine the
    modalities. It keeps all the information, but the output grows with every modality and a
    modality with many more dimensions (1280-d image vs 384-d text) can dominate the next layer.
    """

    def __init__(self, input_dims: Sequence[int]) -> None:
        super().__init__()
        self.input_dims = _check_dims(input_dims)
        self.output_dim = sum(self.input_dims)

    def forward(self, *modalities: Tensor) -> Tensor:
        """``(batch, d_1), ..., (batch, d_M) -> (batch, d_1 + ... + d_M)``."""
        _check_modalities(modalities, self.input_dims, "ConcatFusion")
        return torch.cat(modalities, dim=-1)


class AttentionFusion(nn.Module):
    """Attention fusion: each modality becomes a token, the tokens attend to each other.

    ``t_m = W_m x_m + e_m`` projects modality ``m`` to a ``dim``-d token and adds a learned
    modality embedding ``e_m`` (so attention knows which token is which); multi-head
    self-attention (Vaswani et al., 2017) over the ``M`` tokens lets each modality borrow from
    the others, ``h = LayerNorm(t + MHA(t))``; the fused vector is the mean of the ``M``
    tokens. This is the token-level fusion of multimodal transformers (e.g. Nagrani et al.,
    2021, "Attention Bottlenecks for Multimodal Fusion"), reduced to one token per modality.
    """

    def __init__(
        self, input_dims: Sequence[int], dim: int = 64, n_heads: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.input_dims = _check_dims(input_dims)
        self.output_dim = dim
        self.projections = nn.ModuleList(nn.Linear(d, dim) for d in self.input_dims)
        self.modality_embedding = nn.Parameter(0.02 * torch.randn(len(self.input_dims), dim))  # (M, dim)
        self.attention = MultiHeadAttention(dim, n_heads, dropout)
        self.norm = nn.LayerNorm(dim)

    def _attend(self, modalities: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        _check_modalities(modalities, self.input_dims, "AttentionFusion")
        tokens = torch.stack([proj(x) for proj, x in zip(self.projections, modalities, strict=True)], dim=1)
        tokens = tokens + self.modality_embedding  # (B, M, dim): one token per modality
        attended, weights = self.attention(tokens)  # (B, M, dim), (B, heads, M, M)
        return self.norm(tokens + attended), weights

    def forward(self, *modalities: Tensor) -> Tensor:
        """``(batch, d_1), ..., (batch, d_M) -> (batch, dim)``: the mean of the attended tokens."""
        tokens, _ = self._attend(modalities)
        return tokens.mean(dim=1)

    def modality_weights(self, *modalities: Tensor) -> Tensor:
        """How much attention each modality's token receives, averaged over heads and queries.

        Shape ``(batch, M)``; each row sums to 1. A reading aid, not a causal explanation.
        """
        _, weights = self._attend(modalities)  # (B, heads, M_query, M_key)
        return weights.mean(dim=(1, 2))


class GatedFusion(nn.Module):
    """Gated fusion: a learned gate decides, per item and per dimension, how much of each modality to use.

    Gated Multimodal Unit (Arevalo et al., 2017): ``h_m = tanh(W_m x_m)``,
    ``z = sigmoid(W_z [x_1; ...; x_M])``, and for two modalities ``h = z * h_1 + (1 - z) * h_2``.
    For ``M`` modalities the gates are a softmax over modalities, ``z_m = softmax_m(W_z^m [x])``,
    ``h = sum_m z_m * h_m``, which for ``M = 2`` is exactly the sigmoid gate above
    (``softmax(a, b)_1 = sigmoid(a - b)``). The gates are inspectable: ``modality_weights``.
    """

    def __init__(self, input_dims: Sequence[int], dim: int = 64) -> None:
        super().__init__()
        self.input_dims = _check_dims(input_dims)
        self.output_dim = dim
        self.projections = nn.ModuleList(nn.Linear(d, dim) for d in self.input_dims)
        self.gate = nn.Linear(sum(self.input_dims), len(self.input_dims) * dim)

    def gates(self, *modalities: Tensor) -> Tensor:
        """Gate values ``(batch, M, dim)`` in (0, 1), summing to 1 over the ``M`` modalities."""
        _check_modalities(modalities, self.input_dims, "GatedFusion")
        logits = self.gate(torch.cat(modalities, dim=-1))  # (B, M * dim)
        return torch.softmax(logits.view(-1, len(self.input_dims), self.output_dim), dim=1)  # (B, M, dim)

    def forward(self, *modalities: Tensor) -> Tensor:
        """``(batch, d_1), ..., (batch, d_M) -> (batch, dim)``: ``sum_m z_m * tanh(W_m x_m)``."""
        gates = self.gates(*modalities)  # (B, M, dim)
        hidden = torch.stack(
            [torch.tanh(proj(x)) for proj, x in zip(self.projections, modalities, strict=True)], dim=1
        )
        return (gates * hidden).sum(dim=1)  # (B, dim)

    def modality_weights(self, *modalities: Tensor) -> Tensor:
        """Each modality's gate averaged over dimensions, ``(batch, M)``; rows sum to 1."""
        return self.gates(*modalities).mean(dim=-1)


FUSIONS: dict[str, type[nn.Module]] = {
    "concat": ConcatFusion,
    "attention": AttentionFusion,
    "gated": GatedFusion,
}


def make_fusion(name: str, input_dims: Sequence[int], dim: int = 64) -> nn.Module:
    """Build a fusion module by name: ``"concat"``, ``"attention"`` or ``"gated"``.

    ``dim`` is the output size of the learned fusions; concat has no parameters and ignores it.
    """
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}: choose one of {sorted(FUSIONS)}")
    return ConcatFusion(input_dims) if name == "concat" else FUSIONS[name](input_dims, dim=dim)


# --------------------------------------------------------------------------------------------
# 2. Contrastive alignment (CLIP-style) and cross-modal retrieval
# --------------------------------------------------------------------------------------------


def info_nce_loss(queries: Tensor, keys: Tensor, temperature: float | Tensor = 0.07) -> Tensor:
    """Symmetric InfoNCE loss of ``n`` paired embeddings (van den Oord et al., 2018; Radford et al., 2021).

    Both inputs ``(n, d)`` are L2-normalised, ``logits = Q K^T / T`` ``(n, n)``; pair ``i``'s
    positive is the diagonal entry, the other ``n - 1`` items of the batch are its negatives:
    ``L = (CE(logits, diag) + CE(logits^T, diag)) / 2`` (queries->keys and keys->queries).
    Perfectly aligned, mutually orthogonal pairs give a loss near 0 at a low temperature;
    embeddings that carry no information (all logits equal) give ``log(n)``.
    """
    if queries.ndim != 2 or queries.shape != keys.shape:
        raise ValueError(
            f"queries and keys must both be (n, d) with the same shape, "
            f"got {tuple(queries.shape)} and {tuple(keys.shape)}"
        )
    if queries.shape[0] < 2:
        raise ValueError("InfoNCE needs at least 2 pairs: the other pairs in the batch are the negatives")
    if float(torch.as_tensor(temperature).detach()) <= 0:
        raise ValueError(f"temperature must be > 0, got {float(torch.as_tensor(temperature).detach())}")
    logits = F.normalize(queries, dim=-1) @ F.normalize(keys, dim=-1).T / temperature  # (n, n)
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def projection_head(input_dim: int, output_dim: int, hidden_dim: int | None = None) -> nn.Module:
    """A linear projection (as in CLIP) or, with ``hidden_dim``, a two-layer MLP with a GELU."""
    if hidden_dim is None:
        return nn.Linear(input_dim, output_dim)
    return nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, output_dim))


class ContrastiveAligner(nn.Module):
    """CLIP-style alignment (Radford et al., 2021) of two frozen encoders' embeddings.

    Two projection heads map text ``(n, text_dim)`` and image ``(n, image_dim)`` embeddings to
    a shared ``embed_dim``-d unit sphere; training minimises the symmetric InfoNCE loss of
    matching (text, image) pairs. The temperature is learned as ``T = exp(-s)`` with ``s``
    initialised to ``log(1 / 0.07)`` and clamped to ``T >= 0.01``, as in CLIP.
    """

    def __init__(
        self,
        text_dim: int,
        image_dim: int,
        embed_dim: int = 128,
        hidden_dim: int | None = 256,
        temperature: float = 0.07,
        learn_temperature: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.text_head = projection_head(text_dim, embed_dim, hidden_dim)
        self.image_head = projection_head(image_dim, embed_dim, hidden_dim)
        self.log_inverse_temperature = nn.Parameter(
            torch.tensor(math.log(1 / temperature)), requires_grad=learn_temperature
        )

    @property
    def temperature(self) -> Tensor:
        """The current temperature ``T = exp(-s)``, at least 0.01 (``s`` clamped at log 100 as in CLIP)."""
        return torch.exp(-self.log_inverse_temperature.clamp(max=math.log(100.0)))

    def embed_text(self, text: Tensor) -> Tensor:
        """Text embeddings ``(n, text_dim)`` -> unit vectors ``(n, embed_dim)`` in the shared space."""
        return F.normalize(self.text_head(text), dim=-1)

    def embed_image(self, image: Tensor) -> Tensor:
        """Image embeddings ``(n, image_dim)`` -> unit vectors ``(n, embed_dim)`` in the shared space."""
        return F.normalize(self.image_head(image), dim=-1)

    def forward(self, text: Tensor, image: Tensor) -> Tensor:
        """The symmetric InfoNCE loss of the ``n`` (text, image) pairs of a batch."""
        return info_nce_loss(self.embed_text(text), self.embed_image(image), self.temperature)


def _as_matrix(values: Tensor | np.ndarray, name: str) -> Tensor:
    matrix = torch.as_tensor(values).float()
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) matrix, got shape {tuple(matrix.shape)}")
    if not torch.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return matrix


def retrieval_ranks(
    queries: Tensor | np.ndarray, gallery: Tensor | np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """1-based rank of each query's own partner in the gallery, by cosine similarity.

    Query ``i`` (e.g. an item's text) is paired with gallery entry ``i`` (the same item's
    image). Its rank is ``1 + #{j : cos(q_i, g_j) > cos(q_i, g_i)}`` (ties counted in the
    query's favour). Shapes ``(n, d)`` and ``(n, d)``; returns ``(n,)`` integers.
    """
    queries, gallery = _as_matrix(queries, "queries"), _as_matrix(gallery, "gallery")
    if queries.shape != gallery.shape:
        raise ValueError(
            f"queries and gallery must be paired row by row (same shape), "
            f"got {tuple(queries.shape)} and {tuple(gallery.shape)}"
        )
    queries, gallery = F.normalize(queries, dim=-1), F.normalize(gallery, dim=-1)
    ranks = []
    for start in range(0, len(queries), batch_size):
        similarity = queries[start : start + batch_size] @ gallery.T  # (batch, n)
        positive = similarity[torch.arange(len(similarity)), torch.arange(start, start + len(similarity))]
        ranks.append(1 + (similarity > positive[:, None]).sum(dim=1))
    return torch.cat(ranks).numpy()


def retrieval_recall_at_k(queries: Tensor | np.ndarray, gallery: Tensor | np.ndarray, k: int = 10) -> float:
    """Cross-modal Recall@K: the share of queries whose partner is among the ``k`` most similar gallery items.

    With ``n`` gallery items, a random ranking scores ``k / n`` (the chance level).
    """
    n_gallery = len(gallery)
    if not 1 <= k <= n_gallery:
        raise ValueError(f"k must be between 1 and the gallery size {n_gallery}, got {k}")
    return float((retrieval_ranks(queries, gallery) <= k).mean())


def train_aligner(
    aligner: ContrastiveAligner,
    text: Tensor | np.ndarray,
    image: Tensor | np.ndarray,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    valid_fraction: float = 0.1,
    seed: int = 0,
    device: torch.device | None = None,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] = info_nce_loss,
    progress: bool = True,
) -> History:
    """Train ``aligner`` on paired embeddings with AdamW and ``course_utils.train.fit``.

    Each step minimises ``loss_fn(text_embeddings, image_embeddings, temperature)`` (default
    the symmetric InfoNCE) over a shuffled batch: in-batch negatives, so a larger
    ``batch_size`` gives more (and harder) negatives. A random ``valid_fraction`` of the pairs
    is held out; after each epoch the held-out text->image Recall@10 (``valid_recall@10``) is
    logged and the best epoch's weights are kept.
    """
    text, image = _as_matrix(text, "text"), _as_matrix(image, "image")
    if len(text) != len(image):
        raise ValueError(f"text and image must be paired row by row, got {len(text)} and {len(image)} rows")
    device = device or pick_device()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(text), generator=generator)
    n_valid = max(int(valid_fraction * len(text)), 2) if valid_fraction > 0 else 0
    valid, train = order[:n_valid], order[n_valid:]
    if len(train) < 2:
        raise ValueError(f"need at least 2 training pairs, got {len(train)}")
    aligner.to(device)
    text, image = text.to(device), image.to(device)

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), batch_size):
            index = shuffled[start : start + batch_size]
            if len(index) >= 2:  # InfoNCE needs at least one negative
                yield text[index], image[index]

    def evaluate() -> dict[str, float]:
        k = min(10, n_valid)
        recall = retrieval_recall_at_k(
            aligner.embed_text(text[valid]).cpu(), aligner.embed_image(image[valid]).cpu(), k
        )
        return {f"valid_recall@{k}": recall, "temperature": aligner.temperature.item()}

    # as in CLIP, no weight decay on biases and the temperature (1-d / scalar parameters)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in aligner.parameters() if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in aligner.parameters() if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=lr,
    )

    def contrastive_loss(model: ContrastiveAligner, batch: tuple[Tensor, Tensor]) -> Tensor:
        text_batch, image_batch = batch
        return loss_fn(model.embed_text(text_batch), model.embed_image(image_batch), model.temperature)

    step = supervised_step(aligner, contrastive_loss, optimizer)
    monitor = f"valid_recall@{min(10, n_valid)}" if n_valid else None
    return fit(
        step,
        batches,
        epochs,
        evaluate=evaluate if n_valid else None,
        monitor=monitor,
        mode="max",
        model=aligner,
        desc="align",
        progress=progress,
    )


# --------------------------------------------------------------------------------------------
# 3. The article's click model (§5.2), rebuilt on frozen encoders' cached embeddings
# --------------------------------------------------------------------------------------------


class ClickModel(nn.Module):
    """Click-through model: per-modality towers -> fusion -> sigmoid (the article's §5.2, corrected).

    The article stacks ``Dense(1024, relu)`` on a BERT and a ResNet, concatenates, and ends in
    ``Dense(1, sigmoid)`` trained with binary cross-entropy -- but its code does not run, has
    no user in it (so every user gets the same prediction for an item) and would fine-tune two
    large encoders end to end on clicks. Here the encoders are frozen and their embeddings
    cached (only the layers on top learn); for each modality ``m``:

    * a tower ``f_m(x) = ReLU(W_m LayerNorm(x) + b_m)`` embeds the item's features ``x_m`` and
      the user's profile ``u_m`` (e.g. the mean features of the items they clicked);
    * the modality's token is ``[f_m(x_m) * f_m(u_m); f_m(x_m)]`` -- the match between user and
      item, plus the item on its own;
    * the tokens are fused (``concat``, ``attention`` or ``gated``), and a small MLP gives the
      content logit ``s(u, i)``;
    * with ``n_positions``, a learned bias per slate position is added while training on logged
      impressions: ``logit = s(u, i) + beta[p]``. Clicks depend on where an item was shown
      (position bias); without ``beta`` the content towers would learn "items the logging
      policy put on top are good". This is the additive "shallow tower" of Zhao et al. (2019);
      on the logit scale it plays the role of the examination factor of a position-based model
      (Craswell et al. 2008; PAL, Guo et al. 2019). Called without positions, the model returns
      ``s(u, i)``: every item scored as if shown at the same position, which is what ranking
      needs.

    ``sigmoid(logit)`` is the click probability; train with ``BCEWithLogits`` (numerically
    safer than a sigmoid followed by BCE). Text-only, image-only and fused models are the same
    class with one or two modalities.
    """

    def __init__(
        self,
        modality_dims: Mapping[str, int],
        hidden_dim: int = 64,
        fusion: str = "concat",
        dropout: float = 0.1,
        n_positions: int | None = None,
    ) -> None:
        super().__init__()
        if not modality_dims:
            raise ValueError("modality_dims must name at least one modality, e.g. {'text': 384}")
        if n_positions is not None and n_positions < 1:
            raise ValueError(f"n_positions must be a positive slate length, got {n_positions}")
        self.modalities = list(modality_dims)
        self.towers = nn.ModuleDict(
            {
                name: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.ReLU())
                for name, dim in modality_dims.items()
            }
        )
        self.fusion = make_fusion(fusion, [2 * hidden_dim] * len(self.modalities), dim=hidden_dim)
        self.head = nn.Sequential(
            nn.Linear(self.fusion.output_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, 1),
        )
        self.position_bias = None if n_positions is None else nn.Embedding(n_positions, 1)
        if self.position_bias is not None:
            nn.init.zeros_(self.position_bias.weight)  # start from "position does not matter"

    def embed(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Tower outputs ``{modality: (batch, hidden_dim)}`` of item features or user profiles."""
        if set(features) != set(self.modalities):
            raise ValueError(
                f"features must have exactly the modalities {self.modalities}, got {sorted(features)}"
            )
        return {name: self.towers[name](features[name]) for name in self.modalities}

    def _tokens(self, item_hidden: Mapping[str, Tensor], user_hidden: Mapping[str, Tensor]) -> list[Tensor]:
        # one token (batch, 2 * hidden_dim) per modality: [user-item match; item]
        return [
            torch.cat([item_hidden[name] * user_hidden[name], item_hidden[name]], dim=-1)
            for name in self.modalities
        ]

    def score_embedded(self, item_hidden: Mapping[str, Tensor], user_hidden: Mapping[str, Tensor]) -> Tensor:
        """Click logits ``(batch,)`` from tower outputs (``embed``): fusion of the tokens, then the head."""
        return self.head(self.fusion(*self._tokens(item_hidden, user_hidden))).squeeze(-1)

    def forward(
        self, item: Mapping[str, Tensor], user: Mapping[str, Tensor], positions: Tensor | None = None
    ) -> Tensor:
        """Click logits ``(batch,)`` from item features and user profiles, each ``{modality: (batch, d)}``.

        ``positions`` ``(batch,)`` (slate positions, 0 = top) adds the learned position bias;
        without them the logit is the content score alone.
        """
        logits = self.score_embedded(self.embed(item), self.embed(user))
        if positions is None:
            return logits
        if self.position_bias is None:
            raise ValueError("this model has no position bias: create it with ClickModel(..., n_positions=K)")
        if positions.min() < 0 or positions.max() >= self.position_bias.num_embeddings:
            raise ValueError(
                f"positions must lie in [0, {self.position_bias.num_embeddings}), "
                f"got [{int(positions.min())}, {int(positions.max())}]"
            )
        return logits + self.position_bias(positions).squeeze(-1)

    @property
    def uses_positions(self) -> bool:
        """Whether the model was built with a position bias (``n_positions``)."""
        return self.position_bias is not None

    def modality_weights(self, item: Mapping[str, Tensor], user: Mapping[str, Tensor]) -> Tensor:
        """Per-modality weights ``(batch, M)`` of an attention or gated fusion (concat has none)."""
        if not hasattr(self.fusion, "modality_weights"):
            raise TypeError(
                f"{type(self.fusion).__name__} has no modality weights; use fusion='attention' or 'gated'"
            )
        return self.fusion.modality_weights(*self._tokens(self.embed(item), self.embed(user)))


@dataclass
class ClickFeatures:
    """Feature tables a ``ClickModel`` reads: item features and user profiles per modality.

    ``items[m]`` is ``(n_items, d_m)``; ``profile_sums[m]`` is ``(n_users, d_m)``, the sum of
    the features of the items each user clicked in the history; ``profile_counts`` ``(n_users,)``
    how many. ``lookup`` turns them into a batch, optionally leaving the target item out of the
    profile (so a training click is never explained by itself).
    """

    items: dict[str, Tensor]
    profile_sums: dict[str, Tensor]
    profile_counts: Tensor

    @classmethod
    def from_history(
        cls, item_features: Mapping[str, Tensor | np.ndarray], history: sparse.sparray | sparse.spmatrix
    ) -> ClickFeatures:
        """Build from ``{modality: (n_items, d)}`` features and a ``(n_users, n_items)`` sparse click matrix.

        Any stored non-zero entry counts as one click (repeat clicks are not weighted).
        """
        clicked = sparse.csr_array(history != 0, dtype=np.float32)  # (n_users, n_items) 0/1
        items = {
            name: _as_matrix(values, f"item_features[{name!r}]") for name, values in item_features.items()
        }
        if not items:
            raise ValueError("item_features must name at least one modality")
        for name, table in items.items():
            if len(table) != clicked.shape[1]:
                raise ValueError(
                    f"item_features[{name!r}] has {len(table)} rows but the history has "
                    f"{clicked.shape[1]} items"
                )
        sums = {
            name: torch.as_tensor(clicked @ table.numpy()) for name, table in items.items()
        }  # (n_users, d)
        counts = torch.as_tensor(clicked.sum(axis=1))  # (n_users,)
        return cls(items=items, profile_sums=sums, profile_counts=counts)

    def to(self, device: torch.device) -> ClickFeatures:
        """The same tables on ``device``."""
        return ClickFeatures(
            {n: t.to(device) for n, t in self.items.items()},
            {n: t.to(device) for n, t in self.profile_sums.items()},
            self.profile_counts.to(device),
        )

    def profiles(self, users: Tensor, modalities: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Mean history features ``{modality: (batch, d_m)}`` of ``users`` (zero without history)."""
        names = self._check_modalities(modalities)
        counts = self.profile_counts[users].clamp(min=1.0)[:, None]  # (B, 1)
        return {name: self.profile_sums[name][users] / counts for name in names}

    def _check_modalities(self, modalities: Sequence[str] | None) -> list[str]:
        names = list(modalities) if modalities is not None else list(self.items)
        unknown = set(names) - set(self.items)
        if unknown:
            raise KeyError(f"unknown modalities {sorted(unknown)}; available: {sorted(self.items)}")
        return names

    def lookup(
        self,
        users: Tensor,
        items: Tensor,
        leave_out: Tensor | None = None,
        modalities: Sequence[str] | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Item features and mean user profiles for a batch of (user, item) pairs.

        ``profile = (sum_u - r * x_i) / max(count_u - r, 1)`` where ``r = leave_out`` (1 where
        the target item is part of the user's history and must be left out, else 0). A user
        with no history gets a zero profile.
        """
        names = self._check_modalities(modalities)
        removed = (
            torch.zeros(len(users), device=users.device) if leave_out is None else leave_out.float()
        )  # (B,)
        counts = (self.profile_counts[users] - removed).clamp(min=1.0)[:, None]  # (B, 1)
        item_batch = {name: self.items[name][items] for name in names}  # each (B, d)
        user_batch = {
            name: (self.profile_sums[name][users] - removed[:, None] * item_batch[name]) / counts
            for name in names
        }
        return item_batch, user_batch


@dataclass
class Impressions:
    """Labelled (user, item) pairs: ``users``, ``items`` (long) and ``clicked`` (0/1 float), all ``(n,)``.

    ``in_history`` (optional, 0/1) marks pairs whose item is in the user's profile history, so
    that ``ClickFeatures.lookup`` leaves it out of the profile. ``positions`` (optional, long)
    is the slate position at which the item was shown (0 = top), for a position-aware model.
    """

    users: Tensor
    items: Tensor
    clicked: Tensor
    in_history: Tensor | None = None
    positions: Tensor | None = None

    def __post_init__(self) -> None:
        lengths = {len(self.users), len(self.items), len(self.clicked)}
        lengths |= {len(t) for t in (self.in_history, self.positions) if t is not None}
        if len(lengths) != 1 or not len(self.users):
            raise ValueError(
                "users, items, clicked (and in_history, positions) must be non-empty and equally long, "
                f"got {lengths}"
            )

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, index: Tensor | np.ndarray) -> Impressions:
        """The rows ``index`` (row numbers or a boolean mask), e.g. a random sample for faster training."""
        index = torch.as_tensor(index)
        return Impressions(
            self.users[index],
            self.items[index],
            self.clicked[index],
            None if self.in_history is None else self.in_history[index],
            None if self.positions is None else self.positions[index],
        )

    def to(self, device: torch.device | str) -> Impressions:
        """The same impressions on ``device``."""
        return Impressions(
            *(None if t is None else t.to(device) for t in (self.users, self.items, self.clicked)),
            *(None if t is None else t.to(device) for t in (self.in_history, self.positions)),
        )

    def batches(
        self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Impressions]:
        """Yield consecutive (or, with ``shuffle``, random) subsets of ``batch_size`` rows."""
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield self.subset(order[start : start + batch_size])


def split_impressions(impressions: pd.DataFrame, interactions: Interactions) -> dict[str, Impressions]:
    """Split logged impressions into train / valid / test periods that match ``interactions``' split.

    Per user, with ``t_train``, ``t_valid``, ``t_test`` the times of their last training,
    validation and test click: an impression at time ``t`` is in ``train`` if ``t <= t_train``,
    in ``valid`` if ``t_train < t <= t_valid`` and in ``test`` if ``t_valid < t <= t_test`` --
    so a model trained on the train period and profiled with ``interactions.train`` is
    evaluated on the future, as the click matrices are. Impressions after a user's last click
    are dropped: that tail has no click *by construction* of the boundaries, and would make a
    period look colder than it is. A user whose clicks were too few to split keeps them all in
    ``train``. In the train period, ``in_history`` marks pairs whose item is in the user's
    training clicks (``ClickFeatures.lookup`` leaves it out of the profile).
    ``impressions`` needs the columns ``user, item, timestamp, clicked``; with a ``position``
    column the splits carry the slate positions too.
    """
    missing = {"user", "item", "timestamp", "clicked"} - set(impressions.columns)
    if missing:
        raise ValueError(f"impressions lacks the column(s) {sorted(missing)}")
    if impressions.empty:
        raise ValueError("impressions is empty")
    events = interactions.events
    period_end = []  # per split, (n_users,) time of the last click; a split without clicks has no period
    for split in ("train", "valid", "test"):
        last = events[events["split"] == split].groupby("user")["timestamp"].max()
        last = last.reindex(range(interactions.n_users)).to_numpy(dtype=float)
        previous = period_end[-1] if period_end else np.full(interactions.n_users, -np.inf)
        period_end.append(np.where(np.isnan(last), previous, last))
    users, items = impressions["user"].to_numpy(), impressions["item"].to_numpy()
    timestamps = impressions["timestamp"].to_numpy()
    # period code 0 / 1 / 2 = train / valid / test; 3 = after the user's last click (dropped)
    period = sum((timestamps > end[users]).astype(int) for end in period_end)
    in_training_history = np.asarray(interactions.train[users, items]).ravel() > 0
    clicked = impressions["clicked"].to_numpy().astype(np.float32)
    positions = impressions["position"].to_numpy().astype(np.int64) if "position" in impressions else None
    splits = {}
    for code, name in enumerate(("train", "valid", "test")):
        rows = period == code
        if not rows.any():
            raise ValueError(f"no impression falls in the {name} period; is the log too short?")
        splits[name] = Impressions(
            torch.as_tensor(users[rows]),
            torch.as_tensor(items[rows]),
            torch.as_tensor(clicked[rows]),
            torch.as_tensor(in_training_history[rows] & (code == 0), dtype=torch.float32),
            None if positions is None else torch.as_tensor(positions[rows]),
        )
    return splits


def _batch_logits(model: ClickModel, features: ClickFeatures, batch: Impressions) -> Tensor:
    """Logits of one batch (already on the model's device), with its positions if the model uses them."""
    item_batch, user_batch = features.lookup(batch.users, batch.items, batch.in_history, model.modalities)
    if model.uses_positions and batch.positions is None:
        raise ValueError("the model has a position bias but the impressions carry no positions")
    return model(item_batch, user_batch, batch.positions if model.uses_positions else None)


def predict_clicks(
    model: ClickModel, features: ClickFeatures, data: Impressions, batch_size: int = 4096
) -> np.ndarray:
    """Click probabilities ``sigmoid(logit)`` of every pair of ``data``, at its logged positions: ``(n,)``."""
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad():
        for batch in data.batches(batch_size):
            outputs.append(torch.sigmoid(_batch_logits(model, features, batch.to(device))).cpu())
    return torch.cat(outputs).numpy()


def score_all_items(
    model: ClickModel, features: ClickFeatures, users: np.ndarray, users_per_batch: int = 16
) -> np.ndarray:
    """Click logits of every catalog item for each of ``users``: ``(n_users, n_items)``, for ranking.

    The towers run once per item and once per user; only the fusion and the head run on all
    ``n_users x n_items`` pairs (``users_per_batch`` users at a time bounds the memory).
    Profiles are the users' full history (nothing left out): we predict the future. A position
    bias, if the model has one, is left out: every item is ranked as if shown at the same place.
    """
    device = next(model.parameters()).device
    users = np.asarray(users)
    if users.ndim != 1 or users.size == 0:
        raise ValueError(f"users must be a non-empty 1-D array of user ids, got shape {users.shape}")
    model.eval()
    rows = []
    with torch.no_grad():
        item_hidden = model.embed(
            {name: features.items[name].to(device) for name in model.modalities}
        )  # (I, h)
        n_items = len(next(iter(item_hidden.values())))
        for start in range(0, len(users), users_per_batch):
            chunk = torch.as_tensor(users[start : start + users_per_batch])
            profiles = {
                name: table.to(device) for name, table in features.profiles(chunk, model.modalities).items()
            }
            user_hidden = model.embed(profiles)  # each (c, h)
            pairs_item = {
                name: hidden.repeat(len(chunk), 1) for name, hidden in item_hidden.items()
            }  # (c*I, h)
            pairs_user = {
                name: hidden.repeat_interleave(n_items, dim=0) for name, hidden in user_hidden.items()
            }
            rows.append(model.score_embedded(pairs_item, pairs_user).view(len(chunk), n_items).cpu())
    return torch.cat(rows).numpy()


def train_click_model(
    model: ClickModel,
    features: ClickFeatures,
    train: Impressions,
    valid: Impressions | None = None,
    epochs: int = 20,
    batch_size: int = 512,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    patience: int | None = 3,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train a ``ClickModel`` with binary cross-entropy on logits, AdamW and ``course_utils.train.fit``.

    A model with a position bias (``n_positions``) learns it jointly from the impressions'
    ``positions`` (``split_impressions`` keeps them when the log has a ``position`` column).

    When ``valid`` is given, its log-loss (``valid_logloss``) is computed after every epoch;
    training stops after ``patience`` epochs without improvement and keeps the best weights.
    """
    device = device or pick_device()
    model.to(device)
    features = features.to(device)
    generator = torch.Generator().manual_seed(seed)

    def loss(net: ClickModel, batch: Impressions) -> Tensor:
        batch = batch.to(device)
        return F.binary_cross_entropy_with_logits(_batch_logits(net, features, batch), batch.clicked)

    def evaluate() -> dict[str, float]:
        probabilities = torch.as_tensor(predict_clicks(model, features, valid)).clamp(1e-7, 1 - 1e-7)
        return {"valid_logloss": F.binary_cross_entropy(probabilities, valid.clicked.float()).item()}

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    step = supervised_step(model, loss, optimizer)

    def batches() -> Iterator[Impressions]:
        return train.batches(batch_size, shuffle=True, generator=generator)

    return fit(
        step,
        batches,
        epochs,
        evaluate=evaluate if valid is not None else None,
        monitor="valid_logloss" if valid is not None else None,
        mode="min",
        patience=patience if valid is not None else None,
        model=model,
        desc="click model",
        progress=progress,
    )
