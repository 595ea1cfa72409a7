"""Baseline recommenders with one interface: random, popularity, item-kNN and matrix factorisation (BPR).

Every recommender in the course follows the same three calls::

    model = ItemKNN().fit(train)                      # train: CSR (n_users, n_items), implicit feedback
    scores = model.score(user_ids)                    # (len(user_ids), n_items) float, higher = better
    lists = model.recommend(user_ids, k=10)           # (len(user_ids), k) item ids, best first

``recommend`` never returns an item the user already has in the training matrix unless you pass
``exclude=None`` (or another matrix, e.g. train + validation).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from course_utils.config import fast_mode, pick_device
from course_utils.metrics import ndcg_at_k
from course_utils.ranking import Matrix, top_k_items
from course_utils.train import History, fit, supervised_step


def _as_train_matrix(train: Matrix) -> sp.csr_array:
    if not sp.issparse(train):
        raise TypeError(f"train must be a scipy.sparse (n_users, n_items) matrix, got {type(train).__name__}")
    train = sp.csr_array(train, dtype=np.float32)
    if train.shape[0] == 0 or train.shape[1] == 0 or train.nnz == 0:
        raise ValueError(f"train matrix is empty (shape {train.shape}, {train.nnz} interactions)")
    if np.isnan(train.data).any():
        raise ValueError("train matrix contains NaN")
    train.data[:] = 1.0  # implicit feedback: an interaction is an interaction
    train.eliminate_zeros()
    return train


class Recommender:
    """Base class: subclasses implement ``_fit(train)`` and ``score(user_ids)``."""

    name = "recommender"

    def fit(self, train: Matrix) -> Self:
        """Learn from a binary user-item matrix ``(n_users, n_items)``; returns ``self``."""
        self.train_ = _as_train_matrix(train)
        self.n_users, self.n_items = self.train_.shape
        self._fit(self.train_)
        return self

    def _fit(self, train: sp.csr_array) -> None:
        raise NotImplementedError

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores ``(len(user_ids), n_items)``; higher means more likely to be relevant."""
        raise NotImplementedError

    def _validation_ndcg(self) -> dict[str, float]:
        """NDCG@20 on ``self._valid`` (the matrix passed to ``fit(train, valid)``), seen items excluded."""
        users = np.flatnonzero(np.diff(self._valid.indptr))
        k = min(20, self.n_items)
        lists = top_k_items(self.score(users), k, self.train_[users])
        return {"valid_NDCG@20": float(np.nanmean(ndcg_at_k(lists, self._valid[users], k)))}

    def _early_stopping(self, patience: int | None) -> dict[str, Any]:
        """Keyword arguments for ``train.fit``: keep the best validation NDCG@20 epoch, if any."""
        if self._valid is None:
            return {"evaluate": None, "monitor": None, "patience": None}
        return {"evaluate": self._validation_ndcg, "monitor": "valid_NDCG@20", "patience": patience}

    def _check_users(self, user_ids: np.ndarray) -> np.ndarray:
        if not hasattr(self, "train_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call .fit(train) first")
        user_ids = np.atleast_1d(np.asarray(user_ids))
        if user_ids.ndim != 1 or user_ids.size == 0 or not np.issubdtype(user_ids.dtype, np.integer):
            raise ValueError(
                f"user_ids must be a non-empty 1-D integer array, got {user_ids.dtype} {user_ids.shape}"
            )
        if user_ids.min() < 0 or user_ids.max() >= self.n_users:
            raise ValueError(
                f"user ids must lie in [0, {self.n_users}), got range [{user_ids.min()}, {user_ids.max()}]"
            )
        return user_ids

    def recommend(self, user_ids: np.ndarray, k: int, exclude: Matrix | None | str = "train") -> np.ndarray:
        """Top-``k`` item ids per user ``(len(user_ids), k)``, best first.

        ``exclude``: ``"train"`` (default) hides the items each user has in the training
        matrix; pass another ``(n_users, n_items)`` matrix to hide those instead, or ``None``.
        """
        user_ids = self._check_users(user_ids)
        if isinstance(exclude, str):
            if exclude != "train":
                raise ValueError(f"exclude must be 'train', None or a sparse matrix, got {exclude!r}")
            exclude = self.train_
        if exclude is not None:
            exclude = sp.csr_array(exclude)
            if exclude.shape != (self.n_users, self.n_items):
                raise ValueError(
                    f"exclude must have shape {(self.n_users, self.n_items)}, got {exclude.shape}"
                )
            exclude = exclude[user_ids]
        return top_k_items(self.score(user_ids), k, exclude)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomRecommender(Recommender):
    """Uniformly random scores (fixed per user and item by ``seed``): the floor any model must beat."""

    name = "Random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, train: sp.csr_array) -> None:
        self.scores_ = np.random.default_rng(self.seed).random(train.shape, dtype=np.float32)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        return self.scores_[self._check_users(user_ids)]


