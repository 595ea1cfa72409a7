"""The article's click model (§5.2), rebuilt correctly on the cached embeddings of frozen encoders.

One tower per modality, a fusion (``course_utils.models.fusion``), a sigmoid output trained
with binary cross-entropy -- in text-only, image-only and fused variants -- with a learned
position bias so that the content towers are not credited with where the logging policy put
an item. Around it: the user profiles (``ClickFeatures``), the logged impressions split in
time like the click matrices (``Impressions``, ``split_impressions``), training, prediction
and whole-catalog scoring for ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import sparse
from torch import Tensor, nn

from course_utils.config import pick_device
from course_utils.data.interactions import Interactions
from course_utils.models.fusion import as_feature_matrix, make_fusion
from course_utils.train import History, fit, supervised_step


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
    * the tokens are fused (``concat``, ``attention`` or ``gated``, or any fusion class called
      as ``fusion(input_dims, dim=hidden_dim)``, e.g. one a learner wrote), and a small MLP
      gives the content logit ``s(u, i)``;
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
        fusion: str | Callable[..., nn.Module] = "concat",
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
        token_dims = [2 * hidden_dim] * len(self.modalities)
        if isinstance(fusion, str):
            self.fusion = make_fusion(fusion, token_dims, dim=hidden_dim)
        elif callable(fusion):
            self.fusion = fusion(token_dims, dim=hidden_dim)
            if not isinstance(getattr(self.fusion, "output_dim", None), int):
                raise TypeError(
                    f"fusion {fusion!r} built a module without an integer output_dim; a fusion module "
                    "must say its output size (e.g. self.output_dim = dim)"
                )
        else:
            raise TypeError(
                f"fusion must be a name ('concat', 'attention', 'gated') or a class, got {fusion!r}"
            )
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
            name: as_feature_matrix(values, f"item_features[{name!r}]")
            for name, values in item_features.items()
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

    def _map(self, transform: Callable[[Tensor], Tensor]) -> Impressions:
        """A new ``Impressions`` with ``transform`` applied to every column present."""
        columns = (getattr(self, column.name) for column in fields(self))
        return Impressions(*(None if column is None else transform(column) for column in columns))

    def subset(self, index: Tensor | np.ndarray) -> Impressions:
        """The rows ``index`` (row numbers or a boolean mask), e.g. a random sample for faster training."""
        index = torch.as_tensor(index)
        return self._map(lambda column: column[index])

    def to(self, device: torch.device | str) -> Impressions:
        """The same impressions on ``device``."""
        return self._map(lambda column: column.to(device))

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
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train a ``ClickModel`` with binary cross-entropy on logits, AdamW and ``course_utils.train.fit``.

    A model with a position bias (``n_positions``) learns it jointly from the impressions'
    ``positions`` (``split_impressions`` keeps them when the log has a ``position`` column).

    When ``valid`` is given, its log-loss (``valid_logloss``) is computed after every epoch;
    training stops after ``patience`` epochs without improvement and keeps the best weights.
    """
    device = pick_device(device)
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
