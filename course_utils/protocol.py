"""The evaluation protocol of the course, stated once: what a model sees, what it may not recommend,
what it is scored on -- and how an operating point is chosen.

On the per-user temporal split of :class:`~course_utils.data.interactions.Interactions` (each
user's oldest events are ``train``, the next ones ``valid``, the latest ``test``):

========== ===================== ===================== ============ ==========================
split      input (model sees)    exclude (never shown) targets      evaluated users
========== ===================== ===================== ============ ==========================
validation train                 train                 valid        users with a valid item
test       train + valid         train + valid         test         users with a test item
========== ===================== ===================== ============ ==========================

* Models are **chosen** (hyperparameters, epochs, fusion weights, re-ranking strength) on
  validation and **reported** on test; test targets are looked at once, at the end.
* For test, the validation clicks are part of each user's history, because they happened
  before the test clicks: either refit the chosen model on ``train + valid`` (what the course
  does for cheap models: popularity, item-kNN, BPR with the chosen settings), or, for models
  that read a user's history at scoring time (Mult-VAE, SASRec), pass the ``train + valid``
  rows / :attr:`EvaluationSplit.sequences` as that history.
* An item the user already interacted with in the input is never recommended again
  (``exclude`` = input): recommending it would be trivially "correct" for test items that
  repeat and wasted for the others. Splits never share a (user, item) pair, so no target is
  ever excluded.

:func:`evaluation_split` builds either row of the table; :func:`select_on_validation` is the
"choose on validation" half: it takes validation numbers only, and the notebook then reports the
chosen candidate on test.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from course_utils.data.interactions import Interactions
from course_utils.ranking import top_k_items

EVALUATION_SPLITS = ("valid", "test")
_INPUT_SPLITS = {"valid": ("train",), "test": ("train", "valid")}


@dataclass(frozen=True)
class EvaluationSplit:
    """One row of the protocol table (module docstring): inputs, exclusions and targets of a split.

    ``inputs`` and ``targets`` are binary CSR matrices ``(n_users, n_items)`` over all users;
    ``users`` are the ids evaluated (at least one target); ``sequences`` are each user's
    input items in chronological order (for sequence models such as SASRec).
    """

    name: str  # "valid" or "test"
    inputs: sp.csr_matrix
    targets: sp.csr_matrix
    users: np.ndarray
    sequences: tuple[np.ndarray, ...]

    @property
    def exclude(self) -> sp.csr_matrix:
        """Items never recommended: the same matrix as ``inputs`` (what the user already has)."""
        return self.inputs

    @property
    def ground_truth(self) -> sp.csr_matrix:
        """``targets`` restricted to ``users``, row ``i`` for ``users[i]``: the metrics' ground truth."""
        return self.targets[self.users]

    def top_k(self, scores: np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` item ids per evaluated user ``(len(users), k)``, best first, inputs excluded.

        ``scores``: ``(len(users), n_items)``, row ``i`` scored for ``users[i]``.
        """
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[0] != self.users.size:
            raise ValueError(
                f"scores must have one row per evaluated user, shape ({self.users.size}, n_items); "
                f"got {scores.shape}: score split.users, in that order"
            )
        return top_k_items(scores, k, self.exclude[self.users])

    def __repr__(self) -> str:
        return (
            f"EvaluationSplit({self.name!r}: {self.users.size} users, inputs={self.inputs.nnz}, "
            f"targets={self.targets[self.users].nnz})"
        )


def evaluation_split(interactions: Interactions, split: str) -> EvaluationSplit:
    """The inputs, exclusions, targets and users of ``split`` (``"valid"`` or ``"test"``).

    ``valid``: input = exclude = train, targets = valid. ``test``: input = exclude = train + valid,
    targets = test (see the module docstring for why).
    """
    if not isinstance(interactions, Interactions):
        raise TypeError(f"interactions must be an Interactions object, got {type(interactions).__name__}")
    if split not in EVALUATION_SPLITS:
        raise ValueError(f"split must be one of {EVALUATION_SPLITS}, got {split!r}")
    inputs = interactions.train if split == "valid" else interactions.train + interactions.valid
    inputs = sp.csr_matrix(inputs)
    inputs.sort_indices()
    return EvaluationSplit(
        name=split,
        inputs=inputs,
        targets=getattr(interactions, split),
        users=interactions.evaluation_users(split),
        sequences=interactions.sequences(_INPUT_SPLITS[split]),
    )


def sample_evaluation_users(split: EvaluationSplit, max_users: int | None, seed: int) -> EvaluationSplit:
    """``split`` restricted to a seeded random sample of at most ``max_users`` of its users (sorted ids).

    ``max_users=None`` (or at least ``len(split.users)``) keeps every user. The sample is drawn
    without replacement with ``np.random.default_rng(seed)``, so the same seed gives the same users
    whatever ran before -- fast-mode notebooks evaluate a sample, full mode everyone. Inputs and
    targets stay over all users; only ``users`` (and so ``ground_truth`` and ``top_k``) shrink.
    """
    if not isinstance(split, EvaluationSplit):
        raise TypeError(
            "split must be an EvaluationSplit (from evaluation_split(data, 'test')), "
            f"got {type(split).__name__}"
        )
    if max_users is None or max_users >= split.users.size:
        return split
    if isinstance(max_users, bool) or not isinstance(max_users, int | np.integer) or max_users < 1:
        raise ValueError(f"max_users must be a positive integer or None (every user), got {max_users!r}")
    users = np.sort(np.random.default_rng(seed).choice(split.users, int(max_users), replace=False))
    return dataclasses.replace(split, users=users)


@dataclass(frozen=True)
class Selection:
    """The operating point chosen by :func:`select_on_validation`."""

    index: int  # position of the chosen candidate
    candidate: Any  # the chosen candidate itself (a row of a DataFrame, or an element of the sequence)
    valid_value: float  # its validation objective
    n_allowed: int  # candidates that met the budget (all of them without a budget)
    rule: str  # the rule, in words

    def __str__(self) -> str:
        shown = "" if isinstance(self.candidate, pd.Series) else f" = {self.candidate!r}"
        objective = f"validation objective {self.valid_value:.4g}"
        return f"candidate {self.index}{shown} ({objective}); rule: {self.rule}"


def _validation_values(candidates: Sequence[Any] | pd.DataFrame, values: Any, argument: str) -> np.ndarray:
    """One finite float per candidate; a DataFrame column may be given by name (never a test column)."""
    if isinstance(values, str):
        if not isinstance(candidates, pd.DataFrame):
            raise TypeError(f"{argument}={values!r} names a column, but candidates is not a DataFrame")
        if values not in candidates.columns:
            columns = list(candidates.columns)
            raise ValueError(f"{argument}={values!r} is not a column of candidates: {columns}")
        if re.search(r"\btest\b", values, flags=re.IGNORECASE):
            raise ValueError(
                f"{argument}={values!r} looks like a test metric: choose on validation numbers only, "
                "then report the chosen candidate on test"
            )
        values = candidates[values]
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (len(candidates),):
        raise ValueError(
            f"{argument} must hold one value per candidate ({len(candidates)}), got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{argument} contains NaN or inf: every candidate needs a validation value")
    return array


def select_on_validation(
    candidates: Sequence[Any] | pd.DataFrame,
    valid_objective: Any,
    valid_budget_metric: Any = None,
    budget_reference: float | None = None,
    max_relative_loss: float | None = None,
) -> Selection:
    """Choose an operating point on validation: the best ``valid_objective``, optionally within a budget.

    ``candidates``: the operating points (a sequence, or a DataFrame with one row per candidate).
    ``valid_objective``: the validation value to maximise, one per candidate (or a column name).
    Budget (optional, all three together): keep only candidates with
    ``valid_budget_metric >= (1 - max_relative_loss) * budget_reference`` -- e.g. "at most 5 %
    NDCG@10 loss on validation relative to the base ranking" is ``valid_budget_metric=<validation
    NDCG per candidate>, budget_reference=<base ranking's validation NDCG>, max_relative_loss=0.05``.

    Ties (exactly equal objectives) go to the **first** candidate in the given order, so list
    candidates from the most conservative (e.g. ``diversity = 0``) upward. Pass validation
    numbers only; a column name containing the word "test" is refused.
    """
    if len(candidates) == 0:
        raise ValueError("candidates is empty: there is nothing to choose from")
    objective = _validation_values(candidates, valid_objective, "valid_objective")
    budget_arguments = (valid_budget_metric, budget_reference, max_relative_loss)
    allowed = np.ones(len(candidates), dtype=bool)
    rule = "highest validation objective; ties go to the first candidate"
    if any(argument is not None for argument in budget_arguments):
        if any(argument is None for argument in budget_arguments):
            raise ValueError(
                "a budget needs valid_budget_metric, budget_reference and max_relative_loss together"
            )
        if not 0 <= max_relative_loss < 1:
            raise ValueError(f"max_relative_loss must lie in [0, 1), e.g. 0.05; got {max_relative_loss}")
        budget = _validation_values(candidates, valid_budget_metric, "valid_budget_metric")
        floor = (1 - max_relative_loss) * float(budget_reference)
        allowed = budget >= floor
        if not allowed.any():
            raise ValueError(
                f"no candidate keeps valid_budget_metric >= {floor:.4g} ({max_relative_loss:.0%} below "
                f"{float(budget_reference):.4g}); the best is {budget.max():.4g}: loosen the budget"
            )
        rule = (
            f"highest validation objective among candidates within {max_relative_loss:.0%} of the "
            f"reference {float(budget_reference):.4g} on the budget metric; ties go to the first candidate"
        )
    index = int(np.argmax(np.where(allowed, objective, -np.inf)))  # argmax returns the first maximum
    candidate = candidates.iloc[index] if isinstance(candidates, pd.DataFrame) else candidates[index]
    return Selection(index, candidate, float(objective[index]), int(allowed.sum()), rule)
