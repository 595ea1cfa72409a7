"""Cross-modal fusion: combine what a text encoder and an image encoder see in one item.

Read top to bottom:

1. three ways to fuse per-modality feature vectors into one -- early fusion by concatenation
   (the source article's §4.1 ``X_cross = Concat(X_text, X_image)``), attention fusion over
   modality tokens, and gated fusion (a learned, per-item mixing weight per modality);
2. contrastive alignment (CLIP-style): two projection heads trained with the symmetric InfoNCE
   loss so that an item's text and image land close together, and retrieval Recall@K;
3. the article's §5.2 click model, built on these fusion modules, is in
   ``course_utils.models.click_model``.

Every fusion module takes one tensor per modality, each of shape ``(batch, input_dims[m])``,
as positional arguments (``fusion(text, image)``) and returns ``(batch, output_dim)``.
Fusing *scores* of several recommenders is in ``course_utils.models.score_fusion``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import pick_device
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


def as_feature_matrix(values: Tensor | np.ndarray, name: str) -> Tensor:
    """``values`` as a float tensor ``(n, d)``; ValueError naming ``name`` if empty, not 2-D or not finite."""
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
    queries, gallery = as_feature_matrix(queries, "queries"), as_feature_matrix(gallery, "gallery")
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
    device: str | torch.device | None = None,
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
    text, image = as_feature_matrix(text, "text"), as_feature_matrix(image, "image")
    if len(text) != len(image):
        raise ValueError(f"text and image must be paired row by row, got {len(text)} and {len(image)} rows")
    device = pick_device(device)
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
