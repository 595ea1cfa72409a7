"""Tests of the capstone pipeline (course_utils.pipeline) on tiny configs.

The real Fashion Shop is loaded but shrunk to its 150 most-clicked items and 40 users, and
random vectors stand in for the encoders, so every test runs in about a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from course_utils import llm_stage, pipeline
from course_utils.costs import CostLog, cold_versus_cached
from course_utils.pipeline import PipelineConfig, PipelineData

TINY_CONFIG = PipelineConfig(
    k=5, cf_epochs=1, n_recall=40, n_rank=15, diversity=0.5, neighbours=20
)  # tiny: fast


@pytest.fixture(scope="module")
def tiny_shop() -> PipelineData:
    return pipeline.load_pipeline_data("shop", max_items=150, max_users=40, seed=0)


@pytest.fixture(scope="module")
def tiny_embeddings(tiny_shop: PipelineData) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "text": rng.normal(size=(tiny_shop.n_items, 12)),
        "image": rng.normal(size=(tiny_shop.n_items, 6)),
    }


class TinyRun:
    """The steps of notebook 13 on the tiny shop: components, the six systems' lists, the table."""

    def __init__(self, data: PipelineData, embeddings: dict[str, np.ndarray]):
        self.costs = CostLog()
        self.components = pipeline.fit_components(data, embeddings, TINY_CONFIG, 3, self.costs, False)
        self.lists = pipeline.system_lists(self.components, TINY_CONFIG, self.costs)
        self.table = pipeline.evaluate_systems(self.lists, self.components, TINY_CONFIG.k)


@pytest.fixture(scope="module")
def tiny_result(tiny_shop, tiny_embeddings) -> TinyRun:
    return TinyRun(tiny_shop, tiny_embeddings)


