"""Notebook 14's toolkit: both datasets in one shape, per-user metrics in spaces no system optimised,
differences with confidence intervals, and verdicts computed from them.

Read top to bottom::

    data = load_verdict_data("shop")                  # splits, texts, images, attributes, arrival times
    context = EvaluationContext.for_split(data, split) # the yardsticks of one evaluation split
    table = context.per_user(lists)                   # one row per user: NDCG@10, Recall@20, ILD, ...
    rows = compare(per_user, lists, "EASE", context)  # every metric, every system vs the reference, 95 % CI
    verdict_of(diversity_comparisons, accuracy_comparison)  # "supported" / "partly" / ...

Diversity is measured in spaces **no system optimises**: the re-rankers of notebook 14 work in the
encoders' text+image space, the models on clicks, while the yardsticks here are

* ILD@k on **attributes** (Jaccard distance of one-hot attributes: category, colour, material,
  style, season, brand on the shop; genres on MovieLens),
* ILD@k on **co-occurrence** (cosine distance of the items' columns in the training clicks),
* **category entropy** of each list (bits; a list of ten different categories has log2(10)),
* **tail share**: the share of list slots given to items outside the *head*, the most-clicked
  items that together hold 80 % of the training interactions,
* **novelty** (bits), **coverage** and the **Gini** index of exposure (catalog-level), and on the
  shop the simulator's **true utility** of each list (its expected clicks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from course_utils import metrics, stats
from course_utils.data.interactions import SPLITS, Interactions
from course_utils.pipeline import PipelineData, fast_mode_sample
from course_utils.protocol import EvaluationSplit
from course_utils.ranking import unit_rows

DATASETS = ("shop", "ml100k")
SHOP_ATTRIBUTES = ("category", "colour", "material", "style", "season", "brand")
HEAD_SHARE = 0.8  # the head holds this share of the training interactions; the rest is the tail
VERDICTS = ("supported", "partly", "not supported at this scale", "inconclusive")


# --------------------------------------------------------------------------------------------
# 1. Data: both datasets in one shape
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictData:
    """One dataset for notebook 14 (items and users possibly subsampled, then renumbered from 0).

    ``interactions``: the per-user temporal train / valid / test split of the kept users and items;
    ``item_ids`` / ``user_ids``: kept rows and columns in the full dataset; ``catalog_texts`` /
    ``catalog_images``: encoder inputs of the **full** catalog (so cached embeddings are reused);
    ``categories`` ``(n_items, n_categories)``: each item's category (shop) or its genres weighted
    ``1/#genres`` (MovieLens), rows sum to 1; ``attributes`` ``(n_items, n_features)``: binary
    one-hot attributes; ``arrival`` ``(n_items,)``: when the item appeared (larger = later);
    ``simulator``: the shop's true user model (``None`` for MovieLens).
    """

    name: str
    interactions: Interactions
    item_ids: np.ndarray
    user_ids: np.ndarray
    catalog_texts: tuple[str, ...]
    catalog_images: np.ndarray | None
    categories: np.ndarray
    attributes: np.ndarray
    arrival: np.ndarray
    simulator: object | None

    @property
    def n_items(self) -> int:
        """Number of (kept) items."""
        return self.interactions.n_items

    @property
    def n_users(self) -> int:
        """Number of (kept) users."""
        return self.interactions.n_users

    def pipeline_data(self) -> PipelineData:
        """The same items as :class:`~course_utils.pipeline.PipelineData`, for ``pipeline.encode_items``."""
        history = sp.csr_array(self.interactions.train + self.interactions.valid, dtype=np.float32)
        labels = self.categories.argmax(axis=1)
        return PipelineData(
            self.name,
            history,
            sp.csr_array(self.interactions.test, dtype=np.float32),
            self.item_ids,
            self.user_ids,
            self.catalog_texts,
            self.catalog_images,
            labels,
        )

    def __repr__(self) -> str:
        return f"VerdictData({self.name!r}: {self.interactions!r})"


def subset_interactions(
    interactions: Interactions, item_ids: np.ndarray, user_ids: np.ndarray
) -> Interactions:
    """The same split restricted to ``item_ids`` and ``user_ids`` (both sorted), renumbered from 0.

    Each kept event keeps the split it had, so the temporal order per user is unchanged.
    """
    item_ids, user_ids = np.asarray(item_ids), np.asarray(user_ids)
    for name, ids, limit in (
        ("item_ids", item_ids, interactions.n_items),
        ("user_ids", user_ids, interactions.n_users),
    ):
        if ids.ndim != 1 or ids.size == 0 or np.any(np.diff(ids) <= 0) or ids[0] < 0 or ids[-1] >= limit:
            raise ValueError(f"{name} must be sorted, unique ids in [0, {limit}), got {ids[:5]}...")
    new_item = np.full(interactions.n_items, -1)
    new_item[item_ids] = np.arange(item_ids.size)
    new_user = np.full(interactions.n_users, -1)
    new_user[user_ids] = np.arange(user_ids.size)
    events = interactions.events.assign(
        user=new_user[interactions.events["user"]], item=new_item[interactions.events["item"]]
    )
    events = events[(events["user"] >= 0) & (events["item"] >= 0)].reset_index(drop=True)

    def matrix(split: str) -> sp.csr_matrix:
        rows = events[events["split"] == split]
        values = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((values, (rows["user"], rows["item"])), shape=(user_ids.size, item_ids.size))

    train_rows = events[events["split"] == "train"]
    starts = np.searchsorted(train_rows["user"].to_numpy(), np.arange(user_ids.size + 1))
    items = train_rows["item"].to_numpy()
    sequences = tuple(items[starts[u] : starts[u + 1]] for u in range(user_ids.size))
    matrices = {split: matrix(split) for split in SPLITS}
    return Interactions(
        user_ids.size,
        item_ids.size,
        matrices["train"],
        matrices["valid"],
        matrices["test"],
        sequences,
        events,
    )


def _one_hot(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    return pd.get_dummies(table[list(columns)].astype(str)).to_numpy(dtype=np.float64)


def load_verdict_data(
    name: str, max_items: int | None = None, max_users: int | None = None, seed: int = 0
) -> VerdictData:
    """Load ``"shop"`` or ``"ml100k"`` for notebook 14; ``max_items`` / ``max_users`` shrink it (fast mode).

    Arrival of an item: on the shop, the time of its first impression in the logs (never shown:
    ``+inf``); on MovieLens, its release year, ties broken by the time of its first rating.
    Subsampling keeps the most-clicked items and users with history and test clicks among them
    (:func:`course_utils.pipeline.fast_mode_sample`).
    """
    if name == "shop":
        from course_utils.data import load_fashion_shop

        shop = load_fashion_shop()
        interactions, texts, images, simulator = (
            shop.interactions,
            tuple(shop.texts),
            shop.images,
            shop.simulator,
        )
        categories = _one_hot(shop.items, ["category"])
        attributes = _one_hot(shop.items, SHOP_ATTRIBUTES)
        first_shown = shop.impressions.groupby("item")["timestamp"].min()
        arrival = np.full(shop.n_items, np.inf)
        arrival[first_shown.index.to_numpy()] = first_shown.to_numpy()
    elif name == "ml100k":
        from course_utils.data import load_movielens_100k

        movielens = load_movielens_100k()
        interactions, texts, images, simulator = (
            movielens.interactions,
            tuple(movielens.texts),
            None,
            None,
        )
        genres = movielens.movies["genres"].str.join("|").str.get_dummies().to_numpy(dtype=np.float64)
        attributes = genres
        categories = genres / np.maximum(genres.sum(axis=1, keepdims=True), 1)
        first_rated = movielens.ratings.groupby("item")["timestamp"].min().reindex(range(movielens.n_items))
        year = movielens.movies["year"].astype("Float64").fillna(-np.inf).to_numpy(dtype=np.float64)
        # year first, then the first rating: a later rank means a later arrival
        order = np.lexsort((first_rated.fillna(np.inf).to_numpy(), year))
        arrival = np.empty(movielens.n_items)
        arrival[order] = np.arange(movielens.n_items)
    else:
        raise ValueError(f"unknown dataset {name!r}: choose one of {DATASETS}")
    history = sp.csr_array(interactions.train + interactions.valid)
    item_ids, user_ids = fast_mode_sample(
        history, history, sp.csr_array(interactions.test), max_items, max_users, seed
    )
    if item_ids.size < interactions.n_items or user_ids.size < interactions.n_users:
        interactions = subset_interactions(interactions, item_ids, user_ids)
    return VerdictData(
        name,
        interactions,
        item_ids,
        user_ids,
        texts,
        images,
        categories[item_ids],
        attributes[item_ids],
        arrival[item_ids],
        simulator,
    )


# --------------------------------------------------------------------------------------------
# 2. The yardsticks of one evaluation split: per-user and catalog metrics
# --------------------------------------------------------------------------------------------

HIGHER_IS_BETTER = {"Gini": False}  # every other metric: higher is better (or "wider")


@dataclass
class EvaluationContext:
    """What every system of one split is scored with (all of it computed from the models' inputs only).

    ``truth`` ``(len(users), n_items)``: targets of the evaluated users; ``inputs``: what the
    models saw (novelty, co-occurrence and the head are computed from it); ``simulator`` with
    ``simulator_users`` / ``simulator_items`` (the users' and items' ids in the full shop): the
    true utility of each list, or ``None``.
    """

    users: np.ndarray
    truth: sp.csr_array
    inputs: sp.csr_array
    attributes: np.ndarray
    categories: np.ndarray
    head: np.ndarray
    simulator: object | None = None
    simulator_users: np.ndarray | None = None
    simulator_items: np.ndarray | None = None
    k: int = 10
    recall_k: int = 20

    @classmethod
    def for_split(
        cls, data: VerdictData, split: EvaluationSplit, k: int = 10, recall_k: int = 20
    ) -> EvaluationContext:
        """The context of an :class:`~course_utils.protocol.EvaluationSplit` of ``data``."""
        inputs = sp.csr_array(split.inputs)
        return cls(
            split.users,
            sp.csr_array(split.ground_truth),
            inputs,
            data.attributes,
            data.categories,
            metrics.head_items(inputs, HEAD_SHARE),
            data.simulator,
            data.user_ids[split.users],
            data.item_ids,
            k,
            recall_k,
        )

    def __post_init__(self) -> None:
        self._attribute_distance = metrics.JaccardDistance(self.attributes)
        self._cooccurrence_distance = metrics.CooccurrenceDistance(self.inputs)

    def restrict(self, rows: np.ndarray) -> EvaluationContext:
        """The same yardsticks for a subset of the evaluated users (``rows`` index ``users``)."""
        simulator_users = None if self.simulator_users is None else self.simulator_users[rows]
        return EvaluationContext(
            self.users[rows],
            self.truth[rows],
            self.inputs,
            self.attributes,
            self.categories,
            self.head,
            self.simulator,
            simulator_users,
            self.simulator_items,
            self.k,
            self.recall_k,
        )

    def per_user(self, lists: np.ndarray) -> pd.DataFrame:
        """One row per evaluated user, one column per per-user metric (``NaN``: no target)."""
        lists = metrics.check_recommendations(lists, self.inputs.shape[1])
        expected = (self.users.size, max(self.k, self.recall_k))
        if lists.shape != expected:
            raise ValueError(
                f"lists must have shape {expected} (evaluated users, max(k, recall_k)), got {lists.shape}"
            )
        k = self.k
        table = {
            f"NDCG@{k}": metrics.ndcg_at_k(lists, self.truth, k),
            f"Recall@{self.recall_k}": metrics.recall_at_k(lists, self.truth, self.recall_k),
            f"ILD@{k}[attributes]": metrics.intra_list_diversity(lists, self._attribute_distance, k),
            f"ILD@{k}[co-occurrence]": metrics.intra_list_diversity(lists, self._cooccurrence_distance, k),
            f"Entropy@{k}[category]": metrics.category_entropy(lists, self.categories, k),
            f"Tail share@{k}": metrics.tail_share(lists, self.head, k),
            f"Novelty@{k}": metrics.novelty(lists, self.inputs, k),
        }
        if self.simulator is not None:
            table[f"Utility@{k}"] = self.simulator.utility(
                self.simulator_users, self.simulator_items[lists[:, :k]]
            )
        return pd.DataFrame(table, index=pd.Index(self.users, name="user"))

    def catalog(self, lists: np.ndarray) -> dict[str, float]:
        """Catalog-level metrics of the top-``k`` lists: coverage and Gini of exposure."""
        exposure = metrics.item_exposure(lists, self.inputs.shape[1], self.k)
        return {
            f"Coverage@{self.k}": float((exposure > 0).mean()),
            f"Gini@{self.k}": metrics.gini_index(exposure),
        }

    def summary(self, lists: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """One row per system: the mean of each per-user metric, then the catalog metrics."""
        rows = {
            name: {**self.per_user(system).mean().to_dict(), **self.catalog(system)}
            for name, system in lists.items()
        }
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "system"
        return table


# --------------------------------------------------------------------------------------------
# 3. Differences with confidence intervals
# --------------------------------------------------------------------------------------------


def compare(
    per_user: Mapping[str, pd.DataFrame],
    lists: Mapping[str, np.ndarray],
    reference: str,
    context: EvaluationContext,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[tuple[str, str], stats.Comparison]:
    """Every metric of every system minus the ``reference`` system's, with a 95 % CI.

    Per-user metrics: :func:`course_utils.stats.paired_bootstrap`; coverage and Gini:
    :func:`course_utils.stats.paired_bootstrap_catalog`. Keys are ``(system, metric)``.
    """
    if reference not in per_user:
        raise ValueError(f"reference {reference!r} is not one of the systems {list(per_user)}")
    comparisons = {}
    n_items = context.inputs.shape[1]
    for name in per_user:
        if name == reference:
            continue
        for metric in per_user[name].columns:
            comparisons[name, metric] = stats.paired_bootstrap(
                per_user[name][metric].to_numpy(),
                per_user[reference][metric].to_numpy(),
                n_resamples=max(n_resamples, 100),
                seed=seed,
                metric=metric,
                names=(name, reference),
            )
        for statistic in ("Coverage", "Gini"):
            metric = f"{statistic}@{context.k}"
            comparisons[name, metric] = stats.paired_bootstrap_catalog(
                lists[name],
                lists[reference],
                statistic.lower(),
                n_items,
                context.k,
                n_resamples=n_resamples,
                seed=seed,
                metric=metric,
                names=(name, reference),
            )
    return comparisons


def difference_table(comparisons: Mapping[tuple[str, str], stats.Comparison]) -> pd.DataFrame:
    """``system x metric`` table of differences as text: ``+0.012 [+0.004, +0.020]*``.

    ``*`` marks a CI that excludes 0.
    """

    def cell(comparison: stats.Comparison) -> str:
        scale = max(abs(comparison.ci_low), abs(comparison.ci_high), abs(comparison.difference))
        digits = 3 if scale >= 0.01 else 4
        star = "*" if comparison.ci_low > 0 or comparison.ci_high < 0 else ""
        low, high = f"{comparison.ci_low:+.{digits}f}", f"{comparison.ci_high:+.{digits}f}"
        return f"{comparison.difference:+.{digits}f} [{low}, {high}]{star}"

    table = pd.Series({key: cell(value) for key, value in comparisons.items()}).unstack()
    table.index.name, table.columns.name = "system", "metric"
    return table


# --------------------------------------------------------------------------------------------
# 4. Verdicts, computed
# --------------------------------------------------------------------------------------------


def direction(comparison: stats.Comparison) -> int:
    """+1 if the CI lies wholly on the better side of 0, -1 wholly on the worse side, 0 if it contains 0.

    "Better" is higher, except for the Gini index (lower = exposure spread more evenly).
    """
    higher_is_better = HIGHER_IS_BETTER.get(comparison.metric.split("@")[0], True)
    if comparison.excludes_zero(higher_is_better):
        return 1
    if comparison.excludes_zero(not higher_is_better):
        return -1
    return 0


def verdict_of(evidence: Sequence[stats.Comparison], required: Sequence[stats.Comparison] = ()) -> str:
    """The verdict on a claim from its comparisons (each ``A - B``, A = what the claim favours).

    ``evidence``: the comparisons the claim is about (e.g. the diversity metrics); ``required``:
    comparisons that must not get significantly worse (e.g. accuracy for "widens"), or, for a
    claim that names them (e.g. "improves accuracy *and* diversity"), pass them in ``evidence``.

    * **supported**: every evidence CI lies on the better side of 0 and no required one on the worse;
    * **partly**: at least one evidence CI on the better side (but not all, or a required one worse);
    * **not supported at this scale**: none on the better side and at least one on the worse side
      (evidence or required);
    * **inconclusive**: every CI contains 0.
    """
    if not evidence:
        raise ValueError("evidence is empty: a verdict needs at least one comparison")
    found = [direction(c) for c in evidence]
    guards = [direction(c) for c in required]
    if all(d == 1 for d in found) and not any(g == -1 for g in guards):
        return VERDICTS[0]
    if any(d == 1 for d in found):
        return VERDICTS[1]
    if any(d == -1 for d in (*found, *guards)):
        return VERDICTS[2]
    return VERDICTS[3]


def evidence_text(comparisons: Sequence[stats.Comparison]) -> str:
    """``metric: +0.012 [0.004, 0.020]`` per comparison, joined by ``; ``."""
    return "; ".join(
        f"{c.metric}: {c.difference:+.3g} [{c.ci_low:+.3g}, {c.ci_high:+.3g}]" for c in comparisons
    )


# --------------------------------------------------------------------------------------------
# 5. Augmentation with the encoders: pseudo-clicks on content neighbours
# --------------------------------------------------------------------------------------------


def content_neighbour_clicks(
    train: sp.spmatrix | sp.sparray, embeddings: np.ndarray, weight: float = 0.5
) -> sp.csr_array:
    """Augment clicks with pseudo-clicks: for every click ``(u, i)`` add ``(u, n(i))`` with ``weight``.

    ``n(i)`` is the nearest other item to ``i`` by cosine in ``embeddings`` ``(n_items, dim)``
    (e.g. the text encoder's). Real clicks keep value 1; a pseudo-click on an item the user
    already clicked is dropped. The augmented matrix has the same shape as ``train``.
    """
    if not 0 < weight <= 1:
        raise ValueError(f"weight must lie in (0, 1], got {weight}")
    train = sp.csr_array(train, dtype=np.float64)
    unit = unit_rows(embeddings, "embeddings")
    if unit.shape[0] != train.shape[1]:
        raise ValueError(f"embeddings have {unit.shape[0]} rows but train has {train.shape[1]} items")
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    neighbour = similarity.argmax(axis=1)  # (n_items,)
    coo = train.tocoo()
    pseudo = sp.csr_array((np.full(coo.nnz, weight), (coo.row, neighbour[coo.col])), shape=train.shape)
    pseudo.sum_duplicates()
    pseudo.data = np.minimum(pseudo.data, weight)
    clicked = train.copy()
    clicked.data[:] = 1.0
    return sp.csr_array(clicked + pseudo - pseudo.multiply(clicked))
