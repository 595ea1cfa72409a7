"""A closed feedback loop -- recommend, simulated users click, retrain -- to watch filter bubbles form.

One **round** of :func:`run_feedback_loop`, for every simulated user at once:

1. the recommender scores every item; the ``n_candidates`` best items the user has not clicked
   yet become the candidates (``ranking.candidate_set``);
2. a **policy** turns the candidates into a slate of ``k`` items: relevance order
   (:class:`RelevancePolicy`), a diversity re-ranker with a fixed trade-off
   (:class:`RerankPolicy`, e.g. MMR or DPP), or one with a per-user trade-off learned from the
   user's own clicks (:class:`AdaptiveDiversityPolicy`);
3. the :class:`~course_utils.data.simulate.UserSimulator` clicks (position bias, attraction,
   boredom with redundancy) and reports each slate's **true utility** (expected clicks);
4. the clicks are appended to the log and the recommender is refit on the grown log.

This is the loop that Chaney, Stewart & Engelhardt (2018) and Jiang et al. (2019) study: a
model trained on the clicks its own recommendations caused. Where it starts matters: trained
on the shop's full, popularity-biased log, item-kNN is narrow from the first round; started
from each user's first few clicks (:func:`first_clicks`, a young shop), it narrows round
after round as its own clicks come to dominate the data. The default recommender of the
course notebook is item-kNN (Sarwar et al. 2001), refit from scratch every round because that
takes well under a second: 20 rounds over 1,000 users take about 10 CPU seconds per policy,
half of them refitting (``bench/bench_simulation.py``).
Any model with ``fit(csr)`` and ``score(user_ids) -> (n, n_items)`` works; a neural model
such as ``BPRMF`` retrains much more slowly, so budget for it (fewer rounds or epochs).

Per round the loop records (columns of :attr:`FeedbackLoopResult.rounds`):

* ``ild``: mean intra-list diversity of the slates, on the attribute distance
  ``1 - (shared attributes) / 6`` -- the very redundancy that bores the simulated users;
* ``slate_entropy``: mean entropy (bits) of the categories within each slate;
* ``exposure_entropy``: mean over users of the category entropy of *all* items the user has
  been shown so far -- how wide each user's window on the catalog is;
* ``new_items``: share of slate items the user had never been shown before;
* ``coverage`` (share of the catalog shown to someone this round) and ``cumulative_coverage``
  (shown in any round so far: non-decreasing by construction);
* ``gini``: Gini index of the cumulative exposure per item (0 = equal, near 1 = concentrated);
* ``click_gini``: Gini index of the clicks per item in the whole log (history included) -- how
  concentrated the data the model learns from has become;
* ``clicks``, ``ctr`` (clicks per impression) and ``utility`` (mean expected clicks per slate);
* ``diversity_weight``: the mean trade-off the policy used (0 for relevance only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from course_utils.metrics import CosineDistance, gini_index, intra_list_diversity, shannon_entropy
from course_utils.ranking import candidate_set

if TYPE_CHECKING:  # importing course_utils.data loads torch (via config); the loop itself needs numpy only
    from course_utils.data.interactions import Interactions
    from course_utils.data.simulate import UserSimulator

Reranker = Callable[..., np.ndarray]
"""``reranker(candidates (n, M), relevance (n, M), k=k, diversity=d) -> item ids (n, k)``, e.g.
``functools.partial(rerank.mmr, item_embeddings=E)`` (the convention of ``course_utils.rerank``)."""


class Recommender(Protocol):
    """What the loop needs from a model: the interface of ``course_utils.models.recommenders``."""

    def fit(self, train: sp.csr_array) -> object: ...

    def score(self, user_ids: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Feedback:
    """What a policy learns from after a round (all arrays row-aligned with ``users``).

    ``slates`` (n, k) item ids shown, best first; ``clicks`` (n, k) bool; ``relevance_slates``
    (n, k) the items a relevance-only policy would have shown (the top-k candidates).
    """

    users: np.ndarray
    slates: np.ndarray
    clicks: np.ndarray
    relevance_slates: np.ndarray


class Policy(Protocol):
    """Turns ranked candidates into slates and may learn from the clicks they get."""

    name: str

    def recommend(
        self, users: np.ndarray, candidates: np.ndarray, relevance: np.ndarray, k: int
    ) -> np.ndarray:
        """Slates ``(n, k)`` of item ids from candidates ``(n, M)`` sorted by decreasing ``relevance``."""
        ...

    def diversity_weights(self, users: np.ndarray) -> np.ndarray:
        """The trade-off used for each user (``(n,)``, in ``[0, 1]``)."""
        ...

    def observe(self, feedback: Feedback) -> None:
        """Learn from the clicks on the slates just shown."""
        ...


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------


class RelevancePolicy:
    """Show the ``k`` most relevant candidates: the filter-bubble baseline."""

    name = "relevance only"

    def recommend(
        self, users: np.ndarray, candidates: np.ndarray, relevance: np.ndarray, k: int
    ) -> np.ndarray:
        """The first ``k`` candidates (they arrive sorted by relevance)."""
        return candidates[:, :k]

    def diversity_weights(self, users: np.ndarray) -> np.ndarray:
        """Always 0."""
        return np.zeros(len(users))

    def observe(self, feedback: Feedback) -> None:
        """Nothing to learn."""


class RerankPolicy:
    """A diversity re-ranker (``course_utils.rerank.mmr``, ``dpp``, ...) with one trade-off for everyone."""

    def __init__(self, reranker: Reranker, diversity: float, name: str):
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1] (0 = relevance order), got {diversity}")
        self.reranker, self.diversity, self.name = reranker, float(diversity), name

    def recommend(
        self, users: np.ndarray, candidates: np.ndarray, relevance: np.ndarray, k: int
    ) -> np.ndarray:
        """Re-rank every user's candidates with the same ``diversity``."""
        return self.reranker(candidates, relevance, k=k, diversity=self.diversity)

    def diversity_weights(self, users: np.ndarray) -> np.ndarray:
        """The fixed trade-off, for every user."""
        return np.full(len(users), self.diversity)

    def observe(self, feedback: Feedback) -> None:
        """Nothing to learn: the trade-off is fixed."""


