"""Exercise of notebook 13 (capstone): build your own pipeline and place it on the frontier."""

from __future__ import annotations

from functools import cache

import numpy as np

from course_utils import pipeline
from course_utils.exercises import Exercise


@cache
def _tiny_components() -> pipeline.Components:
    """The shop's 800 most-clicked items and 30 users, with random stand-in embeddings (tiny: fast)."""
    data = pipeline.load_pipeline_data("shop", max_items=800, max_users=30, seed=0)
    rng = np.random.default_rng(0)
    embeddings = {"text": rng.normal(size=(data.n_items, 16)), "image": rng.normal(size=(data.n_items, 8))}
    return pipeline.fit_components(data, embeddings, pipeline.PipelineConfig(cf_epochs=1), progress=False)


def _test_my_pipeline(candidate) -> None:
    components = _tiny_components()
    n_users = len(components.users)
    for k in (10, 5):
        lists = candidate(components, k)
        if not isinstance(lists, np.ndarray):
            raise AssertionError(f"return a numpy array of item ids, got {type(lists).__name__}.")
        if lists.shape != (n_users, k):
            raise AssertionError(
                f"with k={k} return one list of k items per evaluated user: shape ({n_users}, {k}), got "
                f"{lists.shape}. The evaluated users are components.users, in that order."
            )
        try:
            pipeline.check_lists(lists, components, k)
        except ValueError as error:
            raise AssertionError(
                f"the lists are not valid: {error}. Exclude history items (components.seen) before taking "
                "the top k, e.g. with top_k_items(scores, k, sp.csr_array(components.seen))."
            ) from error
    if not np.array_equal(candidate(components, 10), candidate(components, 10)):
        raise AssertionError("two calls gave different lists: the pipeline must be deterministic.")


my_pipeline = Exercise(
    "Build your own pipeline",
    test=_test_my_pipeline,
    hint="""Start from a PipelineConfig: choose the fusion weights, n_recall / n_rank and a diversity, then
    return pipeline.run_cascade(components, config, "dpp" or "mmr").lists. Or compose it yourself:
    scores = components.fused_scores(weights) is -inf on history items, so
    top_k_items(scores, k, sp.csr_array(components.seen)) gives valid lists.""",
    reference=pipeline.default_pipeline,
)
