"""The capstone pipeline: encoders -> fusion -> cascade -> re-rank, on both course datasets.

Read top to bottom, one function per step::

    data = load_pipeline_data("shop")                      # history / test matrices, texts, images
    embeddings = encode_items(data)                        # {"text": (n_items, 384), "image": (.., 1280)}
    components = fit_components(data, embeddings, config)  # popularity, BPR-MF, item-kNN, content
    lists = system_lists(components, config)               # the six systems of the final table
    table = evaluate_systems(lists, components)            # Recall/NDCG@k, ILD in two spaces, ...

``load_pipeline_data(name, split="valid")`` gives the same steps on the validation split of
the course protocol (``course_utils.protocol``), where operating points are chosen.

The systems compared (one row each in the final table):

* **Popularity** -- the most clicked items, the same for everyone (the filter bubble's purest form);
* **BPR-MF** (Rendle et al. 2009) or **Mult-VAE** (Liang et al. 2018) -- collaborative filtering;
* **Text content** -- ``models.recommenders.ContentBased`` on the pretrained text encoder
  (MiniLM): the cosine between an item and the mean of the user's history vectors
  (Pazzani & Billsus 2007);
* **Fused** -- weighted score fusion (the source article's §4.2) of item-kNN (Sarwar et al. 2001),
  text content and image content, each min-max normalised per user, over the whole catalog;
* **Cascade + MMR / + DPP** -- the article's §2.3 cascade: item-kNN *recalls* ``n_recall``
  candidates, the fused multimodal score *ranks* them down to ``n_rank``, and MMR
  (Carbonell & Goldstein 1998) or the fast greedy DPP (Chen et al. 2018) *re-ranks* to ``k``.

A last, optional stage re-ranks a shortlist with a small language model, and a check reads its
generated explanations for attributes it made up (``course_utils.llm_stage``).

MovieLens-100k has no item images: its "modalities" are the title/year/genre text and the
collaborative signal, and the image weight of the config is dropped there.

**Image features are centred wherever they are compared** (:data:`CENTRED_MODALITIES`): the
pooled CNN features are non-negative (ReLU6), so every pair of raw vectors has a high cosine and
image similarity barely varies; after subtracting the catalog's mean vector, cosine measures how
two items differ from the average item in the same direction. The image content score, the
visual ILD column and the re-rankers' joint space all use the centred vectors.

Protocol: every model learns from each user's history (the ``inputs`` of the protocol's split:
train + valid for test), lists never repeat a history item, and the split's ``targets`` are the
ground truth. Item-kNN rather than BPR feeds the fusion because its score is a sum over the
user's history items, so every fused score splits exactly into per-modality and
per-history-item contributions plus one per-user offset (:func:`explain_recommendation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from course_utils import metrics, protocol, rerank
from course_utils.costs import CostLog
from course_utils.encoders.cache import Encoder, cache_key, cached_encode, embeddings_dir
from course_utils.models.recommenders import BPRMF, ContentBased, ItemKNN, Popularity, Recommender
from course_utils.models.score_fusion import Cascade, CascadeResult, Stage, scoring_stage, weighted_fusion
from course_utils.models.vae import MultVAE
from course_utils.ranking import Shortlist, top_k_items, unit_rows

DATASETS = ("shop", "ml100k")
MODALITIES = ("cf", "text", "image")  # the scores the fusion can weigh
CENTRED_MODALITIES = ("image",)  # compared after subtracting the catalog mean (module docstring)
CF_MODELS = ("bpr", "mult-vae")
RERANKERS = ("mmr", "dpp")
SHOP_ATTRIBUTES = ("category", "colour", "material", "style", "season", "brand")
_CHUNK_ELEMENTS = 8_000_000  # float64 elements gathered at once (64 MB)


# --------------------------------------------------------------------------------------------
# 1. Data: what each dataset gives the pipeline
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineData:
    """One dataset and one protocol split, reduced to what the pipeline reads.

    ``history``  binary CSR ``(n_users, n_items)``: each user's input interactions (test split:
                 train + validation; validation split: train);
    ``test``     binary CSR ``(n_users, n_items)``: the held-out, later interactions (the targets);
    ``item_ids`` / ``user_ids``: rows and columns in the full dataset (``arange`` when not subsampled);
    ``catalog_texts`` / ``catalog_images``: the loader's ``.texts`` / ``.images`` for the **full**
    catalog (so cached full-catalog embeddings are reused, then sliced); ``catalog_images`` is
    ``None`` for MovieLens; ``item_labels``: category (shop) or genres (MovieLens) per kept item;
    ``item_attributes``: one row of attribute values per kept item (shop: :data:`SHOP_ATTRIBUTES`;
    MovieLens: ``year`` and ``genres``), what the language-model prompts and checks read.
    """

    name: str
    history: sp.csr_array
    test: sp.csr_array
    item_ids: np.ndarray
    user_ids: np.ndarray
    catalog_texts: tuple[str, ...]
    catalog_images: np.ndarray | None
    item_labels: np.ndarray
    item_attributes: pd.DataFrame | None = None
    split: str = "test"

    @property
    def n_users(self) -> int:
        """Number of (kept) users."""
        return self.history.shape[0]

    @property
    def n_items(self) -> int:
        """Number of (kept) items."""
        return self.history.shape[1]

    @property
    def modalities(self) -> tuple[str, ...]:
        """The score sources the fusion can use: ``cf`` and ``text``, plus ``image`` when there are images."""
        return MODALITIES if self.catalog_images is not None else ("cf", "text")

    @property
    def item_texts(self) -> list[str]:
        """Encoder input text of each kept item."""
        return [self.catalog_texts[i] for i in self.item_ids]

    @property
    def item_images(self) -> np.ndarray | None:
        """uint8 ``(n_items, 28, 28, 3)`` images of the kept items, or ``None``."""
        return None if self.catalog_images is None else self.catalog_images[self.item_ids]

    def evaluation_users(self) -> np.ndarray:
        """Rows of the users with at least one test item and one history item."""
        return np.flatnonzero((np.diff(self.test.indptr) > 0) & (np.diff(self.history.indptr) > 0))

    def __repr__(self) -> str:
        return (
            f"PipelineData({self.name!r}, {self.split} split: {self.n_users} users x {self.n_items} items, "
            f"history={self.history.nnz}, test={self.test.nnz}, modalities={self.modalities})"
        )


def load_pipeline_data(
    name: str,
    max_items: int | None = None,
    max_users: int | None = None,
    seed: int = 0,
    split: str = "test",
) -> PipelineData:
    """Load ``"shop"`` (Fashion Shop) or ``"ml100k"`` (MovieLens-100k) for one split of the protocol.

    ``split="test"``: history = train + valid, targets = test (where results are reported);
    ``split="valid"``: history = train, targets = valid (where operating points are chosen), both
    from ``protocol.evaluation_split``. Item texts are the loader's ``.texts`` (one text per item
    in the whole course). ``max_items`` / ``max_users`` shrink the data for fast mode (see
    :func:`fast_mode_sample`); without limits every user and item is kept.
    """
    if name == "shop":
        from course_utils.data import load_fashion_shop

        dataset = load_fashion_shop()
        images = dataset.images
        labels = dataset.items["category"].to_numpy()
        attributes = dataset.items[list(SHOP_ATTRIBUTES)].astype(str)
    elif name == "ml100k":
        from course_utils.data import load_movielens_100k

        dataset = load_movielens_100k()
        images = None
        labels = dataset.movies["genres"].str.join("/").to_numpy()
        attributes = pd.DataFrame(
            {
                "year": dataset.movies["year"].astype("string").fillna("year unknown"),
                "genres": dataset.movies["genres"].str.join(", "),
            }
        )
    else:
        raise ValueError(f"unknown dataset {name!r}: choose one of {DATASETS}")
    interactions = dataset.interactions
    chosen = protocol.evaluation_split(interactions, split)
    # items are always sampled on train + valid clicks, so both splits of a fast run share one catalog
    everything = sp.csr_array(interactions.train + interactions.valid, dtype=np.float32)
    history = sp.csr_array(chosen.inputs, dtype=np.float32)
    test = sp.csr_array(chosen.targets, dtype=np.float32)
    item_ids, user_ids = fast_mode_sample(everything, history, test, max_items, max_users, seed)
    history, test = history[user_ids][:, item_ids], test[user_ids][:, item_ids]
    return PipelineData(
        name,
        sp.csr_array(history),
        sp.csr_array(test),
        item_ids,
        user_ids,
        tuple(dataset.texts),
        images,
        labels[item_ids],
        attributes.iloc[item_ids].reset_index(drop=True),
        split,
    )


def fast_mode_sample(
    clicks: sp.csr_array,
    history: sp.csr_array,
    test: sp.csr_array,
    max_items: int | None,
    max_users: int | None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(item_ids, user_ids)`` to keep: all of them, or the fast-mode sample.

    ``max_items`` keeps the items with the most ``clicks`` (ties: lower id), so a small catalog
    still has enough clicks to learn from -- at the price of a flatter popularity curve than the
    full data. Only users with at least one history and one test item among them are kept, at
    most ``max_users`` (a random sample drawn with ``seed``).
    """
    n_users, n_items = history.shape
    for label, limit in (("max_items", max_items), ("max_users", max_users)):
        if limit is not None and limit < 2:
            raise ValueError(f"{label} must be at least 2 (or None for all), got {limit}")
    item_ids = np.arange(n_items)
    if max_items is not None and max_items < n_items:
        counts = np.asarray(clicks.sum(axis=0)).ravel()
        item_ids = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    user_ids = np.arange(n_users)
    if max_items is not None or max_users is not None:
        kept_history, kept_test = history[:, item_ids].tocsr(), test[:, item_ids].tocsr()
        user_ids = np.flatnonzero((np.diff(kept_history.indptr) > 0) & (np.diff(kept_test.indptr) > 0))
    if max_users is not None and max_users < user_ids.size:
        user_ids = np.sort(np.random.default_rng(seed).choice(user_ids, max_users, replace=False))
    if user_ids.size < 2:
        raise ValueError(f"only {user_ids.size} user(s) left after subsampling: raise max_items")
    return item_ids, user_ids


