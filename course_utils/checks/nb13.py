"""Exercise of notebook 13 (capstone): build your own pipeline and place it on the frontier."""

from __future__ import annotations

from functools import cache

import numpy as np
import scipy.sparse as sp

from course_utils import pipeline
from course_utils.exercises import Exercise, Mistake
from course_utils.ranking import top_k_items


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
                f"{lists.shape}. The evaluated users are components.users, in that order; use the k "
                "you are given."
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


def _fused_top_k(components, k):
    scores = components.fused_scores({"cf": 0.5, "text": 0.5})  # -inf on history items
    return top_k_items(scores, k, sp.csr_array(components.seen))


def _mmr_pipeline(components, k):
    n_recall = min(150, components.max_candidates)
    config = pipeline.PipelineConfig(k=k, n_recall=n_recall, n_rank=min(40, n_recall), diversity=0.4)
    return pipeline.run_cascade(components, config, "mmr").lists


def _shuffled_each_call(components, k):
    lists = _fused_top_k(components, k)
    return np.random.default_rng().permuted(lists, axis=1)


my_pipeline = Exercise(
    "Build your own pipeline",
    test=_test_my_pipeline,
    hints=(
        "Any function of (components, k) that returns k new items per evaluated user is a pipeline. Start "
        "from the documented default and change one dial at a time: the fusion weights, the shortlist sizes, "
        "the re-ranker and its diversity.",
        "Make a PipelineConfig with your choices (k, weights, n_recall and n_rank no larger than "
        "components.max_candidates, diversity) and hand it with the components to pipeline.run_cascade, "
        "choosing 'dpp' or 'mmr'; its .lists is the answer. Or fuse scores yourself with "
        "components.fused_scores(weights) and "
        "take the top k with history items excluded (components.seen).",
    ),
    reference=pipeline.default_pipeline,
    mistakes=[
        Mistake(
            "a Python list",
            lambda components, k: _fused_top_k(components, k).tolist(),
            "return a numpy array",
        ),
        Mistake("k ignored", lambda components, k: _fused_top_k(components, 10), "use the k you are given"),
        Mistake(
            "history items recommended",
            lambda components, k: top_k_items(components.knn_scores, k),
            "Exclude history items",
        ),
        Mistake("random order each call", _shuffled_each_call, "must be deterministic"),
    ],
    alternatives=[_mmr_pipeline, _fused_top_k],
)
