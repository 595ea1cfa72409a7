"""Implicit-feedback interactions with a per-user temporal train / validation / test split.

Both datasets of the course (the Fashion Shop clicks and MovieLens-100k ratings >= 4) end up
in the same :class:`Interactions` object, so every recommender and metric works on either:

* ``train``, ``valid``, ``test``: binary ``scipy.sparse`` CSR matrices of shape
  ``(n_users, n_items)``; a 1 means "the user interacted with the item in that split";
* ``train_sequences``: each user's training items in chronological order (for SASRec);
* ``events``: the tidy table behind them (``user, item, timestamp, split``).

The split is *per user and temporal* ("leave the last ones out"): each user's events are
sorted by time, the last ``test_fraction`` go to test, the ``valid_fraction`` before them to
validation, the rest to training. Every evaluated item therefore lies in that user's future.
It is not a global time split: one user's test events may predate another user's training
events (Meng et al. 2020, "Exploring data splitting strategies for the evaluation of
recommendation models", discuss the difference).

How the splits are used for evaluation (what a model sees, what it may not recommend, what it
is scored on) is stated once, in :mod:`course_utils.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

SPLITS = ("train", "valid", "test")
EVENT_COLUMNS = ("user", "item", "timestamp")


@dataclass(frozen=True)
class Interactions:
    """Binary user-item interactions split per user in time (see the module docstring).

    ``events`` holds one row per (user, item) pair, sorted by user then time, with the
    column ``split`` in ``{"train", "valid", "test"}``; the matrices and sequences are views
    of it. Users with fewer than ``min_events_to_split`` events keep them all in training.
    """

    n_users: int
    n_items: int
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    train_sequences: tuple[np.ndarray, ...]
    events: pd.DataFrame

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        n_users: int,
        n_items: int,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        min_events_to_split: int = 3,
    ) -> Interactions:
        """Build the split from an events table with columns ``user, item, timestamp``.

        ``user`` and ``item`` are 0-based integer ids below ``n_users`` / ``n_items``.
        Repeated (user, item) pairs keep only their first occurrence, so the splits never
        share a pair. Per user with ``n >= min_events_to_split`` events, sorted by
        ``(timestamp, original row order)``: ``n_test = max(1, round(test_fraction * n))``
        last events go to test, the ``n_valid = max(1, round(valid_fraction * n))`` before
        them to validation, the rest to train (pass a fraction of 0 to skip that split).
        """
        _validate_events(events, n_users, n_items)
        if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
            raise ValueError(
                f"valid_fraction={valid_fraction} and test_fraction={test_fraction} must lie in [0, 1) "
                "and sum to less than 1"
            )
        if min_events_to_split < 1:
            raise ValueError(f"min_events_to_split must be >= 1, got {min_events_to_split}")

        table = pd.DataFrame(
            {
                "user": events["user"].to_numpy(np.int64),
                "item": events["item"].to_numpy(np.int64),
                "timestamp": events["timestamp"].to_numpy(np.int64),
                "order": np.arange(len(events)),
            }
        )
        table = table.sort_values(["user", "timestamp", "order"], kind="stable")
        table = table.drop_duplicates(["user", "item"], keep="first").reset_index(drop=True)

        per_user = table.groupby("user", sort=False)
        size = per_user["item"].transform("size").to_numpy()
        rank_from_end = size - 1 - per_user.cumcount().to_numpy()  # 0 = the user's last event
        splittable = size >= min_events_to_split
        n_test = np.where(splittable & (test_fraction > 0), np.maximum(1, np.rint(test_fraction * size)), 0)
        n_valid = np.where(
            splittable & (valid_fraction > 0), np.maximum(1, np.rint(valid_fraction * size)), 0
        )
        split = np.full(len(table), "train", dtype=object)
        split[rank_from_end < n_test + n_valid] = "valid"
        split[rank_from_end < n_test] = "test"
        table["split"] = pd.Categorical(split, categories=SPLITS)
        table = table.drop(columns="order")

        matrices = {name: _binary_matrix(table[table["split"] == name], n_users, n_items) for name in SPLITS}
        train_rows = table[table["split"] == "train"]
        starts = np.searchsorted(train_rows["user"].to_numpy(), np.arange(n_users + 1))
        train_items = train_rows["item"].to_numpy()
        sequences = tuple(train_items[starts[u] : starts[u + 1]] for u in range(n_users))
        return cls(n_users, n_items, matrices["train"], matrices["valid"], matrices["test"], sequences, table)

    def sequences(self, splits: tuple[str, ...] = SPLITS) -> tuple[np.ndarray, ...]:
        """Each user's items in chronological order, restricted to ``splits``.

        ``sequences(("train", "valid"))`` is the history to condition on when predicting test.
        """
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}: choose from {SPLITS}")
        rows = self.events[self.events["split"].isin(splits)]
        starts = np.searchsorted(rows["user"].to_numpy(), np.arange(self.n_users + 1))
        items = rows["item"].to_numpy()
        return tuple(items[starts[u] : starts[u + 1]] for u in range(self.n_users))

    def evaluation_users(self, split: str = "test") -> np.ndarray:
        """Ids of the users with at least one interaction in ``split`` (the ones to evaluate)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: choose from {SPLITS}")
        matrix: sp.csr_matrix = getattr(self, split)
        return np.flatnonzero(np.diff(matrix.indptr) > 0)

    def summary(self) -> dict[str, float]:
        """Sizes and density: users, items, interactions per split, events per user."""
        per_user = np.diff((self.train + self.valid + self.test).tocsr().indptr)
        return {
            "users": self.n_users,
            "items": self.n_items,
            "train": int(self.train.nnz),
            "valid": int(self.valid.nnz),
            "test": int(self.test.nnz),
            "density": float(per_user.sum() / (self.n_users * self.n_items)),
            "events_per_user_min": int(per_user.min()),
            "events_per_user_median": float(np.median(per_user)),
            "events_per_user_max": int(per_user.max()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Interactions({s['users']} users x {s['items']} items; train={s['train']}, "
            f"valid={s['valid']}, test={s['test']}; density={s['density']:.4f})"
        )


def _binary_matrix(rows: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    """CSR matrix (n_users, n_items), float32, with a 1 at every (user, item) of ``rows``."""
    values = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix(
        (values, (rows["user"].to_numpy(), rows["item"].to_numpy())), shape=(n_users, n_items)
    )
    matrix.sort_indices()
    return matrix


def _validate_events(events: pd.DataFrame, n_users: int, n_items: int) -> None:
    """Raise a ValueError naming the problem when ``events`` cannot be split."""
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"events must be a pandas DataFrame, got {type(events).__name__}")
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events is missing column(s) {missing}; expected {list(EVENT_COLUMNS)}")
    if len(events) == 0:
        raise ValueError("events is empty: there is nothing to split")
    if n_users < 1 or n_items < 1:
        raise ValueError(f"n_users and n_items must be positive, got {n_users} and {n_items}")
    for column, bound in (("user", n_users), ("item", n_items), ("timestamp", None)):
        values = events[column]
        if values.isna().any():
            raise ValueError(f"events[{column!r}] contains missing values (NaN)")
        if not pd.api.types.is_integer_dtype(values):
            raise ValueError(f"events[{column!r}] must hold integers, got dtype {values.dtype}")
        if bound is not None and (values.min() < 0 or values.max() >= bound):
            raise ValueError(
                f"events[{column!r}] must lie in [0, {bound}); "
                f"found values in [{values.min()}, {values.max()}]"
            )
