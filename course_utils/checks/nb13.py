"""Exercises of notebook 13 (capstone): your own pipeline on the frontier, and a faithfulness check."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import scipy.sparse as sp

from course_utils import llm_stage, metrics, pipeline
from course_utils.exercises import Exercise, Mistake
from course_utils.ranking import top_k_items

FRONTIER_MARGIN = 0.005  # a reference point must beat a pipeline by this much on both axes to dominate it
_REFERENCE_DIVERSITIES = (0.0, 0.3, 0.6, 0.9)


@cache
def _tiny_components() -> pipeline.Components:
    """The shop's 800 most-clicked items and 60 users, with random stand-in embeddings (tiny: fast)."""
    data = pipeline.load_pipeline_data("shop", max_items=800, max_users=60, seed=0)
    rng = np.random.default_rng(0)
    embeddings = {"text": rng.normal(size=(data.n_items, 16)), "image": rng.normal(size=(data.n_items, 8))}
    return pipeline.fit_components(data, embeddings, pipeline.PipelineConfig(cf_epochs=1), progress=False)


@cache
def _attribute_distance() -> metrics.CosineDistance:
    """Cosine distance on one-hot item attributes: a diversity axis the stand-in embeddings do not fake."""
    attributes = _tiny_components().data.item_attributes
    return metrics.CosineDistance(pd.get_dummies(attributes).to_numpy(dtype=np.float64))


def frontier_point(components: pipeline.Components, lists: np.ndarray, k: int) -> tuple[float, float]:
    """Mean NDCG@k on the test items and mean attribute ILD@k of ``lists``."""
    ndcg = float(np.nanmean(metrics.ndcg_at_k(lists, components.truth, k)))
    return ndcg, float(metrics.intra_list_diversity(lists, _attribute_distance()).mean())


@cache
def _reference_points(k: int) -> pd.DataFrame:
    """The documented systems as points: fused, item-kNN only, and both cascades over a diversity grid."""
    components = _tiny_components()
    exclude = sp.csr_array(components.seen)
    n_recall = min(pipeline.PipelineConfig.n_recall, components.max_candidates)
    rows = {
        "fused (0.5/0.25/0.25)": top_k_items(
            components.fused_scores({"cf": 0.5, "text": 0.25, "image": 0.25}), k, exclude
        ),
        "item-kNN only": top_k_items(components.fused_scores({"cf": 1.0}), k, exclude),
    }
    for reranker in pipeline.RERANKERS:
        for diversity in _REFERENCE_DIVERSITIES:
            config = pipeline.PipelineConfig(k=k, n_recall=n_recall, n_rank=50, diversity=diversity)
            rows[f"cascade + {reranker.upper()} at {diversity}"] = pipeline.run_cascade(
                components, config, reranker
            ).lists
    points = {name: frontier_point(components, lists, k) for name, lists in rows.items()}
    return pd.DataFrame.from_dict(points, orient="index", columns=["NDCG", "ILD"])


def dominating_points(ndcg: float, ild: float, k: int = 10) -> pd.DataFrame:
    """The reference points that beat ``(ndcg, ild)`` by :data:`FRONTIER_MARGIN` on both axes."""
    points = _reference_points(k)
    return points[(points["NDCG"] >= ndcg + FRONTIER_MARGIN) & (points["ILD"] >= ild + FRONTIER_MARGIN)]


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
    lists = candidate(components, 10)
    if not np.array_equal(lists, candidate(components, 10)):
        raise AssertionError("two calls gave different lists: the pipeline must be deterministic.")
    ndcg, ild = frontier_point(components, lists, 10)
    better = dominating_points(ndcg, ild)
    if len(better):
        name, best = next(better.sort_values("NDCG", ascending=False).iterrows())
        raise AssertionError(
            f"your pipeline is off the frontier: on the check's tiny shop it reaches NDCG@10 {ndcg:.4f} and "
            f"attribute ILD@10 {ild:.3f}, but {name} reaches {best['NDCG']:.4f} "
            f"and {best['ILD']:.3f}, better on both ({len(better)} documented system(s) dominate it). Keep "
            "the relevance order at the top of the list and let the re-ranker's diversity dial trade it off."
        )


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


def _second_page(components, k):
    scores = components.fused_scores({"cf": 0.5, "text": 0.25, "image": 0.25})
    return top_k_items(scores, 2 * k, sp.csr_array(components.seen))[:, k:]


def _best_item_last(components, k):
    scores = components.fused_scores({"cf": 0.5, "text": 0.25, "image": 0.25})
    return top_k_items(scores, k, sp.csr_array(components.seen))[:, ::-1]  # ascending order: best at the end