def inserted_items(slates: np.ndarray, relevance_slates: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n, k)``: which slate items the re-ranker inserted (not in the relevance top-k)."""
    return ~(slates[:, :, None] == relevance_slates[:, None, :]).any(axis=2)


def update_diversity_weights(
    weights: np.ndarray,
    slates: np.ndarray,
    clicks: np.ndarray,
    relevance_slates: np.ndarray,
    examination: np.ndarray,
    step_size: float = 0.1,
    bounds: tuple[float, float] = (0.05, 0.95),
) -> np.ndarray:
    """One feedback step of the per-user diversity weight ("interaction diversity").

    Split each slate into the items the re-ranker **inserted** (``D``: not among the user's
    relevance top-k) and the items it **kept** (``K``). Estimate each group's attraction with
    position-debiased clicks -- clicks per expected examination, the self-normalised inverse
    propensity estimate of Joachims, Swaminathan & Schnabel (2017):

        ``a_D = sum_{p in D} c_p / sum_{p in D} e_p``,   ``a_K = sum_{p in K} c_p / sum_{p in K} e_p``

    with ``e_p`` the probability that position ``p`` is examined. Then move the weight towards
    what the user clicked:

        ``w <- clip(w + step_size * (a_D - a_K), low, high)``

    A user who clicks inserted items more than kept ones gets more diversity, and vice versa;
    the weight settles where the inserted items are as attractive as the kept ones. Users with
    no inserted (or no kept) item in their slate carry no evidence and keep their weight.
    ``low > 0`` keeps a little exploration so that the evidence never dries up. One click at a
    rarely examined position counts as ``1 / e_p`` clicks, so the signal is heavy-tailed: keep
    ``step_size`` small (default 0.1) so that one lucky click is a nudge, not a jump.
    A limit worth knowing: an inserted item is credited only with its own clicks, not with the
    redundancy it spares the items below it, so the rule can undervalue diversity.
    Shapes: ``weights (n,)``; ``slates``, ``clicks``, ``relevance_slates`` ``(n, k)``;
    ``examination (k,)``. Returns the new weights ``(n,)``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    slates, clicks, relevance_slates = np.asarray(slates), np.asarray(clicks), np.asarray(relevance_slates)
    examination = np.asarray(examination, dtype=np.float64)
    low, high = bounds
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"bounds must satisfy 0 <= low <= high <= 1, got {bounds}")
    if slates.ndim != 2 or clicks.shape != slates.shape or relevance_slates.shape != slates.shape:
        raise ValueError(
            f"slates, clicks and relevance_slates must share one (n, k) shape, got {slates.shape}, "
            f"{clicks.shape} and {relevance_slates.shape}"
        )
    if weights.shape != (slates.shape[0],):
        raise ValueError(f"weights must have shape ({slates.shape[0]},) (one per slate), got {weights.shape}")
    if examination.shape != (slates.shape[1],) or (examination <= 0).any():
        raise ValueError(f"examination must hold {slates.shape[1]} positive probabilities, got {examination}")
    inserted = inserted_items(slates, relevance_slates)  # (n, k)
    clicked = clicks.astype(np.float64)

    def attraction(group: np.ndarray) -> np.ndarray:  # clicks per expected examination, NaN if empty
        exposure = (group * examination).sum(axis=1)
        return np.divide(
            (group * clicked).sum(axis=1), exposure, out=np.full(len(group), np.nan), where=exposure > 0
        )

    signal = np.nan_to_num(attraction(inserted) - attraction(~inserted), nan=0.0)  # (n,)
    return np.clip(weights + step_size * signal, low, high)


