"""Recommenders with one interface: random, popularity, item-kNN, EASE, content-based and BPR-MF.

Every recommender in the course follows the same three calls::

    model = ItemKNN().fit(train)                      # train: CSR (n_users, n_items), implicit feedback
    scores = model.score(user_ids)                    # (len(user_ids), n_items) float, higher = better
    lists = model.recommend(user_ids, k=10)           # (len(user_ids), k) item ids, best first

``recommend`` never returns an item the user already has in the training matrix unless you pass
``exclude=None`` (or another matrix, e.g. train + validation). Equal scores are ordered by item id
(``course_utils.ranking.top_k_items``).

``Recommender.fit(train, valid=None)`` validates the matrices and sets ``train_``, ``n_users`` and
``n_items`` before the subclass's ``_fit(train)`` runs. Models trained by gradient descent
(BPR-MF here, ``MultVAE`` and ``CFGAN`` elsewhere) derive from ``TorchRecommender``, which also
resolves ``device`` (``config.pick_device``), seeds every generator from ``seed``, and keeps the
epoch with the best validation NDCG@20 when ``valid`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import lapack
from torch import nn

from course_utils.config import fast_mode, pick_device, seed_everything
from course_utils.metrics import ndcg_at_k, unit_rows
from course_utils.ranking import Matrix, top_k_items
from course_utils.train import History, Step, fit, supervised_step


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


def _as_valid_matrix(valid: Matrix | None, shape: tuple[int, int]) -> sp.csr_array | None:
    if valid is None:
        return None
    if not sp.issparse(valid):
        raise TypeError(f"valid must be a scipy.sparse {shape} matrix or None, got {type(valid).__name__}")
    valid = sp.csr_array(valid, dtype=np.float32)
    if valid.shape != shape:
        raise ValueError(f"valid has shape {valid.shape} but train has shape {shape}")
    if valid.count_nonzero() == 0:
        raise ValueError("valid has no interactions: pass valid=None to train without validation")
    return valid


class Recommender:
    """Base class: subclasses implement ``_fit(train)`` and ``score(user_ids)``."""

    name = "recommender"

    def fit(self, train: Matrix, valid: Matrix | None = None) -> Self:
        """Learn from a binary user-item matrix ``(n_users, n_items)``; returns ``self``.

        ``valid`` (same shape, held-out interactions) is checked and kept as ``valid_``; models
        trained over epochs (``TorchRecommender``) select their best epoch on it, the others
        ignore it.
        """
        self.train_ = _as_train_matrix(train)
        self.n_users, self.n_items = self.train_.shape
        self.valid_ = _as_valid_matrix(valid, self.train_.shape)
        self._fit(self.train_)
        return self

    def _fit(self, train: sp.csr_array) -> None:
        raise NotImplementedError

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores ``(len(user_ids), n_items)``; higher means more likely to be relevant."""
        raise NotImplementedError

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