class Popularity(Recommender):
    """Recommend what most users interacted with: ``score(u, i) = |{v : x_vi = 1}|`` for every ``u``.

    The strongest naive baseline on popularity-biased logs, and the filter bubble in its purest form.
    """

    name = "Popularity"

    def _fit(self, train: sp.csr_array) -> None:
        self.item_counts_ = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)  # (n_items,)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        return np.broadcast_to(self.item_counts_, (user_ids.size, self.n_items)).copy()


class ItemKNN(Recommender):
    """Item-based nearest neighbours (Sarwar et al. 2001; top-k model of Deshpande & Karypis 2004).

    ``sim(j, i) = cos(x_:j, x_:i)`` between item columns of the training matrix; each item keeps
    only its ``neighbours`` most similar items; ``score(u, i) = sum_{j in H_u} sim(j, i)``.
    """

    name = "ItemKNN"

    def __init__(self, neighbours: int = 100, block_size: int = 1024):
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours}")
        self.neighbours = neighbours
        self.block_size = block_size

    def _fit(self, train: sp.csr_array) -> None:
        columns = sp.csc_array(train)
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0))).ravel()
        unit_items = sp.csr_array(
            columns @ sp.diags_array(1.0 / np.maximum(norms, 1e-12))
        ).T.tocsr()  # (n_items, n_users)
        keep = min(self.neighbours, self.n_items - 1)
        blocks = []
        for start in range(0, self.n_items, self.block_size):  # dense (block, n_items) at a time
            block = (unit_items[start : start + self.block_size] @ unit_items.T).toarray()
            block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = (
                0.0  # no self-similarity
            )
            if keep > 0:
                weakest = np.argpartition(-block, keep - 1, axis=1)[:, keep:]
                np.put_along_axis(block, weakest, 0.0, axis=1)
            else:
                block[:] = 0.0
            blocks.append(sp.csr_array(block))
        self.similarity_ = sp.vstack(blocks).tocsr()  # (n_items, n_items), row j: neighbours of item j

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        return np.asarray((self.train_[user_ids] @ self.similarity_).toarray(), dtype=np.float32)

    def __repr__(self) -> str:
        return f"ItemKNN(neighbours={self.neighbours})"


class _MatrixFactorisation(nn.Module):
    """``x_ui = <p_u, q_i> + b_i``: user and item factors plus an item bias."""

    def __init__(self, n_users: int, n_items: int, factors: int, generator: torch.Generator):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, factors)
        self.item_factors = nn.Embedding(n_items, factors)
        self.item_bias = nn.Embedding(n_items, 1)
        with torch.no_grad():
            self.user_factors.weight.normal_(0.0, 0.1, generator=generator)
            self.item_factors.weight.normal_(0.0, 0.1, generator=generator)
            self.item_bias.weight.zero_()

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) pairs, both ``(batch,)`` -> ``(batch,)``."""
        return (self.user_factors(users) * self.item_factors(items)).sum(-1) + self.item_bias(items).squeeze(
            -1
        )

    def all_scores(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for ``users`` ``(batch,)`` -> ``(batch, n_items)``."""
        return self.user_factors(users) @ self.item_factors.weight.T + self.item_bias.weight.T