class AdaptiveDiversityPolicy:
    """A re-ranker whose trade-off is learned per user from that user's clicks.

    The learning rule is :func:`update_diversity_weights` (or any function with its signature).

    Users differ in their propensity for diversity (Di Noia et al. 2014; Jugovac, Jannach &
    Lerche 2017) and it can be read from their behaviour (Kapoor et al. 2015). Every user
    starts at ``initial``; after each round the weight moves by ``update`` (same signature as
    :func:`update_diversity_weights`). ``weights`` ``(n_users,)`` is indexed by user id and
    persists across calls: use a fresh policy for each simulation. ``examination`` ``(k,)`` is
    the position-bias curve the platform assumes. For speed the re-ranker runs once per
    distinct weight, with weights rounded to ``resolution``.
    """

    def __init__(
        self,
        reranker: Reranker,
        n_users: int,
        examination: np.ndarray,
        initial: float = 0.5,
        step_size: float = 0.1,
        bounds: tuple[float, float] = (0.05, 0.95),
        resolution: float = 0.05,
        update: Callable[..., np.ndarray] = update_diversity_weights,
        name: str = "adaptive",
    ):
        if not bounds[0] <= initial <= bounds[1]:
            raise ValueError(f"initial={initial} must lie within bounds {bounds}")
        if not 0 < resolution <= 1:
            raise ValueError(f"resolution must be in (0, 1], got {resolution}")
        if n_users < 1:
            raise ValueError(f"n_users must be positive, got {n_users}")
        self.reranker, self.examination = reranker, np.asarray(examination, dtype=np.float64)
        self.step_size, self.bounds, self.resolution = step_size, bounds, resolution
        self.update, self.name = update, name
        self.weights = np.full(n_users, float(initial))

    def diversity_weights(self, users: np.ndarray) -> np.ndarray:
        """Each user's current weight."""
        return self.weights[users]

    def recommend(
        self, users: np.ndarray, candidates: np.ndarray, relevance: np.ndarray, k: int
    ) -> np.ndarray:
        """Re-rank each group of users sharing a (rounded) weight in one batched call."""
        rounded = np.clip(np.round(self.weights[users] / self.resolution) * self.resolution, 0.0, 1.0)
        slates = np.empty((len(users), k), dtype=np.int64)
        for weight in np.unique(rounded):
            group = rounded == weight
            slates[group] = self.reranker(candidates[group], relevance[group], k=k, diversity=float(weight))
        return slates

    def observe(self, feedback: Feedback) -> None:
        """Update the weights of the users who just saw a slate."""
        self.weights[feedback.users] = self.update(
            self.weights[feedback.users],
            feedback.slates,
            feedback.clicks,
            feedback.relevance_slates,
            self.examination[: feedback.slates.shape[1]],
            step_size=self.step_size,
            bounds=self.bounds,
        )


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def attribute_embeddings(simulator: UserSimulator) -> np.ndarray:
    """One-hot item attributes ``(n_items, total attribute values)``, float.

    Every item has exactly one value per attribute, so ``cos(e_i, e_j)`` is the fraction of
    the six attributes two items share -- the simulator's ``item_similarity``. Used as the
    re-rankers' item space and for the ILD recorded by the loop.
    """
    codes = simulator.item_codes  # (n_items, n_attributes)
    offsets = np.concatenate([[0], np.cumsum(codes.max(axis=0) + 1)])
    embeddings = np.zeros((len(codes), offsets[-1]))
    embeddings[np.arange(len(codes))[:, None], codes + offsets[:-1]] = 1.0
    return embeddings


