"""Evidence you can trust: confidence intervals for "system A beats system B", and claims built on them.

A single number ("NDCG@10 0.084 vs 0.079") does not say whether the gap would survive another
sample of users or another training seed. Two sources of noise, two tools:

* **Which users were evaluated** -- :func:`paired_bootstrap`. Both systems are scored on the
  same users, so the per-user differences ``d_u = metric_A(u) - metric_B(u)`` are resampled
  (users drawn with replacement, ``n_resamples`` times) and the CI is the percentile interval
  of the resampled means (Efron & Tibshirani 1993, ch. 13; the paired design for recommender
  evaluation: Sakai 2014, "Statistical reform in information retrieval?"). Users whose metric
  is ``NaN`` for either system (e.g. no test items) are dropped *pairwise* before resampling,
  so the estimate is the mean difference over the users both systems can be scored on.
* **Which seed trained the model** -- :func:`repeat_over_seeds` / :func:`seed_comparison`. The
  comparison is rerun with several seeds and the CI is the Student t-interval of the per-seed
  differences: ``mean ± t_{(1+c)/2, n-1} · s / sqrt(n)`` with ``s`` the sample standard
  deviation (``ddof=1``). It assumes the per-seed differences are roughly normal; with 3-5 seeds
  it is wide, which is honest.

A catalog-level metric (coverage, Gini of exposure) has no per-user value to pair, but it is
still computed from the users' lists: :func:`paired_bootstrap_catalog` draws the same users for
both systems and recomputes the metric from the drawn users' lists.

All three return a :class:`Comparison` (``str`` gives ``+0.012 [0.004, 0.020], 99% of resamples > 0``;
``to_row()`` gives a table row). :func:`claim_better` states "A beats B" in a notebook: it holds
only when the whole CI lies on the claimed side of zero, and otherwise says "inconclusive at this
size" with the numbers (through :func:`course_utils.exercises.claim`, so it looks like every
other claim and fails only when ``required``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy import stats as scipy_stats

from course_utils import metrics
from course_utils.exercises import claim

MIN_PAIRED_USERS = 10  # below this a bootstrap CI says more about the resampling than the systems
MIN_SEEDS = 2  # a t-interval needs at least one degree of freedom
_BOOTSTRAP_CHUNK = 2**21  # resampled indices held in memory at once (about 16 MB of int64)


@dataclass(frozen=True)
class Comparison:
    """The paired difference ``A - B`` of one metric, with its confidence interval.

    ``share_above_zero`` is the share of bootstrap resamples or of seeds (``unit="seeds"``) whose
    difference is ``> 0``. ``n`` counts what was resampled (``unit``: users, items, samples ...)
    or the seeds.
    """

    difference: float
    ci_low: float
    ci_high: float
    share_above_zero: float
    n: int
    unit: str  # what the paired bootstrap resamples ("users", "items", ...), or "seeds" (t-interval)
    confidence: float = 0.95
    n_resamples: int | None = None
    metric: str = "metric"
    system_a: str = "A"
    system_b: str = "B"
    per_seed_differences: tuple[float, ...] = ()

    @property
    def method(self) -> str:
        """How the interval was computed, in words, e.g. ``95% CI, paired bootstrap over 943 users``."""
        level = f"{self.confidence:.0%} CI"
        if self.unit != "seeds":
            return f"{level}, paired bootstrap over {self.n:,} {self.unit} ({self.n_resamples:,} resamples)"
        return f"{self.confidence:.0%} CI, t-interval over {self.n} seeds"

    def excludes_zero(self, higher_is_better: bool = True) -> bool:
        """True when the whole CI lies on the better side of zero (``> 0``, or ``< 0`` if lower is better)."""
        return self.ci_low > 0 if higher_is_better else self.ci_high < 0

    def __str__(self) -> str:
        """``+0.012 [0.004, 0.020], 99% of resamples > 0``: 3 decimals, or 2 significant digits below 0.01."""
        scale = max(abs(self.difference), abs(self.ci_low), abs(self.ci_high))
        decimals = 3 if scale == 0 or scale >= 0.01 else min(8, 1 - math.floor(math.log10(scale)))
        low, high = f"{self.ci_low:.{decimals}f}", f"{self.ci_high:.{decimals}f}"
        interval = f"{self.difference:+.{decimals}f} [{low}, {high}]"
        if self.unit != "seeds":
            return f"{interval}, {self.share_above_zero:.0%} of resamples > 0"
        above = round(self.share_above_zero * self.n)
        return f"{interval}, {above} of {self.n} seeds > 0"

    def to_row(self) -> dict[str, float | int | str]:
        """One row for a results table: ``pd.DataFrame([c.to_row() for c in comparisons])``."""
        level = f"{self.confidence:.0%}"
        return {
            "metric": self.metric,
            "A": self.system_a,
            "B": self.system_b,
            "A - B": self.difference,
            f"{level} CI low": self.ci_low,
            f"{level} CI high": self.ci_high,
            "share > 0": self.share_above_zero,
            "n": self.n,
            "over": self.unit,
        }


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), e.g. 0.95; got {confidence}")


def _check_bootstrap(confidence: float, n_resamples: int) -> None:
    _check_confidence(confidence)
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100 for a stable CI, got {n_resamples}")


def _paired_differences(metric_a: np.ndarray, metric_b: np.ndarray) -> np.ndarray:
    """``metric_a - metric_b`` over the users where both are defined; clear errors otherwise."""
    a = np.asarray(metric_a, dtype=np.float64)
    b = np.asarray(metric_b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(
            f"metric_a and metric_b must be 1-D per-user arrays, got shapes {a.shape} and {b.shape}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"metric_a has {a.size} users but metric_b has {b.size}: pass both systems' per-user "
            "metric on the same users, in the same order"
        )
    if np.isinf(a).any() or np.isinf(b).any():
        raise ValueError("metric_a or metric_b contains inf; per-user metrics must be finite or NaN")
    both = ~np.isnan(a) & ~np.isnan(b)
    if not both.any():
        raise ValueError(
            f"no user has a defined (non-NaN) metric for both systems ({a.size} users given): "
            "are the ground-truth rows empty?"
        )
    if both.sum() < MIN_PAIRED_USERS:
        raise ValueError(
            f"only {both.sum()} users have a defined metric for both systems; a paired bootstrap "
            f"needs at least {MIN_PAIRED_USERS}: evaluate more users"
        )
    return a[both] - b[both]


def paired_bootstrap(
    metric_a: np.ndarray,
    metric_b: np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    metric: str = "metric",
    names: tuple[str, str] = ("A", "B"),
    unit: str = "users",
) -> Comparison:
    """Paired bootstrap over users of the mean difference of a per-user metric, ``A - B``.

    ``unit`` names what one value belongs to when it is not a user (``"items"`` for a per-item
    kNN hit, ``"samples"`` for generated samples); it only changes how the result is described.

    ``metric_a`` and ``metric_b``: one value per user, same users in the same order (e.g.
    ``metrics.ndcg_at_k(lists_a, truth)`` and the same for B). Users with ``NaN`` in either are
    dropped pairwise. With ``d`` the remaining differences (``n`` users), each resample draws
    ``n`` users with replacement and takes the mean of their ``d``; the CI is the
    ``((1-c)/2, (1+c)/2)`` percentile interval of the ``n_resamples`` means (percentile
    bootstrap). ``difference`` is ``mean(d)``. Deterministic for a given ``seed``.
    """
    _check_bootstrap(confidence, n_resamples)
    differences = _paired_differences(metric_a, metric_b)
    n = differences.size
    rng = np.random.default_rng(seed)
    resampled_means = np.empty(n_resamples)
    per_chunk = max(1, _BOOTSTRAP_CHUNK // n)
    for start in range(0, n_resamples, per_chunk):
        stop = min(start + per_chunk, n_resamples)
        users = rng.integers(0, n, size=(stop - start, n))  # (resamples in chunk, n) user indices
        resampled_means[start:stop] = differences[users].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(resampled_means, [tail, 1 - tail])
    return Comparison(
        difference=float(differences.mean()),
        ci_low=float(low),
        ci_high=float(high),
        share_above_zero=float((resampled_means > 0).mean()),
        n=n,
        unit=unit,
        confidence=confidence,
        n_resamples=n_resamples,
        metric=metric,
        system_a=names[0],
        system_b=names[1],
    )


CATALOG_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "coverage": metrics.exposure_coverage,
    "gini": partial(metrics.gini_index, axis=-1),
}


def _rounds_of(lists: np.ndarray, name: str) -> np.ndarray:
    """``lists`` as ``(n_rounds, n_users, k)``: one round for a 2-D ``(n_users, k)`` array."""
    lists = np.asarray(lists)
    if lists.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be (n_users, k) lists or (n_rounds, n_users, k) rounds of lists, "
            f"got shape {lists.shape}"
        )
    return lists[None] if lists.ndim == 2 else lists


def paired_bootstrap_catalog(
    lists_a: np.ndarray,
    lists_b: np.ndarray,
    statistic: str | Callable[[np.ndarray], np.ndarray],
    n_items: int,
    k: int | None = None,
    pool_rounds: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    metric: str | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Paired bootstrap over users of a **catalog-level** statistic of two systems' lists, ``A - B``.

    ``statistic``: ``"coverage"`` (share of items shown at least once), ``"gini"`` (Gini index
    of exposure), or any function mapping exposure rows ``(n_resamples, n_items)`` (how often
    each item is shown) to one value per row. ``lists_a``/``lists_b``: ``(n_users, K)`` top-K
    lists of the same users in the same order, scored on their first ``k``; or
    ``(n_rounds, n_users, K)``, one list per user per round (a feedback loop), where the value is
    the statistic of each round averaged over the rounds, or with ``pool_rounds=True`` the
    statistic of the exposure summed over all rounds (e.g. the exposure Gini after the last round).

    Each resample draws ``n`` users with replacement, the same users for both systems, and
    ``d*`` is the statistic of A's drawn lists minus B's. Repeating users shrinks coverage-type
    statistics in every resample, so the percentile interval of ``d*`` would be biased: the
    interval is the normal bootstrap interval ``d ± z_{(1+c)/2} · sd(d*)`` around the observed
    difference ``d`` on all users (Efron & Tibshirani 1993, ch. 13). ``share_above_zero`` is
    the share of ``d*`` > 0. Deterministic for a given ``seed``.
    """
    _check_bootstrap(confidence, n_resamples)
    if isinstance(statistic, str):
        if statistic not in CATALOG_STATISTICS:
            raise ValueError(
                f"unknown statistic {statistic!r}: use one of {sorted(CATALOG_STATISTICS)} or a function"
            )
        metric = statistic if metric is None else metric
        statistic = CATALOG_STATISTICS[statistic]
    rounds_a, rounds_b = _rounds_of(lists_a, "lists_a"), _rounds_of(lists_b, "lists_b")
    if rounds_a.shape[:2] != rounds_b.shape[:2]:
        raise ValueError(
            f"lists_a and lists_b need the same rounds and users, got shapes {np.shape(lists_a)} and "
            f"{np.shape(lists_b)}"
        )
    n = rounds_a.shape[1]
    if n < MIN_PAIRED_USERS:
        raise ValueError(f"got lists of {n} users; a paired bootstrap needs at least {MIN_PAIRED_USERS}")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, n, size=(n_resamples, n))
    # (n_resamples + 1, n_users): how often each user was drawn; the last row draws everyone once
    times_drawn = sp.csr_array(
        (np.ones(drawn.size + n), (np.repeat(np.arange(n_resamples + 1), n), np.append(drawn, np.arange(n)))),
        shape=(n_resamples + 1, n),
    )

    def values(rounds: np.ndarray) -> np.ndarray:  # (n_resamples + 1,): the statistic of each draw
        exposures = [metrics.user_exposure(lists, n_items, k) for lists in rounds]
        if pool_rounds:
            return statistic((times_drawn @ sum(exposures)).toarray())
        return np.mean([statistic((times_drawn @ exposure).toarray()) for exposure in exposures], axis=0)

    differences = values(rounds_a) - values(rounds_b)
    observed, differences = float(differences[-1]), differences[:-1]
    half_width = float(scipy_stats.norm.ppf((1 + confidence) / 2) * differences.std(ddof=1))
    return Comparison(
        difference=observed,
        ci_low=observed - half_width,
        ci_high=observed + half_width,
        share_above_zero=float((differences > 0).mean()),
        n=n,
        unit="users",
        confidence=confidence,
        n_resamples=n_resamples,
        metric="metric" if metric is None else metric,
        system_a=names[0],
        system_b=names[1],
    )


