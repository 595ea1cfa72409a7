"""A small language model as the last stage of the capstone cascade, and a check on what it says.

Two uses of SmolLM2-135M-Instruct (``course_utils.models.language_model``) in notebook 13:

* **re-ranking** (:func:`llm_rerank`): for each (user, candidate) pair ask "would this customer
  like ...? Answer Yes or No" and sort the candidates by ``log p(Yes) - log p(No)`` -- the
  pointwise re-ranker of Nogueira et al. (2020); one forward pass per pair, so it can afford
  only a short shortlist per user (the last stage of a cascade, Covington et al. 2016);
* **explaining** (:func:`explanation_prompt`): a one-sentence, generated reason for a
  recommendation, checked for faithfulness by :func:`unsupported_mentions` -- does it mention
  an attribute that neither the shown history items nor the recommended item has?

Prompts describe items by their attribute values (``PipelineData.item_attributes``), which
keeps them short (the model's cost grows with the prompt) and gives the faithfulness check a
closed vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from course_utils.pipeline import Components, PipelineData
from course_utils.ranking import Shortlist


def item_description(data: PipelineData, item: int) -> str:
    """A short description of kept item ``item`` from its attribute values: ``"Sneaker, beige, ..."``."""
    if data.item_attributes is None:
        raise ValueError(f"{data.name} has no item_attributes: load it with load_pipeline_data")
    return ", ".join(data.item_attributes.iloc[item].tolist())


def prompt_history(components: Components, row: int, n_history: int) -> np.ndarray:
    """The history items a prompt shows for evaluated user ``row``: the ``n_history`` with the highest
    text-content score (those most typical of the user's taste), best first."""
    history = np.flatnonzero(components.seen[row])
    typical = components.models["text"].score(components.users[[row]])[0, history]
    return history[np.argsort(-typical, kind="stable")[:n_history]]


def relevance_prompt(data: PipelineData, history: Sequence[int], candidate: int) -> str:
    """The yes/no question of the language-model re-ranker for one (user, candidate) pair."""
    liked = "\n".join(f"- {item_description(data, h)}" for h in history)
    return (
        f"A customer liked these items:\n{liked}\n"
        f"Would this customer like: {item_description(data, candidate)}?\nAnswer Yes or No."
    )


def llm_rerank(
    model, components: Components, rows: np.ndarray, shortlist: Shortlist, k: int, n_history: int = 5
) -> Shortlist:
    """Re-rank each row's shortlist by a language model's ``log p(Yes) - log p(No)`` (Nogueira et al. 2020).

    ``model`` is a ``models.language_model.LanguageModel``; ``rows`` ``(n,)`` evaluated-user rows;
    ``shortlist`` their ``(n, M)`` candidates (e.g. the fused ranking stage's output). One prompt
    per (user, candidate) pair (:func:`relevance_prompt`, the user's ``n_history`` most typical
    history items), i.e. ``n * M`` forward passes: the cost that confines such a model to the last
    stage of a cascade. Returns the ``k`` candidates with the highest log-odds, with their log-odds.
    """
    from course_utils.models.language_model import yes_no_log_odds

    rows = np.asarray(rows)
    if shortlist.items.shape[0] != rows.size or not 1 <= k <= shortlist.items.shape[1]:
        raise ValueError(
            f"need one shortlist row per user row ({rows.size}) and 1 <= k <= {shortlist.items.shape[1]}, "
            f"got {shortlist.items.shape[0]} rows and k={k}"
        )
    items, scores = [], []
    for row, candidates in zip(rows, shortlist.items, strict=True):
        history = prompt_history(components, int(row), n_history)
        log_odds = yes_no_log_odds(model, [relevance_prompt(components.data, history, c) for c in candidates])
        order = np.argsort(-log_odds, kind="stable")[:k]  # ties keep the shortlist's order
        items.append(candidates[order])
        scores.append(log_odds[order])
    return Shortlist(np.array(items, dtype=np.int64), np.array(scores))


def explanation_prompt(data: PipelineData, history: Sequence[int], item: int) -> str:
    """Ask the language model to justify one recommendation from the shown history."""
    liked = "\n".join(f"- {item_description(data, h)}" for h in history)
    return (
        f"A customer liked these items:\n{liked}\n"
        f"We recommend: {item_description(data, item)}.\n"
        "In one sentence, explain to the customer why, using only the items above."
    )


def unsupported_mentions(text: str, allowed: set[str], vocabulary: set[str]) -> set[str]:
    """The attribute values of ``vocabulary`` that ``text`` mentions but ``allowed`` does not contain.

    A mention is a whole-word, case-insensitive match of a vocabulary term (multi-word terms such
    as ``"Harbour Lane"`` included), optionally followed by a plural ``s``/``es``; ``-`` counts as
    part of a word (``"shirt"`` is not mentioned by ``"T-shirt/top"``). An explanation is
    *faithful* when the result is empty: it mentions only attributes of the items it may talk
    about. With ``allowed=set()`` the result is every attribute the text mentions.
    """
    allowed_lower = {term.lower() for term in allowed}
    mentioned = {
        term
        for term in vocabulary
        if re.search(rf"(?<![\w-]){re.escape(term)}(?:e?s)?(?![\w-])", text, flags=re.IGNORECASE)
    }
    return {term for term in mentioned if term.lower() not in allowed_lower}