class ExposureTracker:
    """Accumulates who was shown what, round after round, and computes the exposure columns.

    ``n_users`` rows (the simulated users, in order), items labelled by ``categories`` ``(n_items,)``;
    ``distance`` is the item distance for ILD (``course_utils.metrics`` convention).
    """

    def __init__(self, n_users: int, categories: np.ndarray, distance: CosineDistance):
        self.categories, self.distance = categories, distance
        self.n_categories = int(categories.max()) + 1
        self.seen = np.zeros((n_users, len(categories)), dtype=bool)  # user has been shown item
        self.user_category_counts = np.zeros((n_users, self.n_categories))
        self.item_exposure = np.zeros(len(categories))  # impressions per item, all rounds

    def record(self, slates: np.ndarray) -> dict[str, float]:
        """Add one round of slates ``(n_users, k)``; return that round's exposure metrics."""
        rows = np.arange(len(slates))[:, None]
        slate_categories = self.categories[slates]  # (n_users, k)
        slate_counts = np.zeros_like(self.user_category_counts)
        np.add.at(slate_counts, (rows, slate_categories), 1.0)
        new_items = 1.0 - self.seen[rows, slates].mean()
        self.seen[rows, slates] = True
        self.user_category_counts += slate_counts
        shown = np.bincount(slates.ravel(), minlength=len(self.categories))
        self.item_exposure += shown
        return {
            "ild": float(intra_list_diversity(slates, self.distance).mean()) if slates.shape[1] > 1 else 0.0,
            "slate_entropy": float(shannon_entropy(slate_counts, axis=1).mean()),
            "exposure_entropy": float(shannon_entropy(self.user_category_counts, axis=1).mean()),
            "new_items": float(new_items),
            "coverage": float((shown > 0).mean()),
            "cumulative_coverage": float((self.item_exposure > 0).mean()),
            "gini": gini_index(self.item_exposure),
        }


def _check_user_ids(users: np.ndarray, n_users: int) -> np.ndarray:
    """Sorted distinct user ids as int64; ValueError for an empty, non-integer or out-of-range array."""
    users = np.asarray(users)
    if users.ndim != 1 or users.size == 0 or not np.issubdtype(users.dtype, np.integer):
        raise ValueError(
            f"users must be a non-empty 1-D array of integer ids, got shape {users.shape} dtype {users.dtype}"
        )
    if users.min() < 0 or users.max() >= n_users:
        raise ValueError(f"user ids must lie in [0, {n_users}), got range [{users.min()}, {users.max()}]")
    return np.unique(users).astype(np.int64)


@dataclass(frozen=True)
class FeedbackLoopResult:
    """The record of one simulation (see the module docstring for the columns of ``rounds``).

    ``slates`` ``(R, n, k)`` and ``clicks`` ``(R, n, k)`` per round for the simulated ``users``;
    ``utility`` ``(R, n)`` true utility of each slate; ``diversity_weights`` ``(R, n)`` the
    trade-off each user got; ``log`` the final click log ``(n_users, n_items)``.
    """

    policy: str
    users: np.ndarray
    rounds: pd.DataFrame
    slates: np.ndarray
    clicks: np.ndarray
    utility: np.ndarray
    diversity_weights: np.ndarray
    log: sp.csr_array