# --------------------------------------------------------------------------------------------
# 2. Encoders: item embeddings through the on-disk cache
# --------------------------------------------------------------------------------------------


def _embed(
    encoder: Encoder,
    catalog_inputs: Sequence[str] | np.ndarray,
    item_ids: np.ndarray,
    cache_dir: str | Path | None,
    progress: bool,
) -> tuple[np.ndarray, bool]:
    """Embeddings of the kept items and whether they came from the cache.

    A cached full-catalog entry is read and sliced; otherwise only the kept items are encoded
    (and cached under their own key), which is what keeps fast mode fast on an empty cache.
    """
    full_catalog = len(item_ids) == len(catalog_inputs)
    full_entry = embeddings_dir(cache_dir) / f"{cache_key(encoder.model_id, catalog_inputs)}.npz"
    if full_catalog or full_entry.exists():
        inputs = catalog_inputs
    else:
        inputs = (
            catalog_inputs[item_ids]
            if isinstance(catalog_inputs, np.ndarray)
            else [catalog_inputs[i] for i in item_ids]
        )
    was_cached = (embeddings_dir(cache_dir) / f"{cache_key(encoder.model_id, inputs)}.npz").exists()
    vectors = cached_encode(encoder, inputs, cache_dir, progress=progress)
    return (vectors[item_ids] if len(vectors) != len(item_ids) else vectors), was_cached


