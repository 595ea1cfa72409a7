"""Exercises of notebook 03 (self-attention): scaled dot-product attention and the causal mask."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_utils.exercises import Exercise, LearnerCodeFailed, Mistake, assert_close
from course_utils.models import attention


def _qkv(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 4, 6, generator=generator, dtype=torch.float64) for _ in range(3))


def _attend(q, k, v, scale):
    return torch.softmax(q @ k.transpose(-2, -1) / scale, dim=-1) @ v


def _test_scaled_dot_product_attention(candidate) -> None:
    q, k, v = _qkv(0)
    result = candidate(q, k, v)
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError("return a pair (output, weights).")
    output, weights = result
    if tuple(weights.shape) != (2, 4, 4):
        raise AssertionError(
            f"weights should have shape (batch, L_q, L_k) = (2, 4, 4), got {tuple(weights.shape)}."
        )
    if not torch.allclose(weights.sum(-1).double(), torch.ones(2, 4, dtype=torch.float64)):
        raise AssertionError(
            "each row of the weights should sum to 1: take the softmax over the keys (dim=-1)."
        )
    output = output.double()
    if torch.allclose(output, _attend(q, k, v, 1.0)):
        raise AssertionError("divide the scores by sqrt(d_k) before the softmax.")
    if torch.allclose(output, _attend(q, k, v, 6.0)):
        raise AssertionError("divide the scores by sqrt(d_k), not by d_k.")
    assert_close(
        output, F.scaled_dot_product_attention(q, k, v), "the output (compared with PyTorch's)", atol=1e-6
    )
    mask = torch.tensor([[True, False, False, False]] * 4)
    masked_output, masked_weights = candidate(q, k, v, mask)
    if masked_weights[..., 0].abs().max() == 0:
        raise AssertionError(
            "the mask is inverted: True means 'may attend', so fill the scores where the mask is "
            "False (~mask)."
        )
    if masked_weights[..., 1:].abs().max() > 0:
        raise AssertionError(
            "masked keys (mask False) must get weight exactly 0: fill their scores with -inf."
        )
    if not torch.allclose(masked_weights.sum(-1).double(), torch.ones(2, 4, dtype=torch.float64)):
        raise AssertionError(
            "with a mask the weights no longer sum to 1: mask the *scores* before the softmax, not "
            "the weights "
            "after it."
        )
    assert_close(
        masked_output,
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        "the output with a mask (compared with PyTorch's)",
        atol=1e-6,
    )
    try:  # the notebook also calls it on (L, d) inputs without a batch dimension
        single, _ = candidate(q[0], k[0], v[0])
    except LearnerCodeFailed as failure:
        raise AssertionError(
            "the notebook also calls it on 2-D inputs (L, d) without a batch: transpose the last two "
            f"dimensions of k (k.transpose(-2, -1)), whatever comes before them. {failure.as_sentence}"
        ) from None
    assert_close(
        single, F.scaled_dot_product_attention(q[0], k[0], v[0]), "the output for 2-D inputs", atol=1e-6
    )


def _unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _scaled_by_d(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _softmax_over_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights


def _masked_with_zero(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, 0.0)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _inverted_mask(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _masked_after_softmax(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights


def _batch_only_transpose(q, k, v, mask=None):
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _with_einsum(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(-1e9, dtype=scores.dtype))
    weights = scores.softmax(dim=-1)
    return torch.einsum("...qk,...kd->...qd", weights, v), weights


def _with_explicit_softmax(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(k.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    exp = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return weights @ v, weights


scaled_dot_product_attention = Exercise(
    "Scaled dot-product attention",
    test=_test_scaled_dot_product_attention,
    hints=(
        "Score every query against every key, turn each query's scores into weights that sum to 1, and "
        "average the values with them. Scale the scores first so their spread does not grow with d_k; "
        "masked keys must end with weight exactly 0.",
        "scores = Q K^T / sqrt(d_k), shape (..., L_q, L_k) (transpose the last two dimensions of K); "
        "where the mask is False set the score to -inf (masked_fill with ~mask); softmax over the keys "
        "(the last dimension); return (weights @ V, weights).",
    ),
    reference=attention.scaled_dot_product_attention,
    mistakes=[
        Mistake("no scaling", _unscaled, "divide the scores by sqrt(d_k) before"),
        Mistake("divided by d_k", _scaled_by_d, "not by d_k"),
        Mistake("softmax over the queries", _softmax_over_queries, "take the softmax over the keys"),
        Mistake("masked with 0 instead of -inf", _masked_with_zero, "fill their scores with -inf"),
        Mistake("inverted mask", _inverted_mask, "the mask is inverted"),
        Mistake(
            "mask applied after the softmax", _masked_after_softmax, "mask the *scores* before the softmax"
        ),
        Mistake("transpose(1, 2) fails on 2-D inputs", _batch_only_transpose, "2-D inputs (L, d)"),
        Mistake(
            "weights not returned", lambda q, k, v, mask=None: _with_einsum(q, k, v, mask)[0], "return a pair"
        ),
    ],
    alternatives=[_with_einsum, _with_explicit_softmax],
)


def _test_causal_mask(candidate) -> None:
    mask = candidate(4)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise AssertionError(
            "return a boolean tensor (True = may attend), got "
            f"{getattr(mask, 'dtype', type(mask).__name__)}: e.g. add dtype=torch.bool or .bool()."
        )
    if tuple(mask.shape) != (4, 4):
        raise AssertionError(f"the mask for length 4 should have shape (4, 4), got {tuple(mask.shape)}.")
    expected = attention.causal_mask(4)
    if torch.equal(mask, ~expected):
        raise AssertionError(
            "the mask is inverted: True should mark what a position MAY attend to (itself and the past)."
        )
    if torch.equal(mask, expected.T):
        raise AssertionError(
            "this lets position i see the future (j > i): keep the lower triangle, not the upper."
        )
    if torch.equal(mask, expected & ~torch.eye(4, dtype=torch.bool)):
        raise AssertionError("a position must be allowed to attend to itself: keep the diagonal.")
    if not torch.equal(mask, expected):
        raise AssertionError(f"expected the lower-triangular mask\n{expected.int()}\ngot\n{mask.int()}")
    if not torch.equal(candidate(1), torch.ones(1, 1, dtype=torch.bool)):
        raise AssertionError("a sequence of length 1 should give [[True]].")


causal_mask = Exercise(
    "The causal mask",
    test=_test_causal_mask,
    hints=(
        "Row i says which positions i may look at: itself and everything before it, never the future. "
        "Draw the 4 x 4 grid: which triangle is True?",
        "The lower triangle including the diagonal (torch.tril of a length x length matrix of ones), as "
        "a *boolean* tensor.",
    ),
    reference=attention.causal_mask,
    mistakes=[
        Mistake(
            "upper triangle",
            lambda length: torch.ones(length, length, dtype=torch.bool).triu(),
            "see the future",
        ),
        Mistake("inverted", lambda length: torch.ones(length, length, dtype=torch.bool).triu(1), "inverted"),
        Mistake(
            "diagonal left out",
            lambda length: torch.ones(length, length).tril(-1).bool(),
            "keep the diagonal",
        ),
        Mistake(
            "float mask", lambda length: torch.tril(torch.ones(length, length)), "return a boolean tensor"
        ),
    ],
    alternatives=[
        lambda length: torch.arange(length)[:, None] >= torch.arange(length)[None, :],
        lambda length: torch.tril(torch.ones(length, length)).bool(),
    ],
)