def run_feedback_loop(
    simulator: UserSimulator,
    recommender: Recommender,
    policy: Policy,
    history: sp.spmatrix | sp.sparray,
    n_rounds: int = 20,
    k: int = 10,
    n_candidates: int = 100,
    users: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = True,
) -> FeedbackLoopResult:
    """Run ``n_rounds`` of recommend -> click -> refit (module docstring) and record every round.

    ``history`` is the click log to start from, a binary ``(n_users, n_items)`` matrix (e.g. all
    logged clicks of the shop); clicked items are never recommended again, items shown but not
    clicked may come back. ``recommender.fit`` is called on the current log before every
    round, so one instance can be reused across runs. ``users`` (default: all) receive the
    slates; the other users' past clicks stay in the log. Clicks are drawn from
    ``np.random.default_rng(seed)``: the same seed gives the same result, and policies run
    with the same seed face the same random numbers (common random numbers: a fairer comparison).
    """
    log = sp.csr_array(history, dtype=np.float32, copy=True)  # never modify the caller's matrix
    if log.shape != (simulator.n_users, simulator.n_items):
        raise ValueError(
            f"history must have shape (n_users, n_items) = {(simulator.n_users, simulator.n_items)}, "
            f"got {log.shape}"
        )
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, int | np.integer) or n_rounds < 1:
        raise ValueError(f"n_rounds must be a positive integer, got {n_rounds!r}")
    if not 1 <= k <= n_candidates <= simulator.n_items:
        raise ValueError(
            f"need 1 <= k <= n_candidates <= n_items, got k={k}, n_candidates={n_candidates}, "
            f"n_items={simulator.n_items}"
        )
    users = np.arange(simulator.n_users) if users is None else _check_user_ids(users, simulator.n_users)
    log.eliminate_zeros()
    log.data[:] = 1.0  # binary clicks
    rng = np.random.default_rng(seed)
    tracker = ExposureTracker(
        len(users), simulator.item_codes[:, 0], CosineDistance(attribute_embeddings(simulator))
    )

    records, slates_per_round, clicks_per_round, utility_per_round, weights_per_round = [], [], [], [], []
    for round_index in tqdm(range(n_rounds), desc=policy.name, disable=not progress):
        recommender.fit(log)
        candidates, relevance = candidate_set(recommender.score(users), n_candidates, exclude=log[users])
        slates = np.asarray(policy.recommend(users, candidates, relevance, k), dtype=np.int64)  # (n, k)
        weights = np.asarray(policy.diversity_weights(users), dtype=np.float64)  # used for these slates
        clicks = simulator.click(users, slates, rng)  # (n, k) bool
        utility = simulator.utility(users, slates)  # (n,) expected clicks
        policy.observe(Feedback(users, slates, clicks, candidates[:, :k]))

        rows, positions = np.nonzero(clicks)
        new_clicks = sp.csr_array(
            (np.ones(len(rows), np.float32), (users[rows], slates[rows, positions])), shape=log.shape
        )
        log = (log + new_clicks).tocsr()  # clicked items were excluded from the slates: entries stay 1
        records.append(
            {"round": round_index + 1, "policy": policy.name}
            | tracker.record(slates)
            | {
                "click_gini": gini_index(np.asarray(log.sum(axis=0)).ravel()),
                "clicks": int(clicks.sum()),
                "ctr": float(clicks.mean()),
                "utility": float(utility.mean()),
                "diversity_weight": float(weights.mean()),
            }
        )
        slates_per_round.append(slates)
        clicks_per_round.append(clicks)
        utility_per_round.append(utility)
        weights_per_round.append(weights)

    return FeedbackLoopResult(
        policy=policy.name,
        users=users,
        rounds=pd.DataFrame.from_records(records),
        slates=np.stack(slates_per_round),
        clicks=np.stack(clicks_per_round),
        utility=np.stack(utility_per_round),
        diversity_weights=np.stack(weights_per_round),
        log=log,
    )


# --------------------------------------------------------------------------------------------
# Reading the results
# --------------------------------------------------------------------------------------------


def first_clicks(interactions: Interactions, n_clicks: int) -> sp.csr_array:
    """Each user's first ``n_clicks`` clicked items as a binary ``(n_users, n_items)`` matrix.

    The start of a *young* platform's loop: the model knows a few clicks per user, and the
    data it learns from afterwards is caused by its own recommendations (the start-up period
    of Chaney, Stewart & Engelhardt 2018). ``interactions.events`` already holds each user's
    distinct clicked items in time order (all splits; ties in log order); users with fewer
    clicks keep all of theirs, users with none have an empty row.
    """
    if isinstance(n_clicks, bool) or not isinstance(n_clicks, int | np.integer) or n_clicks < 1:
        raise ValueError(f"n_clicks must be a positive integer, got {n_clicks!r}")
    events = interactions.events
    early = events[events.groupby("user").cumcount().to_numpy() < n_clicks]
    return sp.csr_array(
        (np.ones(len(early), np.float32), (early["user"].to_numpy(), early["item"].to_numpy())),
        shape=(interactions.n_users, interactions.n_items),
    )


