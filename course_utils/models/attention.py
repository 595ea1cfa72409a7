"""Self-attention from scratch, and SASRec: a next-item recommender built from it.

Read top to bottom: scaled dot-product attention -> masks -> multi-head attention ->
positional encodings -> a transformer block -> SASRec (Kang & McAuley, 2018).

Mask convention (the same as ``torch.nn.functional.scaled_dot_product_attention``): a
boolean mask is ``True`` where a query **may** attend to a key and ``False`` where it may not.

Item-id convention for sequences: catalog item ids ``0..n_items-1``, left-padded with ``-1``
(``pad_sequences``). Inside SASRec, item ``j`` is embedding row ``j + 1`` and row 0 is padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import pick_device, seed_everything
from course_utils.data.interactions import SPLITS, Interactions
from course_utils.metrics import hit_rate_at_k, ndcg_at_k
from course_utils.ranking import top_k_items
from course_utils.train import History, fit, supervised_step, tensor_batches

PADDING_ROW = 0  # embedding row of the padding "item"


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V  (Vaswani et al., 2017).

    Args:
        q: queries, shape ``(..., L_q, d_k)``.
        k: keys, shape ``(..., L_k, d_k)``.
        v: values, shape ``(..., L_k, d_v)``.
        mask: optional boolean mask broadcastable to ``(..., L_q, L_k)``; ``True`` = may
            attend. Disallowed scores are set to ``-inf`` before the softmax, so a query row
            with no allowed key gives NaN (as PyTorch's own implementation does).

    Returns:
        ``(output, weights)``: output ``(..., L_q, d_v)`` and the attention weights
        ``(..., L_q, L_k)``, each row summing to 1.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys need the same last dimension, got {q.shape[-1]} and {k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same length, got {k.shape[-2]} and {v.shape[-2]}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L_q, L_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., L_q, L_k)
    return weights @ v, weights


def causal_mask(length: int, device: torch.device | str | None = None) -> Tensor:
    """Boolean ``(length, length)`` mask, ``True`` on and below the diagonal.

    Position ``i`` may attend to positions ``0..i`` only: the model never sees the future.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def padding_mask(sequences: Tensor, padding: int = -1) -> Tensor:
    """Boolean ``(batch, 1, 1, L)`` mask, ``False`` at padded keys (``sequences == padding``),
    ready to combine with ``causal_mask`` for ``(batch, heads, L, L)`` attention scores."""
    return (sequences != padding)[:, None, None, :]


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al., 2017).

    ``head_i = Attention(X W_i^Q, X W_i^K, X W_i^V)``; ``MHA(X) = concat(head_1..head_h) W^O``.
    The heads are computed in one batched call by splitting ``d_model`` into
    ``n_heads`` slices of ``d_model / n_heads``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.output = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)  # (B, h, L, d_h)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Self-attention over ``x`` ``(batch, L, d_model)``.

        ``mask`` is boolean, broadcastable to ``(batch, n_heads, L, L)``.
        Returns ``(output (batch, L, d_model), weights (batch, n_heads, L, L))``.
        """
        q, k, v = (self._split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, h, L, d_h), (B, h, L, L)
        batch, _, length, _ = heads.shape
        merged = heads.transpose(1, 2).reshape(batch, length, -1)  # (B, L, d_model)
        return self.dropout(self.output(merged)), weights


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed encodings of Vaswani et al. (2017), added to the input embeddings:

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``.
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        if d_model % 2:
            raise ValueError(f"d_model must be even for sinusoidal encodings, got {d_model}")
        position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
        frequency = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2) / d_model)  # (d/2,)
        table = torch.zeros(max_len, d_model)  # (max_len, d)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("table", table)

    def forward(self, x: Tensor) -> Tensor:
        """Add the encodings of positions ``0..L-1`` to ``x`` ``(batch, L, d_model)``."""
        return x + self.table[: x.shape[1]]


class LearnedPositionalEncoding(nn.Module):
    """One trainable vector per position, added to the input (as in SASRec and BERT)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Add the embeddings of positions ``0..L-1`` to ``x`` ``(batch, L, d_model)``."""
        positions = torch.arange(x.shape[1], device=x.device)
        return x + self.table(positions)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + MHA(LN(x))`` then ``x + FFN(LN(x))`` (Xiong et al., 2020)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        attended, weights = self.attention(self.attention_norm(x), mask)
        x = x + attended
        return x + self.feed_forward(self.feed_forward_norm(x)), weights


class SASRec(nn.Module):
    """Self-attentive sequential recommendation (Kang & McAuley, 2018).

    A user's click sequence ``s_1..s_L`` is embedded (item embedding * sqrt(d) + learned
    position embedding), passed through causal self-attention blocks, and the hidden state
    ``h_t`` at each position scores every item ``j`` by ``h_t . e_j`` with the **same** item
    embedding table (weight sharing). The state at the last position predicts the next item.

    Training objective (see ``next_item_loss``): full softmax cross-entropy over all items at
    every position, rather than the paper's BCE with one sampled negative; full softmax is
    affordable for a few thousand items and trains SASRec markedly better
    (Klenitskiy & Vasilev, 2023).

    Inputs are 0-based catalog item ids, left-padded with ``-1`` (see ``pad_sequences``).
    """

    def __init__(
        self,
        n_items: int,
        max_len: int = 50,
        d_model: int = 64,
        n_heads: int = 2,
        n_blocks: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if n_items < 1 or max_len < 1:
            raise ValueError(f"n_items and max_len must be positive, got {n_items} and {max_len}")
        self.n_items = n_items
        self.max_len = max_len
        self.item_embedding = nn.Embedding(n_items + 1, d_model, padding_idx=PADDING_ROW)  # row 0 = padding
        # std d^-1/2: the scaled input e * sqrt(d) has unit-variance entries, and the initial
        # logits h . e (h from a LayerNorm) have unit variance, so the loss starts near ln(n_items).
        nn.init.normal_(self.item_embedding.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[PADDING_ROW].zero_()
        self.position = LearnedPositionalEncoding(max_len, d_model)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, dropout) for _ in range(n_blocks))
        self.final_norm = nn.LayerNorm(d_model)
        self.scale = math.sqrt(d_model)

    def _internal_ids(self, sequences: Tensor) -> Tensor:
        if sequences.dim() != 2:
            raise ValueError(f"sequences must be (batch, length), got shape {tuple(sequences.shape)}")
        if sequences.shape[1] > self.max_len:
            raise ValueError(f"sequences of length {sequences.shape[1]} exceed max_len={self.max_len}")
        if sequences.numel() and (sequences.min() < -1 or sequences.max() >= self.n_items):
            raise ValueError(f"item ids must lie in [0, {self.n_items}) with -1 as padding")
        return sequences + 1  # catalog id j -> row j + 1; padding -1 -> row 0

    def forward(self, sequences: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Hidden states ``(batch, L, d_model)`` and each block's attention ``(batch, heads, L, L)``."""
        ids = self._internal_ids(sequences)
        length = ids.shape[1]
        x = self.item_embedding(ids) * self.scale  # (B, L, d)
        x = self.embedding_dropout(self.position(x))
        # A query may look at itself and at earlier non-padding items. Allowing the diagonal
        # keeps every row non-empty, so padded positions never produce NaN.
        diagonal = torch.eye(length, dtype=torch.bool, device=ids.device)
        mask = causal_mask(length, ids.device) & (padding_mask(sequences) | diagonal)  # (B, 1, L, L)
        attention_maps = []
        for block in self.blocks:
            x, weights = block(x, mask)
            attention_maps.append(weights)
        return self.final_norm(x), attention_maps

    def item_logits(self, hidden: Tensor) -> Tensor:
        """Scores ``h . e_j`` for every catalog item: ``(..., d_model) -> (..., n_items)``."""
        return hidden @ self.item_embedding.weight[1:].T

    def next_item_loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Mean softmax cross-entropy of the next item at every non-padded position.

        ``inputs`` and ``targets`` are ``(batch, L)`` with ``targets[:, t]`` the item clicked
        after ``inputs[:, t]``; ``-1`` marks padding and is ignored.
        """
        hidden, _ = self(inputs)  # (B, L, d)
        real = targets >= 0  # score only the positions that have a next item
        return F.cross_entropy(self.item_logits(hidden[real]), targets[real])  # logits (n_real, n_items)

    @torch.no_grad()
    def score_next(self, sequences: Tensor) -> Tensor:
        """Scores ``(n, n_items)`` for the item following each (left-padded) sequence."""
        hidden, _ = self(sequences)
        return self.item_logits(hidden[:, -1])

    @torch.no_grad()
    def attention_weights(self, sequences: Tensor) -> list[Tensor]:
        """Per block, the attention weights ``(n, n_heads, L, L)`` for plotting."""
        return self(sequences)[1]

    @torch.no_grad()
    def score_histories(self, histories: Sequence[Sequence[int]], batch_size: int = 512) -> np.ndarray:
        """``score_next`` for raw histories (any lengths): pads, batches, returns numpy ``(n, n_items)``."""
        self.eval()
        device = self.item_embedding.weight.device
        padded = torch.from_numpy(pad_sequences(histories, self.max_len))  # (n, max_len)
        chunks = [
            self.score_next(padded[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(padded), batch_size)
        ]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.n_items), dtype=np.float32)


def pad_sequences(sequences: Sequence[Sequence[int]], max_len: int, padding: int = -1) -> np.ndarray:
    """Keep the last ``max_len`` items of each sequence and left-pad with ``padding``.

    Returns an int64 array ``(n_sequences, max_len)``; left padding puts every user's most
    recent item in the last column, which is where SASRec reads its prediction.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    padded = np.full((len(sequences), max_len), padding, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        recent = np.asarray(sequence, dtype=np.int64)[-max_len:]
        if recent.size:
            padded[row, max_len - recent.size :] = recent
    return padded


def next_item_training_pairs(
    sequences: Sequence[Sequence[int]], max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shift each sequence by one: inputs ``s_1..s_{n-1}``, targets ``s_2..s_n``.

    Returns two int64 arrays ``(n_users_with_2+_items, max_len)`` left-padded with ``-1``;
    users with fewer than two items have nothing to learn from and are dropped.
    """
    usable = [np.asarray(s, dtype=np.int64) for s in sequences if len(s) >= 2]
    if not usable:
        raise ValueError("no sequence has at least two items: nothing to train on")
    return pad_sequences([s[:-1] for s in usable], max_len), pad_sequences([s[1:] for s in usable], max_len)


# --------------------------------------------------------------------------------------
# Next-item evaluation and training
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextItemTask:
    """Predict each user's next item from their history, ranking the **full** catalog.

    Example ``e``: ``histories[e]`` is user ``users[e]``'s chronological history and
    ``targets[e]`` the item that came next. Items already in the history are excluded from
    the ranking (the data keeps one event per user-item pair, so a target is never in its own
    history).
    """

    users: np.ndarray  # (n_examples,)
    histories: tuple[np.ndarray, ...]
    targets: np.ndarray  # (n_examples,)
    n_items: int

    @classmethod
    def from_interactions(
        cls, interactions: Interactions, split: str = "test", rolling: bool = False
    ) -> NextItemTask:
        """Next-item examples for the items of ``split`` (``"valid"`` or ``"test"``).

        History = every split before ``split`` (train, or train + valid). With
        ``rolling=False`` the target is the first item of ``split`` in time (one example per
        user); with ``rolling=True`` every item of ``split`` is a target in turn, its history
        extended by the items of ``split`` before it (one example per held-out click: more
        examples, less noise). Users without history or without a target are left out.
        """
        if split not in SPLITS[1:]:
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        before = SPLITS[: SPLITS.index(split)]
        histories, futures = interactions.sequences(before), interactions.sequences((split,))
        users, contexts, targets = [], [], []
        for user in range(interactions.n_users):
            if not len(histories[user]):
                continue
            for position in range(len(futures[user]) if rolling else min(1, len(futures[user]))):
                users.append(user)
                contexts.append(np.concatenate([histories[user], futures[user][:position]]))
                targets.append(futures[user][position])
        if not users:
            raise ValueError(f"no user has both a history and a {split} item")
        return cls(np.array(users), tuple(contexts), np.array(targets), interactions.n_items)

    def seen(self) -> sp.csr_array:
        """Binary ``(n, n_items)`` matrix of the history items, to exclude from the ranking."""
        rows = np.repeat(np.arange(len(self.histories)), [len(h) for h in self.histories])
        columns = np.concatenate(self.histories)
        return sp.csr_array(
            (np.ones(columns.size, np.float32), (rows, columns)), shape=(len(self.users), self.n_items)
        )

    def evaluate(self, scores: np.ndarray, k: int = 10) -> dict[str, float]:
        """Mean HR@k and NDCG@k of ``scores`` ``(n, n_items)`` (one row per task user).

        With a single relevant item, HR@k = 1[rank <= k] and NDCG@k = 1[rank <= k] / log2(rank + 1).
        """
        if scores.shape != (len(self.users), self.n_items):
            raise ValueError(f"scores must have shape {(len(self.users), self.n_items)}, got {scores.shape}")
        lists = top_k_items(scores, k, self.seen())
        relevant = [[target] for target in self.targets]
        return {
            f"HR@{k}": float(np.mean(hit_rate_at_k(lists, relevant, k))),
            f"NDCG@{k}": float(np.mean(ndcg_at_k(lists, relevant, k))),
        }


def train_sasrec(
    model: SASRec,
    sequences: Sequence[Sequence[int]],
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    valid: NextItemTask | None = None,
    patience: int | None = 5,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` on next-item prediction at every position of ``sequences`` (``next_item_loss``).

    Adam; one row per user holding the last ``max_len + 1`` items. With ``valid``, HR@10 and
    NDCG@10 are logged per epoch, the best epoch on NDCG@10 is kept, and training stops after
    ``patience`` epochs without improvement.
    """
    device = pick_device(device)
    seed_everything(seed)
    model.to(device)
    inputs, targets = (torch.from_numpy(a) for a in next_item_training_pairs(sequences, model.max_len))
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    batches = tensor_batches(
        inputs, targets, batch_size=batch_size, generator=torch.Generator().manual_seed(seed), device=device
    )
    step = supervised_step(model, lambda model, batch: model.next_item_loss(*batch), optimizer)

    evaluate, monitor = None, None
    if valid is not None:
        evaluate, monitor = (lambda: valid.evaluate(model.score_histories(valid.histories))), "NDCG@10"
    history = fit(
        step,
        batches,
        epochs,
        evaluate=evaluate,
        monitor=monitor,
        mode="max",
        patience=patience if valid is not None else None,
        model=model,
        desc="SASRec",
        progress=progress,
    )
    model.eval()
    return history