class TorchRecommender(Recommender):
    """A recommender trained with ``course_utils.train.fit``: owns device, seed and early stopping.

    ``fit`` resolves ``self.device`` with ``pick_device`` into ``device_`` and calls
    ``seed_everything(self.seed)`` before ``_fit`` builds the networks, so two fits with the
    same seed give the same model (on the same device). Subclasses set ``seed``, ``device`` and
    ``progress`` in ``__init__`` and train with ``self._train(step, batches, model, patience)``.
    """

    seed: int
    device: str | torch.device | None
    progress: bool
    epochs: int

    def fit(self, train: Matrix, valid: Matrix | None = None) -> Self:
        """Train on ``train``; if ``valid`` (same shape) is given, keep the epoch with its best NDCG@20."""
        self.device_ = pick_device(self.device)
        seed_everything(self.seed)
        return super().fit(train, valid)

    def _train(
        self, step: Step, batches: Callable[[], Any], model: nn.Module, patience: int | None
    ) -> History:
        """Run ``train.fit`` for ``self.epochs``; with ``valid_``, monitor NDCG@20 and keep the best epoch."""
        if self.valid_ is None:
            stopping: dict[str, Any] = {"evaluate": None, "monitor": None, "patience": None}
        else:
            stopping = {"evaluate": self._validation_ndcg, "monitor": "valid_NDCG@20", "patience": patience}
        return fit(
            step,
            batches,
            self.epochs,
            **stopping,
            mode="max",
            model=model,
            desc=self.name,
            progress=self.progress,
        )

    def _validation_ndcg(self) -> dict[str, float]:
        """NDCG@20 on ``valid_`` over the users who have validation items, training items excluded.

        The cut-off is 20, or fewer when a user has fewer than 20 unseen items (tiny catalogues).
        """
        users = np.flatnonzero(np.diff(self.valid_.indptr))
        seen = self.train_[users]
        k = int(min(20, self.n_items - np.diff(seen.indptr).max()))
        lists = top_k_items(self.score(users), k, seen)
        return {"valid_NDCG@20": float(np.nanmean(ndcg_at_k(lists, self.valid_[users], k)))}

    def _shuffled_user_batches(self, batch_size: int, rng: np.random.Generator) -> Callable[[], Iterator]:
        """Per epoch: users with training items, in a fresh ``rng`` order, ``batch_size`` at a time."""
        active_users = np.flatnonzero(np.diff(self.train_.indptr))

        def batches() -> Iterator[np.ndarray]:
            order = rng.permutation(active_users)
            return (order[i : i + batch_size] for i in range(0, order.size, batch_size))

        return batches

    def _rows_to_tensor(self, rows: sp.csr_array) -> torch.Tensor:
        """Dense float32 ``(n_rows, n_items)`` on ``device_``."""
        return torch.from_numpy(rows.toarray().astype(np.float32)).to(self.device_)


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


def _symmetric_positive_definite_inverse(matrix: np.ndarray) -> np.ndarray:
    """``matrix^{-1}`` of a symmetric positive definite matrix through its Cholesky factor.

    LAPACK ``dpotrf`` (``A = U^T U``) then ``dpotri`` (``A^{-1}`` from ``U``), which fill the upper
    triangle only; the lower one is mirrored. About 1.5x faster than ``np.linalg.inv`` (a general
    LU inverse) at 4,000 items. ``matrix`` is overwritten.
    """
    factor, info = lapack.dpotrf(matrix, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK info {info})")
    upper = np.triu_indices_from(inverse, k=1)
    inverse[upper[1], upper[0]] = inverse[upper]
    return inverse


class EASE(Recommender):
    """Embarrassingly Shallow AutoEncoder (Steck 2019, "Embarrassingly Shallow Autoencoders for
    Sparse Data", WWW): an item-item weight matrix ``B`` learned in closed form.

    ``B`` minimises ``||X - X B||_F^2 + l2 * ||B||_F^2`` subject to ``diag(B) = 0`` (an item may
    not predict itself). With ``P = (X^T X + l2 I)^{-1}`` the solution is

        ``B = I - P diag(1 / diag(P))``,  i.e.  ``B_ij = -P_ij / P_jj`` for ``i != j``, ``B_jj = 0``,

    and ``score(u, i) = sum_j x_uj B_ji`` (the row ``x_u B``). ``l2`` is the only parameter;
    Steck reports values in the hundreds for MovieLens-sized data, and 500 is a common choice
    for ML-100k-like catalogues; larger catalogues or denser logs need larger values.
    Cost: one dense ``(n_items, n_items)`` inverse, fine up to a few ten thousand items.
    """

    name = "EASE"

    def __init__(self, l2: float = 500.0):
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0 (it keeps X^T X + l2 I invertible), got {l2}")
        self.l2 = l2

    def _fit(self, train: sp.csr_array) -> None:
        gram = (train.T @ train).toarray().astype(np.float64)  # (n_items, n_items) co-occurrence counts
        gram[np.diag_indices_from(gram)] += self.l2
        precision = _symmetric_positive_definite_inverse(gram)  # P
        weights = -precision / np.diag(precision)  # column j divided by P_jj
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights.astype(np.float32)  # (n_items, n_items), B

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        return np.asarray(self.train_[user_ids] @ self.weights_, dtype=np.float32)

    def __repr__(self) -> str:
        return f"EASE(l2={self.l2})"