def last_logged_slates(impressions: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last slate in the logs: ``(users (n,), slates (n, k))``, items in position order.

    A session is the set of a user's impressions sharing ``timestamp - position`` (the logs
    stamp each impression with its session start plus its position, see
    ``course_utils.data.simulate.log_impressions``). Users whose last session does not hold
    exactly positions ``0..k-1`` are left out. Used as "round 0": what the logging policy showed.
    """
    missing = {"user", "item", "position", "timestamp"} - set(impressions.columns)
    if missing:
        raise ValueError(f"impressions is missing column(s) {sorted(missing)}")
    if len(impressions) == 0:
        raise ValueError("impressions is empty")
    table = impressions[["user", "item", "position"]].assign(
        session=impressions["timestamp"].to_numpy(np.int64) - impressions["position"].to_numpy(np.int64)
    )
    last = table[table["session"] == table.groupby("user")["session"].transform("max")]
    last = last.sort_values(["user", "position"], kind="stable")
    complete = last.groupby("user")["position"].agg(lambda p: np.array_equal(p.to_numpy(), np.arange(k)))
    last = last[last["user"].isin(complete.index[complete])]
    if len(last) == 0:
        raise ValueError(f"no user's last session holds exactly the positions 0..{k - 1}")
    return last["user"].unique().astype(np.int64), last["item"].to_numpy(np.int64).reshape(-1, k)


def describe_slates(simulator: UserSimulator, users: np.ndarray, slates: np.ndarray) -> dict[str, float]:
    """The per-round metrics of the loop for one set of slates shown once (e.g. the logged "round 0").

    ``slates`` ``(n, k)`` were shown to ``users`` ``(n,)``; returns ``ild``, ``slate_entropy``,
    ``exposure_entropy``, ``coverage``, ``gini`` and ``utility`` as in :func:`run_feedback_loop`.
    """
    utility = simulator.utility(users, slates)  # validates ids, shapes and one slate per user
    tracker = ExposureTracker(
        len(utility), simulator.item_codes[:, 0], CosineDistance(attribute_embeddings(simulator))
    )
    metrics = tracker.record(np.asarray(slates, dtype=np.int64))
    keep = ("ild", "slate_entropy", "exposure_entropy", "coverage", "gini")
    return {name: metrics[name] for name in keep} | {"utility": float(utility.mean())}


def summarise(results: list[FeedbackLoopResult], baseline: str | None = None) -> pd.DataFrame:
    """One row per policy: the whole simulation in a line.

    Columns: ``ild`` and ``coverage`` (means over rounds), ``exposure_entropy``,
    ``cumulative_coverage``, ``gini`` and ``click_gini`` (after the last round), ``ctr`` (all
    rounds), ``utility`` (mean expected clicks per slate over all rounds) and
    ``utility_change``: relative to the ``baseline`` policy's utility (default: the first result).
    """
    if not results:
        raise ValueError("results is empty: run at least one policy")
    rows = {}
    for result in results:
        rounds = result.rounds
        rows[result.policy] = {
            "ild": rounds["ild"].mean(),
            "coverage": rounds["coverage"].mean(),
            "exposure_entropy": rounds["exposure_entropy"].iloc[-1],
            "cumulative_coverage": rounds["cumulative_coverage"].iloc[-1],
            "gini": rounds["gini"].iloc[-1],
            "click_gini": rounds["click_gini"].iloc[-1],
            "ctr": float(result.clicks.mean()),
            "utility": float(result.utility.mean()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("policy")
    baseline = baseline if baseline is not None else results[0].policy
    if baseline not in table.index:
        raise ValueError(f"unknown baseline policy {baseline!r}; have {list(table.index)}")
    table["utility_change"] = table["utility"] / table.loc[baseline, "utility"] - 1.0
    return table