my_pipeline = Exercise(
    "Exercise 13.1 · Build your own pipeline",
    test=_test_my_pipeline,
    hints=(
        "Any function of (components, k) that returns k new items per evaluated user is a pipeline, but a "
        "good one sits on the frontier: no documented system may be more accurate and more diverse at once. "
        "Start from the documented default and change one dial at a time.",
        "Make a PipelineConfig with your choices (k, weights, n_recall and n_rank no larger than "
        "components.max_candidates, diversity) and hand it with the components to pipeline.run_cascade, "
        "choosing 'dpp' or 'mmr'; its .lists is the answer. Or fuse scores yourself with "
        "components.fused_scores(weights) and take the top k with history items excluded (components.seen).",
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
        Mistake("the second page of the fused ranking", _second_page, "off the frontier"),
        Mistake("best item last (ascending sort)", _best_item_last, "off the frontier"),
    ],
    alternatives=[_mmr_pipeline, _fused_top_k],
)


# ---------------------------------------------------------------------------------- Exercise 13.2

_VOCABULARY = frozenset(
    {"Sneaker", "Shirt", "T-shirt/top", "Ankle boot", "beige", "red", "navy", "Harbour Lane", "formal"}
)


def _test_unsupported_mentions(candidate) -> None:
    cases = [
        (
            "Red and navy, formal Ankle boots.",
            {"red", "navy", "formal", "Ankle boot"},
            set(),
            "every mention here is allowed: return only the unsupported ones",
        ),
        (
            "You liked beige Sneakers, so try this navy one.",
            {"beige", "Sneaker"},
            {"navy"},
            "a plural ('Sneakers') is a mention of 'Sneaker', and 'navy' is not among the allowed attributes",
        ),
        (
            "A formal pick from harbour lane.",
            {"formal"},
            {"Harbour Lane"},
            "matching ignores case, and multi-word terms ('Harbour Lane') count as one mention",
        ),
        (
            "Bored of shirts? This T-shirt/top is for you.",
            {"T-shirt/top"},
            {"Shirt"},
            "whole words only: 'red' inside 'Bored' is no mention, while 'shirts' is a mention of 'Shirt'",
        ),
        ("A great choice for you.", set(), set(), "an explanation that names no attribute mentions nothing"),
    ]
    for text, allowed, expected, why in cases:
        found = candidate(text, set(allowed), set(_VOCABULARY))
        if not isinstance(found, set):
            raise AssertionError(f"return a set of vocabulary terms, got {type(found).__name__}.")
        if found != expected:
            raise AssertionError(
                f"for the explanation {text!r} with allowed {sorted(allowed)} the unsupported mentions are "
                f"{sorted(expected)}, you returned {sorted(found)}: {why}."
            )


def _mentions_substring(text, allowed, vocabulary):
    return {term for term in vocabulary if term.lower() in text.lower() and term not in allowed}


def _mentions_case_sensitive(text, allowed, vocabulary):
    words = set(text.replace(",", " ").replace(".", " ").replace("?", " ").split())
    return {term for term in vocabulary if (term in words or term + "s" in words) and term not in allowed}


def _mentions_all(text, allowed, vocabulary):
    return llm_stage.unsupported_mentions(text, set(), vocabulary)


def _mentions_single_words(text, allowed, vocabulary):
    words = {word.strip(",.?!").lower().removesuffix("s") for word in text.split()}
    return {term for term in vocabulary if term.lower() in words and term not in allowed}


def _mentions_by_tokens(text, allowed, vocabulary):
    tokens = [token.strip(",.?!;:").lower() for token in text.split()]
    found = set()
    for term in vocabulary:
        parts = term.lower().split()
        for start in range(len(tokens) - len(parts) + 1):
            window = tokens[start : start + len(parts)]
            if window[:-1] == parts[:-1] and window[-1] in (parts[-1], parts[-1] + "s", parts[-1] + "es"):
                found.add(term)
    allowed_lower = {term.lower() for term in allowed}
    return {term for term in found if term.lower() not in allowed_lower}


def _mentions_loop(text, allowed, vocabulary):
    import re

    unsupported = set()
    for term in sorted(vocabulary):
        pattern = r"(?<![\w-])" + re.escape(term.lower()) + r"(s|es)?(?![\w-])"
        if re.search(pattern, text.lower()) and term.lower() not in {a.lower() for a in allowed}:
            unsupported.add(term)
    return unsupported


unsupported_mentions = Exercise(
    "Exercise 13.2 · Is the explanation faithful?",
    test=_test_unsupported_mentions,
    hints=(
        "An attribute is mentioned when it appears in the text as a whole word (or words), in any case, "
        "perhaps in the plural; the answer is the mentioned terms that the allowed set does not hold.",
        "For each vocabulary term build a regular expression: the escaped term, an optional plural ending, "
        "and look-arounds that forbid a letter, digit or hyphen on either side; search the text ignoring "
        "case. Compare with the allowed terms in lower case too.",
    ),
    reference=llm_stage.unsupported_mentions,
    mistakes=[
        Mistake("substring matching", _mentions_substring, "whole words only"),
        Mistake("case-sensitive words", _mentions_case_sensitive, "matching ignores case"),
        Mistake("every mention returned", _mentions_all, "return only the unsupported ones"),
        Mistake("single words only", _mentions_single_words, "multi-word terms"),
    ],
    alternatives=[_mentions_by_tokens, _mentions_loop],
)
