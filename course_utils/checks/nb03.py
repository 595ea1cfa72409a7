"""Exercises of notebook 03 (self-attention): scaled dot-product attention and the causal mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils.exercises import Exercise, assert_close
from course_utils.models import attention


def _qkv(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 4, 6, generator=generator, dtype=torch.float64) for _ in range(3))


def _test_scaled_dot_product_attention(candidate) -> None:
    q, k, v = _qkv(0)
    result = candidate(q, k, v)
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError("return a pair (output, weights).")
    output, weights = result
    if weights.shape != (2, 4, 4):
        raise AssertionError(
            f"weights should have shape (batch, L_q, L_k) = (2, 4, 4), got {tuple(weights.shape)}."
        )
    if not torch.allclose(weights.sum(-1), torch.ones(2, 4, dtype=weights.dtype)):
        raise AssertionError(
            "each row of the weights should sum to 1: take the softmax over the keys (dim=-1)."
        )
    unscaled = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
    if torch.allclose(output, unscaled):
        raise AssertionError("divide the scores by sqrt(d_k) before the softmax.")
    assert_close(
        output, F.scaled_dot_product_attention(q, k, v), "the output (compared with PyTorch's)", atol=1e-6
    )
    mask = torch.tensor([[True, False, False, False]] * 4)
    masked_output, masked_weights = candidate(q, k, v, mask)
    if masked_weights[..., 1:].abs().max() > 0:
        raise AssertionError(
            "masked keys (mask False) must get weight exactly 0: fill their scores with -inf."
        )
    assert_close(
        masked_output,
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        "the output with a mask (compared with PyTorch's)",
        atol=1e-6,
    )


scaled_dot_product_attention = Exercise(
    "Scaled dot-product attention",
    test=_test_scaled_dot_product_attention,
    hint="""scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]); if a mask is given,
    scores = scores.masked_fill(~mask, float("-inf")); weights = torch.softmax(scores, dim=-1);
    return weights @ v, weights.""",
    reference=attention.scaled_dot_product_attention,
)


def _test_causal_mask(candidate) -> None:
    mask = candidate(4)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise AssertionError("return a boolean tensor (True = may attend).")
    if mask.shape != (4, 4):
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
    hint="Position i may attend to positions 0..i: torch.ones(length, length, dtype=torch.bool).tril().",
    reference=attention.causal_mask,
)
