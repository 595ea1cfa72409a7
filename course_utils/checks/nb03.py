"""Exercises of notebook 03 (self-attention): scaled dot-product attention, the causal mask and
multi-head attention."""

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


def _multi_head(module, x, mask=None, split="heads", merge="heads", project=True, scale="head",
                use_mask=True, one_head=False):
    """Multi-head attention with ``module``'s projections, written right or with one catalogued slip."""
    batch, length, d_model = x.shape
    n_heads = 1 if one_head else module.n_heads
    head_dim = d_model // n_heads

    def heads(projected):  # (B, L, d) -> (B, h, L, d/h)
        if split == "heads":
            return projected.reshape(batch, length, n_heads, head_dim).permute(0, 2, 1, 3)
        return projected.reshape(batch, n_heads, length, head_dim)  # slip: mixes positions and features

    q, k, v = heads(module.query(x)), heads(module.key(x)), heads(module.value(x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim if scale == "head" else d_model)
    if mask is not None and use_mask:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, h, L, L)
    out = weights @ v  # (B, h, L, d/h)
    if merge == "heads":
        merged = out.permute(0, 2, 1, 3).reshape(batch, length, d_model)
    else:
        merged = out.reshape(batch, length, d_model)  # slip: heads not moved back next to each other
    return (module.output(merged) if project else merged), weights


_MHA_SLIPS = {  # slip -> (flags of _multi_head, the diagnosis the learner reads)
    "no output projection": (
        {"project": False},
        "apply the output projection (self.output, W^O) to the merged heads.",
    ),
    "heads split wrongly": (
        {"split": "wrong"},
        "split the last dimension into heads: reshape (B, L, d) to (B, L, h, d/h), then move the head axis "
        "forward to (B, h, L, d/h). Reshaping straight to (B, h, L, d/h) mixes positions and features.",
    ),
    "heads merged wrongly": (
        {"merge": "wrong"},
        "move the head axis back before merging: (B, h, L, d/h) -> (B, L, h, d/h) -> (B, L, d). "
        "Reshaping straight from (B, h, L, d/h) puts different positions side by side.",
    ),
    "scaled by sqrt(d_model)": (
        {"scale": "model"},
        "each head's scores are scaled by the square root of the *head* dimension d_model / n_heads, not "
        "of d_model.",
    ),
    "mask ignored": ({"use_mask": False}, "pass the mask on to the attention"),
}


def _test_multi_head_attention(candidate) -> None:
    generator = torch.Generator().manual_seed(3)
    for n_heads in (2, 4, 1):
        torch.manual_seed(n_heads)
        reference = attention.MultiHeadAttention(d_model=8, n_heads=n_heads).double().eval()
        module = candidate(d_model=8, n_heads=n_heads).double()
        try:
            module.load_state_dict(reference.state_dict())
        except RuntimeError as error:
            raise AssertionError(
                "keep the four projections as given (query, key, value, output, each nn.Linear(d_model, "
                f"d_model)): the check loads the course module's weights into yours. {error}"
            ) from None
        x = torch.randn(2, 5, 8, generator=generator, dtype=torch.float64)  # (B, L, d)
        for mask in (None, attention.causal_mask(5)):
            result = module(x, mask) if mask is not None else module(x)
            if not isinstance(result, tuple) or len(result) != 2:
                raise AssertionError("return a pair (output, weights).")
            output, weights = result
            expected_output, expected_weights = reference(x, mask)
            if tuple(weights.shape) != tuple(expected_weights.shape):
                raise AssertionError(
                    f"the weights should hold one (L, L) matrix per head: shape (batch, n_heads, L, L) = "
                    f"{tuple(expected_weights.shape)}, got {tuple(weights.shape)}. Split the projections "
                    "into n_heads heads of d_model / n_heads and do not average the heads' weights."
                )
            if tuple(output.shape) != tuple(expected_output.shape):
                raise AssertionError(
                    f"the output should have the input's shape (batch, L, d_model) = {tuple(x.shape)}, got "
                    f"{tuple(output.shape)}: merge the heads back into d_model features."
                )
            got = output.detach().double()
            if not torch.allclose(got, expected_output.detach(), atol=1e-8):
                for flags, diagnosis in _MHA_SLIPS.values():
                    slip = _multi_head(reference, x, mask, **flags)[0].detach()
                    if torch.allclose(got, slip, atol=1e-8):
                        raise AssertionError(diagnosis)
                where = "with the causal mask" if mask is not None else "without a mask"
                assert_close(got, expected_output, f"the output {where}, n_heads={n_heads}", atol=1e-8)
            assert_close(weights, expected_weights, f"the weights, n_heads={n_heads}", atol=1e-8)


class _Projections(torch.nn.Module):
    """The given part of the learner's module: four projections named like the course's."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.query, self.key, self.value, self.output = (torch.nn.Linear(d_model, d_model) for _ in range(4))


def _slipped(**flags) -> type[torch.nn.Module]:
    """A learner's module whose forward makes the slip named by ``flags`` (see ``_multi_head``)."""

    def forward(self, x, mask=None):
        return _multi_head(self, x, mask, **flags)

    return type("MultiHeadAttention", (_Projections,), {"forward": forward})


class _LoopOverHeads(_Projections):
    """An accepted answer: one head at a time on column slices of the projections, then concatenated."""

    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        outputs, weights = [], []
        for head in range(self.n_heads):
            columns = slice(head * self.head_dim, (head + 1) * self.head_dim)
            out, w = attention.scaled_dot_product_attention(
                q[..., columns], k[..., columns], v[..., columns], mask
            )
            outputs.append(out)
            weights.append(w)
        return self.output(torch.cat(outputs, dim=-1)), torch.stack(weights, dim=1)


class _Einsum(_Projections):
    """An accepted answer: einsum over an explicit head axis, softmax written out."""

    def forward(self, x, mask=None):
        batch, length, _ = x.shape
        q, k, v = (
            p(x).view(batch, length, self.n_heads, self.head_dim) for p in (self.query, self.key, self.value)
        )
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / self.head_dim**0.5
        if mask is not None:
            scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
        weights = scores.softmax(dim=-1)
        merged = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, -1)
        return self.output(merged), weights


multi_head_attention = Exercise(
    "Multi-head attention",
    test=_test_multi_head_attention,
    hints=(
        "Each head attends in its own d_model / n_heads slice of the projected queries, keys and values; "
        "afterwards the heads' outputs are put side by side again and mixed by the output projection.",
        "Project x three times; reshape each (B, L, d) result to (B, L, h, d/h) and move the head axis to "
        "position 1, giving (B, h, L, d/h). Attend per head with the mask (your scaled_dot_product_attention "
        "handles the leading axes). Move the head axis back, flatten to (B, L, d), apply W^O, and return "
        "that with the (B, h, L, L) weights.",
    ),
    reference=attention.MultiHeadAttention,
    mistakes=[
        Mistake("no output projection", _slipped(project=False), "self.output"),
        Mistake("heads split wrongly", _slipped(split="wrong"), "mixes positions and features"),
        Mistake("heads merged wrongly", _slipped(merge="wrong"), "move the head axis back"),
        Mistake("scaled by sqrt(d_model)", _slipped(scale="model"), "*head* dimension"),
        Mistake("mask ignored", _slipped(use_mask=False), "pass the mask on"),
        Mistake("one big head", _slipped(one_head=True), "one (L, L) matrix per head"),
    ],
    alternatives=[_LoopOverHeads, _Einsum],
)