def seed_comparison(
    differences: Sequence[float],
    confidence: float = 0.95,
    metric: str = "metric",
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Mean and Student t-interval of per-seed differences ``A - B`` (one value per seed).

    ``CI = mean ± t_{(1+c)/2, n-1} · s / sqrt(n)``, ``s`` the sample standard deviation
    (``ddof=1``). Equal differences on every seed give the zero-width CI ``[d, d]``.
    """
    _check_confidence(confidence)
    values = np.asarray(differences, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"differences must be a 1-D sequence, one value per seed; got shape {values.shape}")
    if values.size < MIN_SEEDS:
        raise ValueError(
            f"got {values.size} per-seed difference(s); a t-interval needs at least {MIN_SEEDS} seeds"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"differences must be finite, got {values.tolist()}")
    n = values.size
    mean = float(values.mean())
    half_width = float(scipy_stats.t.ppf((1 + confidence) / 2, df=n - 1) * values.std(ddof=1) / math.sqrt(n))
    return Comparison(
        difference=mean,
        ci_low=mean - half_width,
        ci_high=mean + half_width,
        share_above_zero=float((values > 0).mean()),
        n=n,
        unit="seeds",
        confidence=confidence,
        metric=metric,
        system_a=names[0],
        system_b=names[1],
        per_seed_differences=tuple(float(v) for v in values),
    )


def repeat_over_seeds(
    run: Callable[[int], tuple[float, float]],
    seeds: Sequence[int],
    confidence: float = 0.95,
    metric: str = "metric",
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Run a training-based comparison once per seed; the t-interval of the differences ``A - B``.

    ``run(seed)`` trains and evaluates both systems with that seed and returns
    ``(metric_a, metric_b)``, two floats (e.g. the mean NDCG@10 of each). See :func:`seed_comparison`.
    """
    differences = []
    for seed in seeds:
        result = run(seed)
        try:
            value_a, value_b = (float(value) for value in result)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"run({seed}) must return two floats (metric_a, metric_b), got {result!r}"
            ) from error
        differences.append(value_a - value_b)
    return seed_comparison(differences, confidence, metric, names)


def claim_better(
    statement: str,
    comparison: Comparison,
    higher_is_better: bool = True,
    required: bool = True,
) -> bool:
    """Claim "A beats B": holds only when the CI of ``A - B`` excludes zero on the better side.

    Prints ✅ with the interval when it holds. Otherwise the detail says "inconclusive at this
    size" (the CI contains 0) or "the opposite holds" (the whole CI is on the wrong side), with
    the numbers, and :func:`course_utils.exercises.claim` raises ``ClaimFailed`` if ``required``
    or prints a visible ⚠️ warning if not (``required=not FAST`` for results promised at full size).
    Returns whether it held.
    """
    if not isinstance(comparison, Comparison):
        raise TypeError(
            f"comparison must be a Comparison (from paired_bootstrap or repeat_over_seeds), "
            f"got {type(comparison).__name__}"
        )
    holds = comparison.excludes_zero(higher_is_better)
    detail = f"{comparison}; {comparison.method}"
    if not holds:
        opposite = comparison.excludes_zero(not higher_is_better)
        verdict = "the opposite holds" if opposite else "inconclusive at this size"
        detail = f"{verdict}: {detail}"
    claim(statement, holds, detail, required=required)
    return holds
