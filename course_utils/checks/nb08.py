"""Exercises of notebook 08 (cross-modal fusion): a concat fusion module and the InfoNCE loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models import fusion


def _test_concat_fusion(candidate: type[torch.nn.Module]) -> None:
    article = candidate([4, 4])
    fused = article(torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([[5.0, 6, 7, 8]]))
    if tuple(fused.shape) == (2, 4):
        raise AssertionError(
            "you stacked the inputs along the batch axis (dim=0): join them side by side, along the "
            "feature axis (dim=-1)."
        )
    if torch.allclose(
        fused.detach().double(), torch.tensor([[5.0, 6, 7, 8, 1, 2, 3, 4]], dtype=torch.float64)
    ):
        raise AssertionError("keep the order of the inputs: the first modality's features come first.")
    assert_close(fused, [[1, 2, 3, 4, 5, 6, 7, 8]], "Concat([1, 2, 3, 4], [5, 6, 7, 8]) (the article's §4.4)")
    module = candidate([2, 5])
    assert getattr(module, "output_dim", None) == 7, (
        "output_dim should be the sum of the input sizes (2 + 5 = 7)."
    )
    text = torch.randn(3, 2, requires_grad=True)
    image = torch.randn(3, 5, requires_grad=True)
    batch = module(text, image)
    assert tuple(batch.shape) == (3, 7), f"a batch of 3 should give shape (3, 7), got {tuple(batch.shape)}."
    assert_close(batch[:, :2], text, "the first 2 columns (they should be the text features, in order)")
    assert_close(batch[:, 2:], image, "the last 5 columns (they should be the image features, in order)")
    assert batch.requires_grad, "gradients must flow back to both modalities: no .detach(), no numpy."
    batch.sum().backward()
    assert text.grad is not None and image.grad is not None, "gradients must flow back to both modalities."
    three = candidate([1, 2, 3])
    out = three(torch.zeros(4, 1), torch.ones(4, 2), 2 * torch.ones(4, 3))
    assert tuple(out.shape) == (4, 6), "the module should accept any number of modalities (got 3 here)."


class _Concat(torch.nn.Module):
    """A learner's module; ``join`` is how it combines the tuple of modalities."""

    join = staticmethod(lambda modalities: torch.cat(modalities, dim=-1))

    def __init__(self, input_dims):
        super().__init__()
        self.output_dim = sum(input_dims)

    def forward(self, *modalities):
        return self.join(modalities)


def _concat_with(join):
    return type("ConcatFusion", (_Concat,), {"join": staticmethod(join)})


class _TwoModalities(_Concat):
    def forward(self, text, image, *ignored):
        return torch.cat([text, image], dim=-1)


concat_fusion = Exercise(
    "A concat fusion module",
    test=_test_concat_fusion,
    hints=(
        "Early fusion keeps everything: put the feature vectors of all modalities next to each other. "
        "The output size is the sum of the input sizes.",
        "`modalities` is already a tuple of (batch, d_i) tensors: concatenate it along the last (feature) "
        "axis, not the batch axis, in the order given.",
    ),
    reference=fusion.ConcatFusion,
    mistakes=[
        Mistake("batch axis", _concat_with(lambda m: torch.cat(m, dim=0)), "along the batch axis"),
        Mistake(
            "reversed order",
            _concat_with(lambda m: torch.cat(m[::-1], dim=-1)),
            "keep the order of the inputs",
        ),
        Mistake("detached", _concat_with(lambda m: torch.cat(m, dim=-1).detach()), "no .detach()"),
        Mistake(
            "inputs normalised",
            _concat_with(lambda m: torch.cat([F.normalize(x, dim=-1) for x in m], dim=-1)),
            "differs from the expected values",
        ),
        Mistake("two modalities only", _TwoModalities, "any number of modalities"),
    ],
    alternatives=[
        _concat_with(lambda m: torch.hstack(m)),
        _concat_with(lambda m: torch.concat(list(m), dim=1)),
    ],
)


def _info_nce_parts(queries, keys, temperature, dim=-1):
    logits = F.normalize(queries, dim=dim) @ F.normalize(keys, dim=dim).T / temperature
    targets = torch.arange(len(logits))
    return F.cross_entropy(logits, targets), F.cross_entropy(logits.T, targets)


_INFO_NCE_SLIPS = [
    (
        lambda q, k, t: _info_nce_parts(q, k, t)[0],
        "only one direction: average the queries->keys loss CE(logits) and the keys->queries loss "
        "CE(logits^T) (mind the transpose).",
    ),
    (lambda q, k, t: sum(_info_nce_parts(q, k, t)), "you summed the two directions: average them."),
    (
        lambda q, k, t: sum(_info_nce_parts(q, k, t, dim=0)) / 2,
        "normalise each embedding (each row, dim=-1), not each column.",
    ),
    (
        lambda q, k, t: sum(_info_nce_parts(q, k, 1 / t)) / 2,
        "divide the similarities by the temperature, don't multiply.",
    ),
]