class ContentBased(Recommender):
    """Content-based recommender: how close each item's embedding is to the user's taste profile.

    With unit item vectors ``e_i = v_i / |v_i|`` (rows of ``item_embeddings``, ``(n_items, dim)``)
    and the training history ``H_u`` of user ``u``:

        ``profile_u = (1 / |H_u|) sum_{j in H_u} e_j``   and   ``score(u, i) = cos(profile_u, e_i)``,

    the cosine between the unit profile and each unit item vector, in [-1, 1]. A user with an
    empty history (or a profile of zero length, e.g. two opposite items) gets score 0 for every
    item, so ``recommend`` falls back to item-id order. An all-zero item embedding raises
    (``metrics.unit_rows``: its cosine is undefined).

    ``centre=True`` subtracts the catalogue's mean embedding before normalising. Image features
    (e.g. after a ReLU) are all positive, so every pair of raw vectors has a high cosine; after
    centring, cosine measures how an item differs from the average item instead.
    """

    name = "Content"

    def __init__(self, item_embeddings: np.ndarray, centre: bool = False):
        embeddings = np.asarray(item_embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
            raise ValueError(
                f"item_embeddings must be a non-empty (n_items, dim) array, got shape {embeddings.shape}"
            )
        if not np.isfinite(embeddings).all():
            raise ValueError("item_embeddings contain NaN or infinite values")
        self.item_embeddings, self.centre = embeddings, centre

    def _fit(self, train: sp.csr_array) -> None:
        if train.shape[1] != len(self.item_embeddings):
            raise ValueError(
                f"train has {train.shape[1]} items but item_embeddings has {len(self.item_embeddings)} rows: "
                "pass one embedding per item id"
            )
        vectors = self.item_embeddings
        if self.centre:
            vectors = vectors - vectors.mean(axis=0)
        self.unit_items_ = unit_rows(vectors, "item_embeddings")  # (n_items, dim)
        history_sizes = np.maximum(np.diff(train.indptr), 1)[:, None]  # empty history: a zero profile
        profiles = (train @ self.unit_items_) / history_sizes  # (n_users, dim), mean of unit vectors
        lengths = np.linalg.norm(profiles, axis=1, keepdims=True)
        self.profiles_ = np.divide(profiles, lengths, out=np.zeros_like(profiles), where=lengths > 0)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        return (self.profiles_[user_ids] @ self.unit_items_.T).astype(np.float32)

    def __repr__(self) -> str:
        return f"ContentBased(dim={self.item_embeddings.shape[1]}, centre={self.centre})"


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


class BPRMF(TorchRecommender):
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
        rng = np.random.default_rng(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        coo = train.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self._seen_keys = np.sort(users * self.n_items + items)
        self.model_ = _MatrixFactorisation(self.n_users, self.n_items, self.factors, generator).to(
            self.device_
        )
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.learning_rate)

        def triples() -> Iterator[tuple[torch.Tensor, ...]]:
            order = rng.permutation(users.size)
            negatives = self._sample_negatives(users[order], rng)
            for start in range(0, order.size, self.batch_size):
                batch = order[start : start + self.batch_size]
                yield tuple(
                    torch.as_tensor(column, device=self.device_)
                    for column in (users[batch], items[batch], negatives[start : start + self.batch_size])
                )

        def bpr_loss(model: _MatrixFactorisation, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            u, i, j = batch  # each (batch,)
            margin = model(u, i) - model(u, j)
            penalty = sum(
                (embedding.pow(2).sum(-1))
                for embedding in (model.user_factors(u), model.item_factors(i), model.item_factors(j))
            )
            return -nn.functional.logsigmoid(margin).mean() + self.weight_decay * penalty.mean()

        step = supervised_step(self.model_, bpr_loss, optimizer)
        self.history_: History = self._train(step, triples, self.model_, patience=3)
        self.model_.eval()

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        user_ids = self._check_users(user_ids)
        with torch.no_grad():
            scores = self.model_.all_scores(torch.as_tensor(user_ids, device=self.device_))
        return scores.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"BPRMF(factors={self.factors}, epochs={self.epochs})"
