"""Exercises of notebook 04 (text encoders): masked mean pooling and cosine nearest neighbours."""

from __future__ import annotations

import numpy as np
import torch

from course_utils.encoders import similarity, text
from course_utils.exercises import Exercise, assert_close


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
            f"return one vector per sentence: shape (2, 2) expected, got {tuple(result.shape)}."
        )
    if torch.allclose(result[0], torch.tensor([104 / 3, -94 / 3])):
        raise AssertionError("the padding token was averaged in: multiply by the mask before summing.")
    if torch.allclose(result[0], torch.tensor([4 / 3, 2.0])):
        raise AssertionError("you divided by the padded length (3): divide by the number of real tokens.")
    assert_close(result, [[2.0, 3.0], [3.0, 1.0]], "the pooled vectors")
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 6, 5, generator=generator)
    mask = (torch.arange(6) < torch.tensor([[6], [3], [1], [4]])).long()  # lengths 6, 3, 1, 4
    assert_close(candidate(hidden, mask), text.mean_pool(hidden, mask), "pooling a random batch")


mean_pool = Exercise(
    "Masked mean pooling",
    test=_test_mean_pool,
    hint="""Turn the mask into weights of shape (batch, tokens, 1) with .unsqueeze(-1).float();
    sum token_embeddings * weights over dim=1, and divide by weights.sum(dim=1) (at least 1e-9).""",
    reference=text.mean_pool,
)


def _test_nearest_neighbours(candidate) -> None:
    corpus = np.array([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0], [-1.0, 0.0]])  # item 1 is long: cosine, not dot
    queries = np.array([[1.0, 0.1], [-0.2, -2.0]])  # best: items (0, 1) and (3, 0)
    indices, similarities = candidate(queries, corpus, 2)
    indices, similarities = np.asarray(indices), np.asarray(similarities, dtype=float)
    if indices.shape != (2, 2) or similarities.shape != (2, 2):
        raise AssertionError(
            f"return (indices, similarities), each of shape (n_queries, k) = (2, 2); "
            f"got {indices.shape} and {similarities.shape}."
        )
    if indices[0, 0] == 1:
        raise AssertionError("rank by cosine similarity, not the raw dot product: normalise both sides.")
    if indices[0, 0] == 3:
        raise AssertionError("the most similar item comes first: sort by decreasing similarity.")
    expected_indices, expected_similarities = similarity.nearest_neighbours(queries, corpus, 2)
    if not np.array_equal(indices, expected_indices):
        raise AssertionError(f"neighbour indices {indices.tolist()}, expected {expected_indices.tolist()}.")
    assert_close(similarities, expected_similarities, "the cosine similarities of the neighbours")
    self_indices, _ = candidate(corpus, corpus, 1, exclude_self=True)
    if np.any(np.asarray(self_indices)[:, 0] == np.arange(len(corpus))):
        raise AssertionError("with exclude_self=True an item must not be its own neighbour.")


nearest_neighbours = Exercise(
    "Nearest neighbours by cosine similarity",
    test=_test_nearest_neighbours,
    hint="""Divide each row by its norm (np.linalg.norm(x, axis=1, keepdims=True)); the similarity
    matrix is then queries @ corpus.T. For exclude_self, set its diagonal to -np.inf
    (np.fill_diagonal). np.argsort(-similarities, axis=1)[:, :k] gives the best k, and
    np.take_along_axis(similarities, indices, axis=1) their scores.""",
    reference=similarity.nearest_neighbours,
)