def _test_info_nce(candidate) -> None:
    generator = torch.Generator().manual_seed(0)
    queries = (2.0 * torch.randn(6, 4, generator=generator)).requires_grad_()
    keys = torch.randn(6, 4, generator=generator).requires_grad_()
    temperature = torch.tensor(0.5, requires_grad=True)  # as in training, where the temperature is learned
    loss = candidate(queries, keys, temperature)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise AssertionError("return a single number (a 0-dim tensor).")
    value = float(loss.detach())
    queries, keys = queries.detach(), keys.detach()
    raw = (queries @ keys.T / 0.5, torch.arange(6))
    if math.isclose(
        value, (F.cross_entropy(*raw) + F.cross_entropy(raw[0].T, raw[1])).item() / 2, rel_tol=1e-4
    ):
        raise AssertionError(
            "the loss uses cosine similarities: normalise the embeddings (F.normalize(x, dim=-1)) first."
        )
    for slip, message in _INFO_NCE_SLIPS:
        if math.isclose(value, float(slip(queries, keys, 0.5)), rel_tol=1e-4):
            raise AssertionError(message)
    assert_close(loss, fusion.info_nce_loss(queries, keys, 0.5), "the loss of random pairs")
    if not loss.requires_grad:
        raise AssertionError("the loss carries no gradient: compute it with torch operations.")
    loss.backward()
    if temperature.grad is None:
        raise AssertionError(
            "no gradient reaches the temperature: keep it a tensor (no float(temperature), no .item()); "
            "the notebook's model learns it."
        )
    identity = torch.eye(4)
    aligned = float(candidate(identity, identity, 0.01))
    assert aligned < 1e-4, (
        "perfectly aligned, orthogonal pairs at temperature 0.01 should give a loss near 0, got "
        f"{aligned:.4g}."
    )
    constant = float(candidate(torch.ones(5, 3), torch.ones(5, 3), 0.1))
    assert math.isclose(constant, math.log(5), rel_tol=1e-4), (
        f"when all logits are equal the loss is log(n) = {math.log(5):.4f} for n = 5, got {constant:.4f}."
    )


def _info_nce_slip(index):
    slip = _INFO_NCE_SLIPS[index][0]
    return lambda queries, keys, temperature=0.07: slip(queries, keys, temperature)


def _info_nce_with_float_temperature(queries, keys, temperature=0.07):
    return sum(_info_nce_parts(queries, keys, float(temperature))) / 2


def _info_nce_unnormalised(queries, keys, temperature=0.07):
    logits, targets = queries @ keys.T / temperature, torch.arange(len(queries))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _info_nce_log_softmax(queries, keys, temperature=0.07):
    q, k = queries / queries.norm(dim=1, keepdim=True), keys / keys.norm(dim=1, keepdim=True)
    logits = q @ k.T / temperature
    return -(logits.log_softmax(dim=1).diagonal().mean() + logits.log_softmax(dim=0).diagonal().mean()) / 2


def _info_nce_cosine_similarity(queries, keys, temperature=0.07):
    logits = F.cosine_similarity(queries[:, None, :], keys[None, :, :], dim=-1) / temperature
    targets = torch.arange(len(queries))
    return 0.5 * F.cross_entropy(logits, targets) + 0.5 * F.cross_entropy(logits.t(), targets)


info_nce = Exercise(
    "The symmetric InfoNCE loss",
    test=_test_info_nce,
    hints=(
        "Each pair (query i, key i) should be more similar than query i with any other key of the batch: "
        "that is a classification over the batch whose right answer is i. Do it in both directions.",
        "Normalise every row to unit length; logits = cosine similarities / temperature, an (n, n) matrix "
        "whose diagonal holds the positives; the targets are 0..n-1. Average the cross-entropy of the "
        "logits and of their transpose. Keep the temperature a tensor (it is learned).",
    ),
    reference=fusion.info_nce_loss,
    mistakes=[
        Mistake("not normalised", _info_nce_unnormalised, "normalise the embeddings"),
        Mistake("one direction only", _info_nce_slip(0), "only one direction"),
        Mistake(
            "second term without the transpose",
            lambda q, k, t=0.07: (_info_nce_parts(q, k, t)[0] + _info_nce_parts(q, k, t)[0]) / 2,
            "only one direction",
        ),
        Mistake("directions summed", _info_nce_slip(1), "you summed the two directions"),
        Mistake("normalised along dim=0", _info_nce_slip(2), "not each column"),
        Mistake("multiplied by the temperature", _info_nce_slip(3), "don't multiply"),
        Mistake(
            "temperature made a float",
            _info_nce_with_float_temperature,
            "no gradient reaches the temperature",
        ),
    ],
    alternatives=[_info_nce_log_softmax, _info_nce_cosine_similarity],
)