def encode_items(
    data: PipelineData,
    text_encoder: Encoder | None = None,
    image_encoder: Encoder | None = None,
    cache_dir: str | Path | None = None,
    costs: CostLog | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Item embeddings per modality: ``{"text": (n_items, d_text)[, "image": (n_items, d_image)]}``.

    Defaults: ``TextEncoder()`` (all-MiniLM-L6-v2, unit length) and ``ImageEncoder()``
    (EfficientNet-Lite0, 1,280-d), both offline. Embeddings go through the on-disk cache
    (``encoders.cache``); ``costs`` records the time and memory of each encoder, with
    ``cached=True`` when the embeddings were read from disk instead of computed.
    """
    from course_utils.encoders import ImageEncoder, TextEncoder

    costs = costs if costs is not None else CostLog()
    jobs: list[tuple[str, Callable[[], Encoder], Sequence[str] | np.ndarray]] = [
        ("text", lambda: text_encoder or TextEncoder(), list(data.catalog_texts))
    ]
    if data.catalog_images is not None:
        jobs.append(("image", lambda: image_encoder or ImageEncoder(), data.catalog_images))
    embeddings = {}
    for modality, make_encoder, inputs in jobs:
        with costs.measure(f"{modality} encoder") as details:
            embeddings[modality], details["cached"] = _embed(
                make_encoder(), inputs, data.item_ids, cache_dir, progress
            )
    return embeddings


def comparable(name: str, vectors: np.ndarray) -> np.ndarray:
    """The vectors of modality ``name`` as compared: centred if ``name`` is in :data:`CENTRED_MODALITIES`.

    ``x_i - mean_j x_j`` over the catalog for image features (module docstring: raw ReLU
    features all point into one orthant); other modalities unchanged. ``(n_items, dim)`` float64.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors - vectors.mean(axis=0) if name in CENTRED_MODALITIES else vectors


def diversity_space(embeddings: Mapping[str, np.ndarray]) -> np.ndarray:
    """One item representation for the re-rankers: the unit vectors of every modality, side by side.

    ``x_i = [e_i^text / |e_i^text| ; c_i^image / |c_i^image|] / sqrt(M)`` with ``c`` the centred
    image features (:func:`comparable`), is a unit vector with ``cos(x_i, x_j) = mean_m
    cos(., .)_m``: "similar" means similar in text *and* looks. Without centring, the image
    cosine would be high for almost every pair and the joint similarity would vary only with
    the text.
    """
    if not embeddings:
        raise ValueError("no embeddings: pass {modality: (n_items, dim)}")
    blocks = [unit_rows(comparable(name, m), f"{name} embeddings") for name, m in embeddings.items()]
    if len({block.shape[0] for block in blocks}) != 1:
        raise ValueError(
            f"embeddings disagree on the number of items: { {n: m.shape for n, m in embeddings.items()} }"
        )
    return np.hstack(blocks) / np.sqrt(len(blocks))  # (n_items, sum of dims)


# --------------------------------------------------------------------------------------------
# 3. Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineConfig:
    """Every choice of the pipeline in one place (defaults: the documented default pipeline).

    ``k``            length of the final lists;
    ``cf_model``     the collaborative baseline row: ``"bpr"`` (BPR-MF) or ``"mult-vae"``;
    ``cf_epochs``    its epochs (``None``: the model's own default, smaller in fast mode);
    ``weights``      fusion weight per score source in ``("cf", "text", "image")``; a source the
                     dataset lacks (MovieLens has no images) is dropped;
    ``n_recall``     candidates the item-kNN recall stage keeps per user;
    ``n_rank``       candidates the fused ranking stage passes to the re-ranker;
    ``diversity``    the re-rankers' trade-off in ``[0, 1]`` (0 = the ranking stage's order);
    ``neighbours``   item-kNN neighbourhood size.
    """

    k: int = 10
    cf_model: str = "bpr"
    cf_epochs: int | None = None
    weights: Mapping[str, float] = field(default_factory=lambda: {"cf": 0.5, "text": 0.25, "image": 0.25})
    n_recall: int = 200
    n_rank: int = 50
    diversity: float = 0.3
    neighbours: int = 100

    def __post_init__(self) -> None:
        if self.cf_model not in CF_MODELS:
            raise ValueError(f"unknown cf_model {self.cf_model!r}: choose one of {CF_MODELS}")
        unknown = set(self.weights) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown fusion weight(s) {sorted(unknown)}: weights may name {MODALITIES}")
        values = np.array(list(self.weights.values()), dtype=float)
        if values.size == 0 or not np.isfinite(values).all() or (values < 0).any() or values.sum() == 0:
            raise ValueError(
                f"fusion weights must be finite, non-negative and not all zero, got {dict(self.weights)}"
            )
        if not 2 <= self.k <= self.n_rank <= self.n_recall:
            raise ValueError(
                f"need 2 <= k <= n_rank <= n_recall, got k={self.k}, n_rank={self.n_rank}, "
                f"n_recall={self.n_recall}"
            )
        if not 0.0 <= self.diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1] (0 = relevance order), got {self.diversity}")

    def weights_for(self, data: PipelineData) -> dict[str, float]:
        """The fusion weights of the sources ``data`` has (MovieLens: no ``image``)."""
        weights = {name: float(w) for name, w in self.weights.items() if name in data.modalities}
        if not weights or sum(weights.values()) == 0:
            raise ValueError(f"no positive fusion weight for {data.name}'s sources {data.modalities}")
        return weights