class BPRMF(Recommender):
    """Matrix factorisation trained with Bayesian Personalised Ranking (Rendle et al. 2009).

    For sampled triples (user ``u``, item ``i`` seen by ``u``, item ``j`` not seen by ``u``) minimise
    ``-log sigmoid(x_ui - x_uj) + weight_decay * (|p_u|^2 + |q_i|^2 + |q_j|^2)``: seen items
    should outrank unseen ones. One epoch draws one triple per training interaction; negatives
    are uniform over the items the user has not seen. Adam, trained with ``course_utils.train.fit``.

    ``device=None`` trains on ``pick_device()`` (CUDA, MPS or CPU); scores come back as numpy.
    ``epochs=None`` means 30, or 3 when ``COURSE_FAST=1``. With ``valid`` passed to ``fit``,
    training stops early on validation NDCG@20 (patience 3) and keeps the best epoch.
    """

    name = "BPR-MF"

    def __init__(
        self,
        factors: int = 64,
        epochs: int | None = None,
        learning_rate: float = 5e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 1024,
        seed: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
    ):
        self.factors, self.learning_rate, self.weight_decay = factors, learning_rate, weight_decay
        self.epochs = epochs if epochs is not None else (3 if fast_mode() else 30)
        self.batch_size, self.seed, self.device, self.progress = batch_size, seed, device, progress

    def fit(self, train: Matrix, valid: Matrix | None = None) -> Self:
        """Train on ``train``; if ``valid`` (same shape) is given, early-stop on its NDCG@20."""
        self._valid = None if valid is None else sp.csr_array(valid)
        return super().fit(train)

    def _sample_negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform item ids not in each user's training row (rejection sampling, vectorised)."""
        seen_keys = self._seen_keys
        negatives = rng.integers(0, self.n_items, size=users.size)
        clash = np.isin(users * self.n_items + negatives, seen_keys)
        while clash.any():
            negatives[clash] = rng.integers(0, self.n_items, size=int(clash.sum()))
            clash[clash] = np.isin(users[clash] * self.n_items + negatives[clash], seen_keys)
        return negatives

    def _fit(self, train: sp.csr_array) -> None:
        if self._valid is not None and self._valid.shape != train.shape:
            raise ValueError(f"valid has shape {self._valid.shape} but train has shape {train.shape}")
        rng = np.random.default_rng(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self._device = torch.device(self.device) if self.device is not None else pick_device()
        coo = train.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self._seen_keys = np.sort(users * self.n_items + items)
        self.model_ = _MatrixFactorisation(self.n_users, self.n_items, self.factors, generator).to(
            self._device
        )
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.learning_rate)

        def triples():
            order = rng.permutation(users.size)
            negatives = self._sample_negatives(users[order], rng)
            for start in range(0, order.size, self.batch_size):
                batch = order[start : start + self.batch_size]
                yield tuple(
                    torch.as_tensor(column, device=self._device)
                    for column in (users[batch], items[batch], negatives[start : start + self.batch_size])
                )

        def bpr_loss(model: _MatrixFactorisation, batch) -> torch.Tensor:
            u, i, j = batch  # each (batch,)
            margin = model(u, i) - model(u, j)
            penalty = sum(
                (embedding.pow(2).sum(-1))
                for embedding in (model.user_factors(u), model.item_factors(i), model.item_factors(j))
            )
            return -nn.functional.logsigmoid(margin).mean() + self.weight_decay * penalty.mean()

        self.history_: History = fit(
            supervised_step(self.model_, bpr_loss, optimizer),
            triples,
            self.epochs,
            **self._early_stopping(patience=3),
            mode="max",
            model=self.model_,
            desc="BPR-MF",
            progress=self.progress,
        )
        self.model_.eval()

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        with torch.no_grad():
            scores = self.model_.all_scores(torch.as_tensor(user_ids, device=self._device))
        return scores.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"BPRMF(factors={self.factors}, epochs={self.epochs})"
