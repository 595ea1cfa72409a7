"""Model fusion at the score level: normalise, weight, vote, cascade.

Several recommenders (a collaborative scorer, a text scorer, a visual scorer) each give every
(user, item) pair a score. Their scales differ -- a dot product, a cosine, a log-likelihood --
so the scores are first put on a common scale (``normalize_scores``) and then combined:

* weighted fusion, the source article's §4.2 formula ``X_fusion = sum_i w_i X_i`` applied to
  normalised scores (``weighted_fusion``);
* rank fusion, which only looks at each scorer's ranking: Reciprocal Rank Fusion
  (Cormack et al., 2009) and the Borda count (``reciprocal_rank_fusion``, ``borda_fusion``);
* cascade fusion (article §2.3 "级联融合"): a cheap recall stage shortlists candidates, a
  better ranker orders them, and a diversity re-ranker picks the final list (``Cascade``).

Conventions used throughout this module:

* scores are NumPy arrays of shape ``(n_items,)`` or ``(n_users, n_items)``; higher is better;
  normalisation and ranking act on the last axis (per user);
* ``-inf`` marks an excluded item (e.g. one the user already bought): it stays ``-inf`` after
  normalisation, gets no votes in rank fusion and is never recommended; NaN is an error;
* ranks are 1-based (rank 1 = best); tied scores share their average rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from course_utils.ranking import Shortlist, as_scores, keep_top, minmax_normalize, positive_int

NORMALIZATIONS = ("minmax", "zscore", "rank")


def _as_named_scores(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate a ``{scorer name: scores}`` mapping whose arrays all have one shape."""
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("pass the scorers as a non-empty mapping {name: score array}")
    arrays = {name: as_scores(value, f"scores[{name!r}]") for name, value in scores.items()}
    shapes = {name: array.shape for name, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"all score arrays must have the same shape, got {shapes}")
    return arrays


def _resolve_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Equal weights when ``weights`` is None; otherwise exactly one finite weight per scorer."""
    if weights is None:
        return {name: 1.0 for name in names}
    missing = set(names) - set(weights)
    unknown = set(weights) - set(names)
    if missing or unknown:
        raise ValueError(
            f"weights must name exactly the scorers {sorted(names)}; "
            f"missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    resolved = {name: float(weights[name]) for name in names}
    if not all(np.isfinite(w) for w in resolved.values()):
        raise ValueError(f"weights must be finite numbers, got {resolved}")
    return resolved


def score_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every item within its row (rank 1 = highest score); ties get their average rank.

    Excluded items (``-inf``) come after every finite item. Shape is that of ``scores``.
    """
    scores = as_scores(scores)
    return rankdata(-scores, method="average", axis=-1)


