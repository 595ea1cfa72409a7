"""Exercises of notebook 04 (text encoders): masked mean pooling and cosine nearest neighbours."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import cdist

from course_utils.encoders import similarity, text
from course_utils.exercises import Exercise, Mistake, assert_close


def _test_mean_pool(candidate) -> None:
    # One sentence of 2 real tokens + 1 padding token, one of 3 real tokens; hidden size 2.
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]], [[1.0, 1.0], [2.0, 2.0], [6.0, 0.0]]]
    )  # (2 sentences, 3 tokens, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    result = candidate(hidden, mask)
    if not isinstance(result, torch.Tensor):
        raise AssertionError(f"return a torch.Tensor, got {type(result).__name__}.")
    if tuple(result.shape) != (2, 2):
        raise AssertionError(
            f"return one vector per sentence, averaging over the tokens (dim=1): shape (2, 2) expected, "
            f"got {tuple(result.shape)}."
        )
    first = result[0].detach().double()
    if torch.allclose(first, torch.tensor([104 / 3, -94 / 3], dtype=torch.float64)):
        raise AssertionError("the padding token was averaged in: multiply by the mask before summing.")
    if torch.allclose(first, torch.tensor([4 / 3, 2.0], dtype=torch.float64)):
        raise AssertionError("you divided by the padded length (3): divide by the number of real tokens.")
    if torch.allclose(first, torch.tensor([4.0, 6.0], dtype=torch.float64)):
        raise AssertionError("you summed the real tokens: divide by their number to get the mean.")
    assert_close(result, [[2.0, 3.0], [3.0, 1.0]], "the pooled vectors")
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 6, 5, generator=generator)
    mask = (torch.arange(6) < torch.tensor([[6], [3], [1], [4]])).long()  # lengths 6, 3, 1, 4
    assert_close(candidate(hidden, mask), text.mean_pool(hidden, mask), "pooling a random batch")


def _with_einsum(token_embeddings, attention_mask):
    mask = attention_mask.float()
    return torch.einsum("bth,bt->bh", token_embeddings, mask) / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)


def _sentence_by_sentence(token_embeddings, attention_mask):
    rows = [
        states[mask.bool()].mean(dim=0) for states, mask in zip(token_embeddings, attention_mask, strict=True)
    ]
    return torch.stack(rows)


mean_pool = Exercise(
    "Masked mean pooling",
    test=_test_mean_pool,
    hints=(
        "A sentence's vector is the average of its *real* token vectors: padding tokens must neither be "
        "added nor counted.",
        "Give the mask a last axis of size 1 so it multiplies (batch, tokens, hidden); sum the masked "
        "vectors over the token axis (dim=1) and divide by the number of real tokens per sentence (the "
        "mask summed over dim=1, kept at least 1e-9).",
    ),
    reference=text.mean_pool,
    mistakes=[
        Mistake("padding averaged in", lambda h, m: h.mean(dim=1), "the padding token was averaged in"),
        Mistake(
            "divided by the padded length",
            lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1) / h.shape[1],
            "divided by the padded length",
        ),
        Mistake(
            "mean over the hidden axis",
            lambda h, m: (h * m.unsqueeze(-1)).mean(dim=2),
            "averaging over the tokens",
        ),
        Mistake("sum, not mean", lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1), "you summed the real tokens"),
    ],
    alternatives=[_with_einsum, _sentence_by_sentence],
)


def _test_nearest_neighbours(candidate) -> None:
    corpus = np.array([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0], [-1.0, 0.0]])  # item 1 is long: cosine, not dot
    queries = np.array([[1.0, 0.1], [-0.2, -2.0]])  # best: items (0, 1) and (3, 0)
    result = candidate(queries, corpus, 2)
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError("return a pair (indices, similarities).")
    indices, similarities = np.asarray(result[0]), np.asarray(result[1])
    if indices.shape != (2, 2) or similarities.shape != (2, 2):
        raise AssertionError(
            f"return (indices, similarities), each of shape (n_queries, k) = (2, 2); "
            f"got {indices.shape} and {similarities.shape}."
        )
    if not np.issubdtype(indices.dtype, np.integer):
        raise AssertionError("the first array should be the integer indices, the second the similarities.")
    if indices[0, 0] == 1:
        raise AssertionError("rank by cosine similarity, not the raw dot product: normalise both sides.")
    if indices[0, 0] == 3:
        raise AssertionError("the most similar item comes first: sort by decreasing similarity.")
    expected_indices, expected_similarities = similarity.nearest_neighbours(queries, corpus, 2)
    if not np.array_equal(indices, expected_indices):
        raise AssertionError(f"neighbour indices {indices.tolist()}, expected {expected_indices.tolist()}.")
    corpus_only = queries @ (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).T
    if np.allclose(similarities, np.take_along_axis(corpus_only, indices, axis=1)):
        raise AssertionError(
            "the similarities are not cosines: normalise the queries too, not only the corpus."
        )
    assert_close(similarities, expected_similarities, "the cosine similarities of the neighbours")
    self_indices, _ = candidate(corpus, corpus, 1, exclude_self=True)
    if np.any(np.asarray(self_indices)[:, 0] == np.arange(len(corpus))):
        raise AssertionError("with exclude_self=True an item must not be its own neighbour.")


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _neighbours(
    queries, corpus, k, exclude_self=False, left=_unit, right=_unit, descending=True, self_rule=True
):
    scores = left(queries) @ right(corpus).T
    if exclude_self and self_rule:
        np.fill_diagonal(scores, -np.inf)
    order = np.argsort(-scores if descending else scores, axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def _with_cdist(queries, corpus, k, exclude_self=False):
    scores = 1 - cdist(queries, corpus, "cosine")
    if exclude_self:
        scores[np.arange(len(scores)), np.arange(len(scores))] = -np.inf
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(best, np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1), axis=1)
    return order, np.take_along_axis(scores, order, axis=1)


def _query_by_query(queries, corpus, k, exclude_self=False):
    indices, scores = [], []
    for row, query in enumerate(queries):
        cosines = [query @ item / np.linalg.norm(query) / np.linalg.norm(item) for item in corpus]
        ranked = [
            i
            for i in sorted(range(len(corpus)), key=lambda i: -cosines[i])
            if not (exclude_self and i == row)
        ]
        indices.append(ranked[:k])
        scores.append([cosines[i] for i in ranked[:k]])
    return np.array(indices), np.array(scores)


nearest_neighbours = Exercise(
    "Nearest neighbours by cosine similarity",
    test=_test_nearest_neighbours,
    hints=(
        "Cosine similarity is the dot product of unit-length vectors. Compute it for every (query, corpus "
        "item) pair at once, then sort each query's row.",
        "Normalise the rows of both matrices, take queries @ corpus.T; for exclude_self put -inf on the "
        "diagonal; sort each row by decreasing score (argsort of the negated scores), keep the first k "
        "positions, and read their scores with take_along_axis.",
    ),
    reference=similarity.nearest_neighbours,
    mistakes=[
        Mistake(
            "raw dot product",
            lambda q, c, k, exclude_self=False: _neighbours(q, c, k, left=np.asarray, right=np.asarray),
            "not the raw dot product",
        ),
        Mistake(
            "ascending sort",
            lambda q, c, k, exclude_self=False: _neighbours(q, c, k, descending=False),
            "sort by decreasing",
        ),
        Mistake(
            "queries not normalised",
            lambda q, c, k, exclude_self=False: _neighbours(q, c, k, exclude_self, left=np.asarray),
            "normalise the queries too",
        ),
        Mistake(
            "exclude_self ignored",
            lambda q, c, k, exclude_self=False: _neighbours(q, c, k, exclude_self, self_rule=False),
            "must not be its own neighbour",
        ),
        Mistake(
            "similarities and indices swapped",
            lambda q, c, k, exclude_self=False: _neighbours(q, c, k, exclude_self)[::-1],
            "the first array should be the integer indices",
        ),
    ],
    alternatives=[_with_cdist, _query_by_query],
)