# --------------------------------------------------------------------------------------------
# 4. Components: every model fitted once, every score computed once
# --------------------------------------------------------------------------------------------


def gathered_content_scores(model: ContentBased, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``model``'s scores of ``candidates`` ``(n_users, M)`` only, ``(n_users, M)``: what a later stage pays.

    The same numbers as ``model.score(users)`` at those items (the cosine between the unit
    profile and the unit item vector), computed in chunks of users that bound the gathered
    ``(users, M, dim)`` block to about 64 MB.
    """
    profiles, unit_items = model.profiles_[users], model.unit_items_
    scores = np.empty(candidates.shape)
    users_per_chunk = max(1, _CHUNK_ELEMENTS // (candidates.shape[1] * unit_items.shape[1]))
    for start in range(0, len(candidates), users_per_chunk):
        chunk = slice(start, start + users_per_chunk)
        scores[chunk] = np.einsum("ud,umd->um", profiles[chunk], unit_items[candidates[chunk]])
    return scores


@dataclass
class Components:
    """Everything fitted for one dataset, restricted to the evaluated users (one row each).

    ``users``: evaluated rows of ``data``; ``seen``: boolean ``(n_users, n_items)``, their
    history items (never recommended); ``models``: the fitted ``Popularity``, CF baseline,
    ``ItemKNN`` and one ``ContentBased`` per content modality (``"text"``, ``"image"``, the image
    one centred); ``knn_scores``: item-kNN scores ``(n_users, n_items)``, the recall stage's
    cheap whole-catalog score; ``embeddings``: raw encoder output per modality ``(n_items, dim)``;
    ``costs``.
    """

    data: PipelineData
    users: np.ndarray
    seen: np.ndarray
    embeddings: dict[str, np.ndarray]
    models: dict[str, Recommender]
    knn_scores: np.ndarray
    costs: CostLog

    @property
    def cf_name(self) -> str:
        """Display name of the collaborative baseline (``BPR-MF`` or ``Mult-VAE``)."""
        return self.models["cf"].name

    @property
    def max_candidates(self) -> int:
        """The fewest unseen items of any evaluated user: the largest possible ``n_recall``."""
        return int(self.data.n_items - self.seen.sum(axis=1).max())

    @property
    def truth(self) -> sp.csr_array:
        """Test items of the evaluated users ``(n_users, n_items)``."""
        return self.data.test[self.users]

    def source_scores(self, name: str, candidates: np.ndarray | None = None) -> np.ndarray:
        """One fusion source's scores, ``-inf`` on history items: ``cf`` (item-kNN), ``text`` or ``image``.

        The whole catalog ``(n_users, n_items)``, or only ``candidates`` ``(n_users, M)``; content
        scores are then computed for the candidates alone (what a cascade's later stage pays).
        """
        if name == "cf":
            scores = (
                self.knn_scores if candidates is None else np.take_along_axis(self.knn_scores, candidates, 1)
            )
        elif name in self.data.modalities and name in self.models:
            model = self.models[name]
            scores = (
                model.score(self.users)
                if candidates is None
                else gathered_content_scores(model, self.users, candidates)
            )
        else:
            raise ValueError(
                f"no {name!r} scores for {self.data.name}: available {list(self.data.modalities)}"
            )
        seen = self.seen if candidates is None else np.take_along_axis(self.seen, candidates, axis=1)
        return np.where(seen, -np.inf, scores)

    def fused_scores(self, weights: Mapping[str, float], candidates: np.ndarray | None = None) -> np.ndarray:
        """Weighted fusion ``sum_m w_m minmax_u(s_m)`` of the sources (article §4.2; Fox & Shaw 1994).

        The min-max runs per user over the items that can be recommended (history items stay
        ``-inf``). Shape as :meth:`source_scores`.
        """
        if not weights:
            raise ValueError("weights is empty: name at least one source, e.g. {'cf': 1.0}")
        return weighted_fusion(
            {name: self.source_scores(name, candidates) for name in weights}, weights, "minmax"
        )


def fit_components(
    data: PipelineData,
    embeddings: Mapping[str, np.ndarray],
    config: PipelineConfig = PipelineConfig(),
    seed: int = 0,
    costs: CostLog | None = None,
    progress: bool = True,
    baselines: bool = True,
) -> Components:
    """Fit the recommenders on ``data.history``, timing each.

    ``embeddings`` from :func:`encode_items` (or any ``{modality: (n_items, dim)}``, e.g. random
    vectors in tests). The CF baseline is seeded with ``seed``. ``baselines=False`` skips
    popularity and the CF baseline, which the fusion and the cascades do not use (e.g. for a
    validation sweep of the cascades).
    """
    missing = {"text", "image"} & set(data.modalities) - set(embeddings)
    if missing:
        raise ValueError(f"{data.name} needs embeddings for {sorted(missing)}; got {sorted(embeddings)}")
    for name, matrix in embeddings.items():
        if np.shape(matrix)[0] != data.n_items:
            raise ValueError(
                f"{name} embeddings have {np.shape(matrix)[0]} rows but {data.name} has {data.n_items} items"
            )
    users = data.evaluation_users()
    if users.size == 0:
        raise ValueError(f"{data.name} has no user with both history and test items")
    costs = costs if costs is not None else CostLog()
    to_fit: dict[str, Recommender] = {"item-kNN": ItemKNN(neighbours=config.neighbours)}
    if baselines:
        to_fit["popularity"] = Popularity()
        to_fit["cf"] = (
            BPRMF(epochs=config.cf_epochs, seed=seed, progress=progress)
            if config.cf_model == "bpr"
            else MultVAE(epochs=config.cf_epochs, seed=seed, progress=progress)
        )
    for name in ("text", "image"):
        if name in data.modalities:
            to_fit[name] = ContentBased(embeddings[name], centre=name in CENTRED_MODALITIES)
    models: dict[str, Recommender] = {}
    for label, model in to_fit.items():
        title = f"{label} content profiles" if label in ("text", "image") else f"{model.name} fit"
        with costs.measure(title):
            models[label] = model.fit(data.history)
    with costs.measure("item-kNN scores (recall)"):
        knn_scores = models["item-kNN"].score(users)  # (n_users, n_items)
    seen = data.history[users].toarray() > 0  # (n_users, n_items)
    return Components(
        data, users, seen, {n: np.asarray(m) for n, m in embeddings.items()}, models, knn_scores, costs
    )


# --------------------------------------------------------------------------------------------
# 5. The cascade and the systems of the final table
# --------------------------------------------------------------------------------------------


def build_cascade(components: Components, config: PipelineConfig, reranker: str) -> Cascade:
    """Recall (item-kNN, ``n_recall``) -> rank (fused score, ``n_rank``) -> re-rank (MMR or DPP, ``k``).

    The cascade runs on evaluated-user *rows* (``np.arange(len(components.users))``). The
    re-ranker's relevance is the ranking stage's fused score of its candidates, handed over by
    the cascade with them (so ``diversity=0`` keeps the ranking order); its similarity is cosine
    in :func:`diversity_space` of all modalities.
    """
    if reranker not in RERANKERS:
        raise ValueError(f"unknown reranker {reranker!r}: choose one of {RERANKERS}")
    if config.n_recall > components.max_candidates:
        raise ValueError(
            f"n_recall={config.n_recall} is more than the {components.max_candidates} unseen items "
            "some user has; lower it (components.max_candidates)"
        )
    weights = config.weights_for(components.data)
    space = diversity_space(components.embeddings)

    def recall(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return components.source_scores("cf", candidates)  # -inf on history items

    def rank(rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return components.fused_scores(weights, candidates)

    def diversify(rows: np.ndarray, ranked: Shortlist) -> Shortlist:
        method = rerank.mmr if reranker == "mmr" else rerank.dpp
        return ranked.subset(method(ranked.items, ranked.scores, space, config.k, config.diversity))

    return Cascade(
        [
            scoring_stage("recall: item-kNN", recall, config.n_recall),
            scoring_stage("rank: fused score", rank, config.n_rank),
            Stage(f"re-rank: {reranker.upper()}", diversify),
        ]
    )


def run_cascade(components: Components, config: PipelineConfig, reranker: str = "dpp") -> CascadeResult:
    """Run :func:`build_cascade` for every evaluated user; ``result.lists`` is ``(n_users, k)``."""
    cascade = build_cascade(components, config, reranker)
    return cascade.run(np.arange(len(components.users)), components.data.n_items)


def rerank_sweep(
    components: Components, config: PipelineConfig, diversities: Sequence[float]
) -> dict[tuple[str, float], np.ndarray]:
    """Both cascades' final lists at every ``diversity``, with one shared recall and ranking stage.

    Recall (item-kNN) and rank (fused score) depend on neither the re-ranker nor its dial, so
    they run once; each ``(reranker, diversity)`` then only re-ranks the ``n_rank`` shortlist.
    ``result[reranker, d]`` ``(n_users, k)`` equals
    ``run_cascade(components, replace(config, diversity=d), reranker).lists``.
    """
    rows = np.arange(len(components.users))
    recall_and_rank = build_cascade(components, config, RERANKERS[0]).stages[:2]
    ranked_result = Cascade(recall_and_rank).run(rows, components.data.n_items)
    ranked = Shortlist(ranked_result.lists, ranked_result.stage_scores[recall_and_rank[-1].name])
    lists = {}
    for diversity in diversities:
        setting = replace(config, diversity=float(diversity))  # validates the dial
        for reranker in RERANKERS:
            final_stage = build_cascade(components, setting, reranker).stages[-1]
            lists[reranker, float(diversity)] = final_stage.select(rows, ranked).items
    return lists


def default_pipeline(components: Components, k: int = 10) -> np.ndarray:
    """The documented default pipeline, the reference answer of notebook 13's exercise.

    ``PipelineConfig(k=k)``: fusion weights cf 0.5, text 0.25, image 0.25; item-kNN recalls
    200 candidates, the fused score keeps 50, DPP re-ranks with ``diversity=0.3``. On a small
    catalog both sizes are capped at ``components.max_candidates`` (the fewest unseen items a
    user has). Returns item ids ``(n_users, k)`` for the evaluated users, no history items.
    """
    n_recall = min(PipelineConfig.n_recall, components.max_candidates)
    config = PipelineConfig(k=k, n_recall=n_recall, n_rank=min(PipelineConfig.n_rank, n_recall))
    return run_cascade(components, config, "dpp").lists


def system_lists(
    components: Components, config: PipelineConfig = PipelineConfig(), costs: CostLog | None = None
) -> dict[str, np.ndarray]:
    """The top-``k`` lists ``(n_users, k)`` of the six systems of the final table, by display name.

    Popularity, the CF baseline, text content and fused rank the whole catalog; the two
    cascades rank what their recall stage kept. History items are never recommended.
    ``costs`` receives the time of each system and of each cascade stage.
    """
    costs = costs if costs is not None else components.costs
    seen, k = components.seen, config.k
    lists: dict[str, np.ndarray] = {}
    whole_catalog: dict[str, Callable[[], np.ndarray]] = {
        "Popularity": lambda: components.models["popularity"].score(components.users),
        components.cf_name: lambda: components.models["cf"].score(components.users),
        "Text content": lambda: components.source_scores("text"),
        "Fused": lambda: components.fused_scores(config.weights_for(components.data)),
    }
    for name, score in whole_catalog.items():
        with costs.measure(f"{name}: score + top-{k}"):
            lists[name] = top_k_items(score(), k, sp.csr_array(seen))
    for reranker in RERANKERS:
        name = f"Cascade + {reranker.upper()}"
        with costs.measure(f"{name} (all stages)"):
            result = run_cascade(components, config, reranker)
        for stage, seconds in result.seconds.items():
            costs.add(f"{name} · {stage}", seconds, candidates_out=result.stage_items[stage].shape[1])
        lists[name] = result.lists
    return lists


# --------------------------------------------------------------------------------------------
# 6. Evaluation and explanation
# --------------------------------------------------------------------------------------------

TABLE_COLUMNS = (
    "Recall@{k}",
    "NDCG@{k}",
    "ILD@{k}[content]",
    "ILD@{k}[visual]",
    "Coverage@{k}",
    "Novelty@{k}",
    "Gini@{k}",
)


def check_lists(lists: np.ndarray, components: Components, k: int) -> np.ndarray:
    """Validate one system's lists: ``(n_users, k)`` integer item ids, no repeats, no history item."""
    lists = np.asarray(lists)
    expected = (len(components.users), k)
    if lists.shape != expected:
        raise ValueError(f"lists must have shape {expected} (evaluated users, k), got {lists.shape}")
    lists = metrics.check_recommendations(lists, components.data.n_items)
    already_seen = np.take_along_axis(components.seen, lists, axis=1)
    if already_seen.any():
        row = int(np.flatnonzero(already_seen.any(axis=1))[0])
        raise ValueError(
            f"row {row} recommends item(s) {lists[row][already_seen[row]].tolist()} from the user's history"
        )
    return lists


def evaluate_systems(lists: Mapping[str, np.ndarray], components: Components, k: int = 10) -> pd.DataFrame:
    """The final table: one row per system, accuracy and beyond-accuracy at ``k``.

    Recall@k and NDCG@k on the test split (``metrics.evaluate_lists``: log2 discount, users
    without test items skipped); ILD@k as mean pairwise cosine distance in the **content**
    (text-encoder) space and the **visual** (centred image-encoder) space (NaN without images);
    catalog coverage, novelty (bits, popularity over all users' histories) and the Gini index
    of exposure. Deterministic: no timing in it.
    """
    distances = {"content": metrics.CosineDistance(comparable("text", components.embeddings["text"]))}
    if "image" in components.embeddings:
        distances["visual"] = metrics.CosineDistance(comparable("image", components.embeddings["image"]))
    rows = {}
    for name, system in lists.items():
        system = check_lists(system, components, k)
        rows[name] = metrics.evaluate_lists(system, components.truth, components.data.history, k, distances)
    columns = [column.format(k=k) for column in TABLE_COLUMNS]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index.name = "system"
    return table


@dataclass(frozen=True)
class Explanation:
    """Why the fused score ranks one item for one user, split exactly (:func:`explain_recommendation`).

    ``modality_share`` ``(M,)``: each source's share of the fused score; ``drivers``: one row per
    history item, largest ``total`` first, with one column per source; ``offset``: the per-user
    normalisation term. ``drivers["total"].sum() + offset`` equals the fused score.
    """

    modality_share: pd.Series
    drivers: pd.DataFrame
    offset: float

    @property
    def reconstructed_score(self) -> float:
        """``sum_h total(h) + offset``: the fused score rebuilt from its parts."""
        return float(self.drivers["total"].sum() + self.offset)


def explain_recommendation(
    components: Components, row: int, item: int, weights: Mapping[str, float]
) -> Explanation:
    """Why the fused score ranks ``item`` for evaluated user ``row``: exact, additive attributions.

    The fused score is ``F = sum_m w_m (s_m - min_m) / span_m`` (min and span over the user's
    unseen items). Each source's score is a sum over the history ``H_u``: item-kNN
    ``s_cf = sum_h sim(h, i)``, and ContentBased ``s_m = sum_h cos(e_h, e_i) / |sum_h' e_h'|``
    (unit vectors, image ones centred). So

        ``F = sum_h [ sum_m w_m c_m(h) / span_m ]  +  offset``,  ``offset = -sum_m w_m min_m / span_m``,

    with ``c_cf(h) = sim(h, i)`` and ``c_m(h) = cos(e_h, e_i) / |sum_h' e_h'|``. The bracket is a
    history item's ``total`` in ``drivers``; ``modality_share`` is ``w_m (s_m - min_m) / span_m / F``.
    A source whose unseen scores are all equal has ``span_m = 0``: min-max maps it to 0, and so
    does the explanation.
    """
    if not 0 <= row < len(components.users):
        raise ValueError(f"row must index an evaluated user, 0 <= row < {len(components.users)}, got {row}")
    if not 0 <= item < components.data.n_items:
        raise ValueError(f"item must lie in [0, {components.data.n_items}), got {item}")
    seen = components.seen[row]
    if seen[item]:
        raise ValueError(f"item {item} is in the user's history: there is nothing to explain")
    history = np.flatnonzero(seen)  # (|H_u|,) item ids
    share, per_item, offset = {}, {}, 0.0
    for name, weight in weights.items():
        scores = components.source_scores(name)[row].astype(np.float64)  # (n_items,)
        unseen = scores[~seen]
        low, span = unseen.min(), unseen.max() - unseen.min()
        if name == "cf":
            contributions = components.models["item-kNN"].similarity_[history][:, [item]].toarray().ravel()
        else:
            unit = components.models[name].unit_items_  # (n_items, dim)
            length = np.linalg.norm(unit[history].sum(axis=0))
            contributions = unit[history] @ unit[item] / length if length > 0 else np.zeros(history.size)
        if span > 0:
            share[name] = weight * (scores[item] - low) / span
            per_item[name] = weight * contributions / span
            offset -= weight * low / span
        else:
            share[name], per_item[name] = 0.0, np.zeros(history.size)
    total = sum(share.values())
    modality_share = pd.Series(
        {name: value / total if total > 0 else np.nan for name, value in share.items()},
        name="share of the fused score",
    )
    drivers = pd.DataFrame(per_item, index=pd.Index(history, name="history item"))
    drivers["total"] = drivers.sum(axis=1)
    return Explanation(modality_share, drivers.sort_values("total", ascending=False), float(offset))