def _hand_made_data() -> PipelineData:
    """3 users x 4 items; every user has one test item."""
    history = sp.csr_array(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]], dtype=np.float32))
    test = sp.csr_array(np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    return PipelineData(
        "hand-made",
        history,
        test,
        np.arange(4),
        np.arange(3),
        ("a", "b", "c", "d"),
        None,
        np.array(["x", "y", "x", "y"]),
    )


# ---------------------------------------------------------------------------------- data


def test_subsample_keeps_most_clicked_items_and_active_users(tiny_shop):
    full = pipeline.load_pipeline_data("shop")
    clicks = np.asarray(full.history.sum(axis=0)).ravel()
    assert tiny_shop.n_items == 150 and tiny_shop.n_users == 40
    assert clicks[tiny_shop.item_ids].min() >= np.delete(clicks, tiny_shop.item_ids).max()
    assert (np.diff(tiny_shop.history.indptr) > 0).all() and (np.diff(tiny_shop.test.indptr) > 0).all()
    assert tiny_shop.item_texts[0] == full.catalog_texts[tiny_shop.item_ids[0]]
    assert tiny_shop.item_images.shape == (150, 28, 28, 3)


def test_history_and_test_never_share_a_pair(tiny_shop):
    assert tiny_shop.history.multiply(tiny_shop.test).nnz == 0


def test_pipeline_embeds_exactly_the_loaders_item_texts():
    from course_utils.data import load_fashion_shop, load_movielens_100k

    for name, dataset in (("ml100k", load_movielens_100k()), ("shop", load_fashion_shop())):
        data = pipeline.load_pipeline_data(name, max_items=50, max_users=10)
        assert list(data.catalog_texts) == dataset.texts, name  # one item text per item, course-wide
        assert data.item_texts == [dataset.texts[i] for i in data.item_ids]


def test_validation_split_follows_the_protocol():
    from course_utils.data import load_fashion_shop

    interactions = load_fashion_shop().interactions
    valid = pipeline.load_pipeline_data("shop", split="valid")
    assert valid.split == "valid" and "valid split" in repr(valid)
    assert (valid.history != sp.csr_array(interactions.train, dtype=np.float32)).nnz == 0
    assert (valid.test != sp.csr_array(interactions.valid, dtype=np.float32)).nnz == 0
    with pytest.raises(ValueError, match="split must be one of"):
        pipeline.load_pipeline_data("shop", split="train")


def test_movielens_has_no_image_modality_and_drops_its_weight():
    movielens = pipeline.load_pipeline_data("ml100k", max_items=100, max_users=20)
    assert movielens.modalities == ("cf", "text") and movielens.item_images is None
    assert PipelineConfig().weights_for(movielens) == {"cf": 0.5, "text": 0.25}
    assert all(isinstance(text, str) and ". Genres: " in text for text in movielens.item_texts)
    assert list(movielens.item_attributes.columns) == ["year", "genres"]


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset 'netflix'"):
        pipeline.load_pipeline_data("netflix")


# ---------------------------------------------------------------------------------- scores


def test_gathered_content_scores_equal_the_content_models_scores():
    from course_utils.models.recommenders import ContentBased

    history = sp.csr_array(np.array([[1, 1, 0], [0, 0, 1]], dtype=np.float32))
    embeddings = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    model = ContentBased(embeddings).fit(history)
    # user 0: unit profile (1, 1)/sqrt(2); item 2 has cosine 1 with it, items 0 and 1 1/sqrt(2)
    np.testing.assert_allclose(model.score(np.array([0]))[0], [2**-0.5, 2**-0.5, 1.0], rtol=1e-6)
    candidates = np.array([[2, 0], [1, 2]])
    np.testing.assert_allclose(
        pipeline.gathered_content_scores(model, np.array([0, 1]), candidates),
        np.take_along_axis(model.score(np.array([0, 1])), candidates, axis=1),
        rtol=1e-6,
    )


def test_image_features_are_centred_wherever_they_are_compared(tiny_result):
    components = tiny_result.components
    image = components.embeddings["image"] + 5.0  # all-positive features, like ReLU output
    centred = pipeline.comparable("image", image)
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(pipeline.comparable("text", image), image)  # text is not centred
    assert components.models["image"].centre and not components.models["text"].centre
    # the visual ILD of a list is measured on centred features: shifting every vector changes nothing
    lists = tiny_result.lists["Fused"]
    shifted = pipeline.Components(
        **{**components.__dict__, "embeddings": {**components.embeddings, "image": image}}
    )
    base = pipeline.evaluate_systems({"Fused": lists}, components, TINY_CONFIG.k)
    moved = pipeline.evaluate_systems({"Fused": lists}, shifted, TINY_CONFIG.k)
    assert moved["ILD@5[visual]"].iloc[0] == pytest.approx(base["ILD@5[visual]"].iloc[0])


def test_diversity_space_cosine_is_the_mean_cosine_of_the_modalities():
    rng = np.random.default_rng(1)
    text, image = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    space = pipeline.diversity_space({"text": text, "image": image})
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    centred = image - image.mean(axis=0)  # the image block is centred first
    np.testing.assert_allclose(
        space @ space.T, (unit(text) @ unit(text).T + unit(centred) @ unit(centred).T) / 2
    )


def test_diversity_space_rejects_zero_rows_and_mismatched_items():
    with pytest.raises(ValueError, match="all zero"):
        pipeline.diversity_space({"text": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="disagree on the number of items"):
        pipeline.diversity_space({"text": np.ones((2, 3)), "image": np.eye(3)})


def test_fused_scores_are_the_weighted_sum_of_min_max_normalised_sources(tiny_result):
    components, weights = tiny_result.components, {"cf": 0.5, "text": 0.3, "image": 0.2}
    expected = 0.0
    for name, weight in weights.items():
        scores = components.source_scores(name)
        low = np.where(components.seen, np.inf, scores).min(axis=1, keepdims=True)
        high = scores.max(axis=1, keepdims=True)
        expected = expected + weight * (scores - low) / np.where(high > low, high - low, 1.0)
    fused = components.fused_scores(weights)
    assert np.isneginf(fused[components.seen]).all()
    np.testing.assert_allclose(fused[~components.seen], expected[~components.seen], rtol=1e-5)


# ---------------------------------------------------------------------------------- the pipeline


def test_every_system_returns_valid_lists_without_history_items(tiny_result):
    components = tiny_result.components
    assert list(tiny_result.lists) == [
        "Popularity",
        "BPR-MF",
        "Text content",
        "Fused",
        "Cascade + MMR",
        "Cascade + DPP",
    ]
    for name, lists in tiny_result.lists.items():
        assert lists.shape == (len(components.users), TINY_CONFIG.k), name
        pipeline.check_lists(lists, components, TINY_CONFIG.k)  # raises on repeats or history items


def test_final_table_has_one_row_per_system_and_sane_values(tiny_result):
    table = tiny_result.table
    assert list(table.index) == list(tiny_result.lists)
    assert list(table.columns) == [
        "Recall@5",
        "NDCG@5",
        "ILD@5[content]",
        "ILD@5[visual]",
        "Coverage@5",
        "Novelty@5",
        "Gini@5",
    ]
    assert table.notna().all().all()
    assert (table[["Recall@5", "NDCG@5", "Coverage@5", "Gini@5"]] >= 0).all().all() and (
        table[["Recall@5", "NDCG@5", "Coverage@5", "Gini@5"]] <= 1
    ).all().all()
    # popularity gives everybody (nearly) the same list: the lowest coverage of all systems
    assert table.loc["Popularity", "Coverage@5"] == table["Coverage@5"].min()


def test_same_seed_gives_the_identical_table(tiny_shop, tiny_embeddings, tiny_result):
    again = TinyRun(tiny_shop, tiny_embeddings)
    pd.testing.assert_frame_equal(again.table, tiny_result.table, check_exact=True)
    for name, lists in tiny_result.lists.items():
        np.testing.assert_array_equal(again.lists[name], lists)


def test_cascade_stages_narrow_the_candidates_and_are_timed(tiny_result):
    result = pipeline.run_cascade(tiny_result.components, TINY_CONFIG, "mmr")
    assert [items.shape[1] for items in result.stage_items.values()] == [40, 15, 5]
    recalled, ranked, final = result.stage_items.values()
    assert all(set(f) <= set(r) <= set(c) for c, r, f in zip(recalled, ranked, final, strict=True))
    assert all(seconds >= 0 for seconds in result.seconds.values())


def test_no_diversity_keeps_the_ranking_stage_order(tiny_result):
    config = PipelineConfig(**{**TINY_CONFIG.__dict__, "diversity": 0.0})
    for reranker in ("mmr", "dpp"):
        result = pipeline.run_cascade(tiny_result.components, config, reranker)
        ranked = result.stage_items["rank: fused score"]
        np.testing.assert_array_equal(result.lists, ranked[:, : config.k])


def test_rerank_sweep_gives_the_lists_of_separate_cascade_runs(tiny_result):
    swept = pipeline.rerank_sweep(tiny_result.components, TINY_CONFIG, [0.0, 0.4, 1.0])
    assert sorted(swept) == [(r, d) for r in ("dpp", "mmr") for d in (0.0, 0.4, 1.0)]
    for (reranker, diversity), lists in swept.items():
        setting = PipelineConfig(**{**TINY_CONFIG.__dict__, "diversity": diversity})
        separate = pipeline.run_cascade(tiny_result.components, setting, reranker).lists
        np.testing.assert_array_equal(lists, separate)
    assert not np.array_equal(swept["dpp", 0.0], swept["dpp", 1.0])  # the dial changes the lists


def test_rerank_sweep_rejects_a_dial_outside_zero_one(tiny_result):
    with pytest.raises(ValueError, match="diversity must be in"):
        pipeline.rerank_sweep(tiny_result.components, TINY_CONFIG, [0.0, 1.5])


def test_default_pipeline_caps_its_shortlists_on_a_small_catalog():
    data = pipeline.load_pipeline_data("ml100k", max_items=300, max_users=20)
    embeddings = {"text": np.random.default_rng(0).normal(size=(data.n_items, 8))}
    components = pipeline.fit_components(data, embeddings, PipelineConfig(cf_epochs=1), progress=False)
    assert 50 < components.max_candidates < 200
    lists = pipeline.default_pipeline(components, k=10)
    capped = PipelineConfig(n_recall=components.max_candidates, n_rank=50)
    np.testing.assert_array_equal(lists, pipeline.run_cascade(components, capped, "dpp").lists)


def test_costs_record_every_component_with_time_and_memory(tiny_result):
    costs = tiny_result.costs.frame()
    assert {
        "BPR-MF fit",
        "ItemKNN fit",
        "text content profiles",
        "image content profiles",
        "Fused: score + top-5",
        "Cascade + DPP (all stages)",
    } <= set(costs.index)
    assert (costs["seconds"] >= 0).all()
    measured = costs["peak_traced_MiB"].dropna()
    assert len(measured) >= 8 and (measured >= 0).all()


def test_validation_components_can_skip_the_baselines(tiny_shop, tiny_embeddings):
    components = pipeline.fit_components(
        tiny_shop, tiny_embeddings, TINY_CONFIG, progress=False, baselines=False
    )
    assert set(components.models) == {"item-kNN", "text", "image"}
    lists = pipeline.run_cascade(components, TINY_CONFIG, "mmr").lists
    assert lists.shape == (len(components.users), TINY_CONFIG.k)


def test_cost_log_keeps_details_filled_in_by_the_block():
    costs = CostLog()
    with costs.measure("allocate") as details:
        block = np.ones(2**20)  # 8 MiB
        details["cached"] = False
    row = costs.frame().loc["allocate"]
    assert row["cached"] is False or row["cached"] == False  # noqa: E712
    assert row["peak_traced_MiB"] >= 7.9 and block.sum() == 2**20
    assert row["cpu_seconds"] >= 0


def test_cost_log_totals_add_repeated_blocks_without_memory_columns():
    costs = CostLog()
    for _ in range(3):
        with costs.measure("loop", memory=False):
            sum(range(10_000))
    costs.add("stage", 0.5)
    totals = costs.totals()
    assert list(totals.index) == ["loop", "stage"]
    assert totals.loc["loop", "seconds"] == pytest.approx(costs.frame().loc["loop", "seconds"].sum())
    assert totals.loc["stage", "seconds"] == 0.5
    assert "peak_traced_MiB" not in costs.frame().columns
    with pytest.raises(ValueError, match="nothing measured yet"):
        CostLog().frame()


def test_explanation_is_an_exact_decomposition_of_the_fused_score(tiny_result):
    components, weights = tiny_result.components, {"cf": 0.5, "text": 0.3, "image": 0.2}
    fused = components.fused_scores(weights)
    for row in range(3):
        item = int(tiny_result.lists["Fused"][row, 0])
        explanation = pipeline.explain_recommendation(components, row, item, weights)
        share, drivers = explanation.modality_share, explanation.drivers
        assert share.sum() == pytest.approx(1.0) and (share >= 0).all()
        assert len(drivers) == components.seen[row].sum()  # every history item, best first
        assert drivers["total"].is_monotonic_decreasing
        # contributions of the history items plus the per-user offset rebuild the fused score
        assert explanation.reconstructed_score == pytest.approx(fused[row, item], rel=1e-5)
        # and the offset is -sum_m w_m min_m / span_m
        offset = 0.0
        for name, weight in weights.items():
            unseen = components.source_scores(name)[row][~components.seen[row]].astype(np.float64)
            offset -= weight * unseen.min() / (unseen.max() - unseen.min())
        assert explanation.offset == pytest.approx(offset)


def test_explanation_refuses_history_items(tiny_result):
    components = tiny_result.components
    seen_item = int(np.flatnonzero(components.seen[0])[0])
    with pytest.raises(ValueError, match="in the user's history"):
        pipeline.explain_recommendation(components, 0, seen_item, {"cf": 1.0})


def test_unsupported_mentions_finds_made_up_attributes_only():
    vocabulary = {"Sneaker", "Shirt", "T-shirt/top", "beige", "red", "Harbour Lane", "formal"}
    text = "You liked beige Sneakers from harbour lane, so try this red T-shirt/top; it is bored-proof."
    assert llm_stage.unsupported_mentions(text, {"beige", "Sneaker", "Harbour Lane"}, vocabulary) == {
        "red",
        "T-shirt/top",
    }  # "Shirt" inside "T-shirt/top" and "red" inside "bored" are not mentions
    assert llm_stage.unsupported_mentions(text, set(), vocabulary) == {
        "Sneaker",
        "beige",
        "red",
        "Harbour Lane",
        "T-shirt/top",
    }
    assert llm_stage.unsupported_mentions("A great choice for you.", set(), vocabulary) == set()


def test_prompts_describe_items_by_their_attributes(tiny_result):
    components = tiny_result.components
    history = llm_stage.prompt_history(components, 0, 3)
    assert len(history) == 3 and components.seen[0, history].all()
    prompt = llm_stage.relevance_prompt(components.data, history, 7)
    assert llm_stage.item_description(components.data, 7) in prompt and prompt.endswith("Answer Yes or No.")
    row = components.data.item_attributes.iloc[7]
    assert llm_stage.item_description(components.data, 7) == ", ".join(row)


# ---------------------------------------------------------------------------------- encoders and cache


class CountingEncoder:
    """A stand-in encoder: 2-d vectors from the text length; counts how many inputs it encoded."""

    model_id = "test:counting"

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, inputs, *, progress: bool = False) -> np.ndarray:
        self.encoded += len(inputs)
        return np.array([[len(text), 1.0] for text in inputs], dtype=np.float32)


def test_encode_items_reuses_a_cached_full_catalog_and_encodes_only_kept_items_otherwise(tmp_path):
    catalog = PipelineData(
        "tiny",
        sp.csr_array((2, 3)),
        sp.csr_array((2, 3)),
        np.array([0, 2]),
        np.arange(2),
        ("a", "bb", "ccc"),
        None,
        np.array(["x", "x", "y"]),
    )
    encoder = CountingEncoder()
    vectors = pipeline.encode_items(catalog, text_encoder=encoder, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(vectors["text"], [[1, 1], [3, 1]])
    assert encoder.encoded == 2  # empty cache: only the kept items are encoded
    pipeline.encode_items(
        PipelineData(
            "full",
            sp.csr_array((2, 3)),
            sp.csr_array((2, 3)),
            np.arange(3),
            np.arange(2),
            catalog.catalog_texts,
            None,
            catalog.item_labels,
        ),
        text_encoder=encoder,
        cache_dir=tmp_path,
        progress=False,
    )
    assert encoder.encoded == 5
    costs = CostLog()
    again = pipeline.encode_items(
        catalog, text_encoder=encoder, cache_dir=tmp_path, costs=costs, progress=False
    )
    assert encoder.encoded == 5  # read from the full-catalog entry and sliced
    np.testing.assert_array_equal(again["text"], vectors["text"])
    assert bool(costs.frame().loc["text encoder", "cached"]) is True


def test_cold_versus_cached_runs_the_model_once():
    encoder = CountingEncoder()
    table = cold_versus_cached(encoder, ["a", "bb", "ccc"])
    assert list(table.index) == ["cold", "cached"] and encoder.encoded == 3
    assert (table["seconds"] > 0).all()


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cf_model": "svd"}, "unknown cf_model 'svd'"),
        ({"weights": {"audio": 1.0}}, "unknown fusion weight"),
        ({"weights": {"cf": -1.0}}, "non-negative"),
        ({"k": 20, "n_rank": 10}, "k <= n_rank <= n_recall"),
        ({"n_rank": 300, "n_recall": 200}, "k <= n_rank <= n_recall"),
        ({"diversity": 1.5}, r"diversity must be in \[0, 1\]"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(changes, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**changes)


def test_embeddings_with_the_wrong_number_of_rows_are_refused(tiny_shop):
    with pytest.raises(ValueError, match="text embeddings have 3 rows"):
        pipeline.fit_components(tiny_shop, {"text": np.ones((3, 4)), "image": np.ones((150, 4))}, TINY_CONFIG)
    with pytest.raises(ValueError, match=r"needs embeddings for \['image'\]"):
        pipeline.fit_components(tiny_shop, {"text": np.ones((150, 4))}, TINY_CONFIG)


def test_recall_larger_than_the_unseen_items_is_refused(tiny_result):
    with pytest.raises(ValueError, match="n_recall=150 is more than the"):
        pipeline.run_cascade(tiny_result.components, PipelineConfig(n_recall=150, n_rank=50), "dpp")


def test_unknown_reranker_is_refused(tiny_result):
    with pytest.raises(ValueError, match="unknown reranker 'random'"):
        pipeline.build_cascade(tiny_result.components, TINY_CONFIG, "random")


def test_check_lists_flags_wrong_shapes_and_history_items(tiny_result):
    components = tiny_result.components
    lists = tiny_result.lists["Fused"].copy()
    with pytest.raises(ValueError, match="must have shape"):
        pipeline.check_lists(lists[:, :3], components, TINY_CONFIG.k)
    lists[0, 0] = np.flatnonzero(components.seen[0])[0]
    with pytest.raises(ValueError, match="from the user's history"):
        pipeline.check_lists(lists, components, TINY_CONFIG.k)


def test_hand_made_data_has_every_user_evaluated():
    data = _hand_made_data()
    np.testing.assert_array_equal(data.evaluation_users(), [0, 1, 2])
    assert data.modalities == ("cf", "text")