def normalize_scores(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Put each row of scores on a common scale, ignoring excluded (``-inf``) items.

    ``minmax``  ``(s - min) / (max - min)`` in [0, 1] (Fox & Shaw, 1994, "CombSUM" fusion;
                :func:`course_utils.ranking.minmax_normalize`);
    ``zscore``  ``(s - mean) / std`` (population std), mean 0 and std 1 per row;
    ``rank``    ``(n - rank) / (n - 1)`` in [0, 1]: 1 for the best item, 0 for the worst,
                where ``n`` is the number of finite items in the row; only the order survives.

    A row whose finite scores are all equal carries no ranking information: it maps to 0
    (``minmax``, ``zscore``) or to 0.5 (``rank``: every item ties in the middle). Min-max and
    z-score keep the shape of the score distribution (and are sensitive to outliers); rank
    normalisation keeps only the order. ``-inf`` entries stay ``-inf``.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {method!r}: choose one of {NORMALIZATIONS}")
    if method == "minmax":
        return minmax_normalize(scores)
    scores = as_scores(scores)
    finite = np.isfinite(scores)
    if not finite.any(axis=-1).all():
        raise ValueError("a row of scores has no finite entry: every item is excluded")
    masked = np.ma.masked_array(scores, mask=~finite)
    if method == "zscore":
        spread = masked.std(axis=-1, keepdims=True)
        normalised = (masked - masked.mean(axis=-1, keepdims=True)) / np.ma.where(spread > 0, spread, 1.0)
    else:
        n_finite = finite.sum(axis=-1, keepdims=True)
        ranks = rankdata(-scores, method="average", axis=-1)  # -inf items rank after all finite ones
        normalised = np.ma.masked_array((n_finite - ranks) / np.maximum(n_finite - 1, 1), mask=~finite)
    return normalised.filled(-np.inf)


def weighted_fusion(
    scores: Mapping[str, np.ndarray],
    weights: Mapping[str, float] | None = None,
    normalization: str | None = "minmax",
) -> np.ndarray:
    """Weighted score fusion, the article's §4.2 ``X_fusion = sum_i w_i X_i``, on normalised scores.

    ``scores`` maps a scorer name to its scores, all of one shape; ``weights`` maps the same
    names to weights (default: all 1). Each scorer is normalised with ``normalization``
    (see ``normalize_scores``; ``None`` fuses raw scores, which is only sensible when the
    scorers already share a scale) before weighting -- without it the scorer with the
    largest numbers silently dominates whatever the weights say. This is CombSUM
    (Fox & Shaw, 1994) when all weights are equal. An item excluded by any scorer
    (``-inf``) stays excluded.
    """
    arrays = _as_named_scores(scores)
    resolved = _resolve_weights(list(arrays), weights)
    fused = np.zeros(next(iter(arrays.values())).shape)
    for name, array in arrays.items():
        normalised = array if normalization is None else normalize_scores(array, normalization)
        # an excluded item (-inf) must stay excluded even when its weight is 0 (0 * -inf is NaN)
        contribution = np.full(fused.shape, -np.inf)
        np.multiply(resolved[name], normalised, out=contribution, where=np.isfinite(normalised))
        fused = fused + contribution
    return fused


def reciprocal_rank_fusion(
    scores: Mapping[str, np.ndarray], rrf_constant: float = 60.0, weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """Reciprocal Rank Fusion (Cormack, Clarke & Buettcher, 2009): ``RRF(d) = sum_r w_r / (c + rank_r(d))``.

    Every scorer ranks the items (1-based, ties averaged); an item earns ``1 / (c + rank)``
    from each ranking it appears in. ``c = rrf_constant = 60`` is the paper's constant (its
    ``k``; renamed here because ``k`` is a list length everywhere else in the course): it damps
    the advantage of the very top ranks so that one scorer's favourite cannot win alone.
    Only ranks are used, so no normalisation is needed. Items a scorer excludes (``-inf``)
    earn nothing from it; items every scorer excludes get ``-inf``.
    """
    if not rrf_constant >= 0:
        raise ValueError(f"rrf_constant must be >= 0, got {rrf_constant}")
    return _rank_vote(scores, weights, lambda ranks, n_finite: 1.0 / (rrf_constant + ranks))


def borda_fusion(scores: Mapping[str, np.ndarray], weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Borda count (de Borda, 1781; Aslam & Montague, 2001): ``Borda(d) = sum_r w_r (n_r - rank_r(d))``.

    In each ranking of ``n_r`` finite items the best item gets ``n_r - 1`` points, the next
    ``n_r - 2``, ..., the last 0 (ties share the average). Items a scorer excludes (``-inf``)
    get no points from it; items every scorer excludes get ``-inf``. With all rows the
    same length this equals ``(n - 1)`` times weighted fusion with rank normalisation.
    """
    return _rank_vote(scores, weights, lambda ranks, n_finite: n_finite - ranks)


def _rank_vote(
    scores: Mapping[str, np.ndarray],
    weights: Mapping[str, float] | None,
    points: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """``sum_r w_r * points(rank_r, n_r)`` over the scorers' rankings, the common core of RRF and Borda.

    ``points`` maps the 1-based ranks (ties averaged) and each row's number of finite scores
    ``n_r`` (broadcastable, ``(..., 1)``) to the points an item earns. Items a scorer excludes
    (``-inf``) earn nothing from it; items every scorer excludes get ``-inf``.
    """
    arrays = _as_named_scores(scores)
    resolved = _resolve_weights(list(arrays), weights)
    fused = np.zeros(next(iter(arrays.values())).shape)
    ever_included = np.zeros(fused.shape, dtype=bool)
    for name, array in arrays.items():
        included = np.isfinite(array)
        n_finite = included.sum(axis=-1, keepdims=True)
        fused += np.where(included, resolved[name] * points(score_ranks(array), n_finite), 0.0)
        ever_included |= included
    return np.where(ever_included, fused, -np.inf)


# --------------------------------------------------------------------------------------------
# Cascade fusion: recall -> rank -> re-rank, each stage timed
# --------------------------------------------------------------------------------------------

StageFunction = Callable[[np.ndarray, Shortlist], Shortlist]
"""``stage(users (n_users,), shortlist (n_users, n_in)) -> Shortlist (n_users, n_out)``."""


@dataclass(frozen=True)
class Stage:
    """One stage of a cascade: a name and a function that keeps a subset of each user's candidates.

    ``select(users, shortlist)`` receives user ids ``(n_users,)`` and the previous stage's
    :class:`~course_utils.ranking.Shortlist` (candidate item ids ``(n_users, n_in)`` and the
    scores that stage ranked them by; the first stage gets the whole catalogue with score 0)
    and returns a ``Shortlist`` of ``(n_users, n_out)`` items with ``n_out <= n_in``, each row a
    subset of the same row of candidates, best first, with the scores this stage gave them. A
    re-ranker that returns only item ids can hand back ``shortlist.subset(items)`` (the kept
    items with the scores they arrived with).
    """

    name: str
    select: StageFunction


def keep_top_candidates(candidates: np.ndarray, scores: np.ndarray, keep: int) -> np.ndarray:
    """The core of a cascade stage: in each row keep the ``keep`` best-scored candidates, best first.

    ``candidates`` ``(n_users, n_in)`` item ids and ``scores`` ``(n_users, n_in)`` their scores
    (``-inf`` = must not be kept) -> ``(n_users, keep)`` item ids, a subset of each row, ties
    by position. The items of :func:`course_utils.ranking.keep_top`, which also returns their scores.
    """
    return keep_top(candidates, scores, keep).items


def scoring_stage(name: str, score: Callable[[np.ndarray, np.ndarray], np.ndarray], keep: int) -> Stage:
    """A cascade stage keeping the ``keep`` candidates with the best ``score(users, candidates)``.

    ``score`` returns one score per candidate, shape ``(n_users, n_in)``; the stage returns the
    kept items with those scores.
    """
    keep = positive_int(keep, f"stage {name!r}: keep")

    def select(users: np.ndarray, shortlist: Shortlist) -> Shortlist:
        candidate_scores = np.asarray(score(users, shortlist.items))
        if candidate_scores.shape != shortlist.items.shape:
            raise ValueError(
                f"stage {name!r}: score() returned shape {candidate_scores.shape}, "
                f"expected one score per candidate {shortlist.items.shape}"
            )
        return keep_top(shortlist.items, candidate_scores, keep)

    return Stage(name, select)


@dataclass
class CascadeResult:
    """What a cascade produced: the final lists, every stage's output with its scores, and its time."""

    lists: np.ndarray  # (n_users, final k) item ids, best first
    stage_items: dict[str, np.ndarray]  # stage name -> (n_users, n_out) item ids kept by that stage
    stage_scores: dict[str, np.ndarray]  # stage name -> (n_users, n_out) their scores in that stage
    seconds: dict[str, float]  # stage name -> wall-clock seconds for all users

    def timing_frame(self) -> pd.DataFrame:
        """One row per stage: candidates kept per user, total seconds, milliseconds per user."""
        n_users = len(self.lists)
        return pd.DataFrame(
            [
                {
                    "stage": name,
                    "candidates_out": items.shape[-1],
                    "seconds": self.seconds[name],
                    "ms_per_user": 1000.0 * self.seconds[name] / n_users,
                }
                for name, items in self.stage_items.items()
            ]
        ).set_index("stage")


class Cascade:
    """Cascade fusion (article §2.3): each stage narrows the previous stage's candidates.

    The classic industrial shape (Covington, Adams & Sargin, 2016, "Deep Neural Networks for
    YouTube Recommendations"): a cheap *recall* stage shortlists hundreds of items from the
    whole catalogue, a costlier *ranking* stage orders the shortlist, and a *re-ranking* stage
    (e.g. DPP for diversity, with the ranking stage's scores as relevance) chooses the final
    list. Each stage only sees the survivors of the one before, which is what makes expensive
    models affordable -- and what the per-stage timings in ``CascadeResult.seconds`` show.
    """

    def __init__(self, stages: Sequence[Stage]):
        if not stages:
            raise ValueError("a cascade needs at least one stage")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        self.stages = list(stages)

    def run(self, users: np.ndarray, n_items: int) -> CascadeResult:
        """Run every stage for ``users`` starting from the whole catalogue ``0 .. n_items - 1``."""
        users = np.asarray(users)
        if users.ndim != 1 or users.size == 0:
            raise ValueError(f"users must be a non-empty 1-D array of user ids, got shape {users.shape}")
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {n_items}")
        shape = (len(users), n_items)
        shortlist = Shortlist(np.broadcast_to(np.arange(n_items), shape), np.broadcast_to(0.0, shape))
        stage_items: dict[str, np.ndarray] = {}
        stage_scores: dict[str, np.ndarray] = {}
        seconds: dict[str, float] = {}
        for stage in self.stages:
            start = time.perf_counter()
            kept = stage.select(users, shortlist)
            seconds[stage.name] = time.perf_counter() - start
            shortlist = self._check_output(stage.name, shortlist.items, kept)
            stage_items[stage.name], stage_scores[stage.name] = shortlist
        return CascadeResult(shortlist.items, stage_items, stage_scores, seconds)

    @staticmethod
    def _check_output(name: str, candidates: np.ndarray, kept: object) -> Shortlist:
        """``kept`` as a Shortlist; raise unless it has a row per user, no extra columns, distinct
        items from ``candidates`` and one finite or ``-inf`` score per item."""
        if not (isinstance(kept, tuple) and len(kept) == 2):
            raise TypeError(
                f"stage {name!r} must return Shortlist(items, scores), got {type(kept).__name__}; "
                "a re-ranker that returns item ids can return shortlist.subset(items)"
            )
        items, scores = np.asarray(kept[0]), np.asarray(kept[1])
        if (
            items.ndim != 2
            or items.shape[0] != candidates.shape[0]
            or not 1 <= items.shape[1] <= candidates.shape[1]
        ):
            raise ValueError(
                f"stage {name!r} returned shape {items.shape}; expected "
                f"({candidates.shape[0]}, between 1 and {candidates.shape[1]})"
            )
        if scores.shape != items.shape:
            raise ValueError(
                f"stage {name!r} returned scores of shape {scores.shape} for items {items.shape}"
            )
        if (np.diff(np.sort(items, axis=-1), axis=-1) == 0).any():
            raise ValueError(f"stage {name!r} returned the same item twice in one user's list")
        # shift every row into its own id range so one flat membership test checks all rows at once
        row_offset = np.arange(len(items))[:, None] * (max(candidates.max(), items.max()) + 1)
        if not np.isin(items + row_offset, candidates + row_offset).all():
            raise ValueError(f"stage {name!r} returned items that were not among its input candidates")
        return Shortlist(items, as_scores(scores, f"the scores of stage {name!r}", ndim=(2,)))
