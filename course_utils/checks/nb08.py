"""Exercises of notebook 08 (cross-modal fusion): a concat fusion module, the InfoNCE loss and a gated
fusion module (08.1-08.3)."""

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


# --------------------------------------------------------------------------------------------
# Exercise 08.3: the gated fusion module (the notebook trains it inside the click model and reads it)
# --------------------------------------------------------------------------------------------


class _GatedScaffold(torch.nn.Module):
    """The ``__init__`` the notebook gives; the learner writes gates, forward and modality_weights."""

    def __init__(self, input_dims, dim=64):
        super().__init__()
        self.input_dims, self.output_dim = list(input_dims), dim
        self.projections = torch.nn.ModuleList(torch.nn.Linear(d, dim) for d in input_dims)
        self.gate = torch.nn.Linear(sum(input_dims), len(input_dims) * dim)

    def _gate_logits(self, modalities):
        return self.gate(torch.cat(modalities, dim=-1)).view(-1, len(self.input_dims), self.output_dim)

    def _projected(self, modalities):
        return torch.stack([p(x) for p, x in zip(self.projections, modalities, strict=True)], dim=1)

    def gates(self, *modalities):
        return torch.softmax(self._gate_logits(modalities), dim=1)

    def forward(self, *modalities):
        return (self.gates(*modalities) * torch.tanh(self._projected(modalities))).sum(dim=1)

    def modality_weights(self, *modalities):
        return self.gates(*modalities).mean(dim=-1)


def _gated_variant(name, **methods):
    return type(name, (_GatedScaffold,), methods)


def _gated_outputs(module, modalities):
    """The three things the notebook uses: gates (B, M, dim), fused (B, dim), modality weights (B, M)."""
    return module.gates(*modalities), module(*modalities), module.modality_weights(*modalities)


def _same(actual, expected) -> bool:
    actual = torch.as_tensor(actual).detach().double()
    return actual.shape == expected.shape and torch.allclose(actual, expected.double(), atol=1e-5, rtol=1e-4)


def _test_gated_fusion(candidate) -> None:
    torch.manual_seed(0)
    dims = [3, 5]
    module = candidate(dims, dim=4)
    reference = fusion.GatedFusion(dims, dim=4)
    try:
        module.load_state_dict(reference.state_dict())
    except (RuntimeError, AttributeError) as error:
        raise AssertionError(
            "keep the given __init__ (self.projections and self.gate with their sizes): the notebook's "
            f"click model and this check rely on them ({str(error).splitlines()[0]})."
        ) from error
    x_text, x_image = torch.randn(6, 3, requires_grad=True), torch.randn(6, 5, requires_grad=True)
    modalities = (x_text, x_image)
    gates = module.gates(*modalities)
    if gates is None:
        raise AssertionError("gates() returned None -- did you forget `return`?")
    expected_gates = reference.gates(*modalities).detach()
    logits = reference.gate(torch.cat(modalities, dim=-1)).detach()
    if tuple(gates.shape) == (6, 8):
        raise AssertionError(
            "gates() should have shape (batch, M, dim) = (6, 2, 4): reshape the gate layer's output with "
            ".view(-1, M, dim) before the softmax."
        )
    if _same(gates, torch.sigmoid(logits.view(6, 2, 4))):
        raise AssertionError(
            "your gates do not sum to 1 over the modalities (a sigmoid per entry): take the softmax over "
            "the modality axis (dim=1), so that each dimension splits its trust between the modalities."
        )
    if _same(gates, torch.softmax(logits.view(6, 2, 4), dim=-1)):
        raise AssertionError(
            "the softmax runs over the hidden dimensions (dim=-1): take it over the modality axis (dim=1), "
            "so that z_text + z_image = 1 for every dimension."
        )
    assert_close(gates, expected_gates, "gates() (softmax over the modalities of the reshaped gate logits)")
    fused = module(*modalities)
    projected = torch.stack(
        [p(x) for p, x in zip(reference.projections, modalities, strict=True)], 1
    ).detach()
    slips = [
        (
            (expected_gates * projected).sum(1),
            "squash each projection with tanh before gating: h_m = tanh(W_m x_m).",
        ),
        (
            torch.tanh((expected_gates * projected).sum(1)),
            "apply tanh to each projection, then gate and add (not tanh of the gated sum).",
        ),
        (
            (expected_gates.flip(1) * torch.tanh(projected)).sum(1),
            "each modality's gate must weigh its own "
            "hidden vector: z_m multiplies tanh(W_m x_m), same modality order.",
        ),
        (
            (expected_gates * torch.tanh(projected)).mean(1),
            "add the gated vectors over the modalities (sum, dim=1); averaging halves them.",
        ),
    ]
    for wrong, message in slips:
        if _same(fused, wrong):
            raise AssertionError(message)
    assert_close(fused, reference(*modalities), "forward(): sum over m of z_m * tanh(W_m x_m)")
    if not fused.requires_grad:
        raise AssertionError(
            "no gradient flows through forward(): use torch operations, no .detach() or numpy."
        )
    fused.sum().backward()
    if x_image.grad is None or module.gate.weight.grad is None:
        raise AssertionError("gradients must reach both modalities and the gate layer.")
    weights = module.modality_weights(*modalities)
    if weights is None:
        raise AssertionError("modality_weights() returned None -- did you forget `return`?")
    if tuple(weights.shape) == (6, 4):
        raise AssertionError(
            "modality_weights() should give one weight per modality, shape (batch, M) = (6, 2): average the "
            "gates over the hidden dimensions (the last axis), not over the modalities."
        )
    assert_close(weights, expected_gates.mean(-1), "modality_weights() (the gates averaged over dimensions)")
    three = candidate([2, 3, 4], dim=5)
    three_reference = fusion.GatedFusion([2, 3, 4], dim=5)
    three.load_state_dict(three_reference.state_dict())
    inputs = (torch.randn(7, 2), torch.randn(7, 3), torch.randn(7, 4))
    assert_close(three(*inputs), three_reference(*inputs), "forward() with three modalities (M = 3)")


class _GatedEinsum(_GatedScaffold):
    def gates(self, *modalities):
        logits = self._gate_logits(modalities)
        weights = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
        return weights / weights.sum(dim=1, keepdim=True)

    def forward(self, *modalities):
        return torch.einsum("bmd,bmd->bd", self.gates(*modalities), torch.tanh(self._projected(modalities)))


class _GatedLoop(_GatedScaffold):
    def forward(self, *modalities):
        gates = self.gates(*modalities)
        fused = 0
        for m, (projection, x) in enumerate(zip(self.projections, modalities, strict=True)):
            fused = fused + gates[:, m] * torch.tanh(projection(x))
        return fused

    def modality_weights(self, *modalities):
        gates = self.gates(*modalities)
        return torch.stack([gates[:, m].mean(dim=-1) for m in range(len(self.input_dims))], dim=1)


gated_fusion = Exercise(
    "A gated fusion module",
    test=_test_gated_fusion,
    hints=(
        "The gate looks at all modalities at once and decides, per item and per hidden dimension, how much "
        "to trust each one; the trusts of the modalities add up to one. The output mixes the squashed "
        "projections of the modalities with those trusts.",
        "gates: concatenate the inputs, apply self.gate, reshape to (batch, M, dim), softmax over the "
        "modality axis. forward: tanh of each projection, stacked to (batch, M, dim), times the gates, "
        "summed over the modalities. modality_weights: the gates averaged over the hidden dimensions.",
    ),
    reference=fusion.GatedFusion,
    mistakes=[
        Mistake(
            "sigmoid per entry",
            _gated_variant("GatedFusion", gates=lambda self, *m: torch.sigmoid(self._gate_logits(m))),
            "do not sum to 1 over the modalities",
        ),
        Mistake(
            "softmax over the hidden dimensions",
            _gated_variant("GatedFusion", gates=lambda self, *m: torch.softmax(self._gate_logits(m), dim=-1)),
            "over the hidden dimensions",
        ),
        Mistake(
            "no tanh",
            _gated_variant(
                "GatedFusion", forward=lambda self, *m: (self.gates(*m) * self._projected(m)).sum(1)
            ),
            "squash each projection with tanh",
        ),
        Mistake(
            "tanh of the gated sum",
            _gated_variant(
                "GatedFusion",
                forward=lambda self, *m: torch.tanh((self.gates(*m) * self._projected(m)).sum(1)),
            ),
            "not tanh of the gated sum",
        ),
        Mistake(
            "gates swapped between modalities",
            _gated_variant(
                "GatedFusion",
                forward=lambda self, *m: (self.gates(*m).flip(1) * torch.tanh(self._projected(m))).sum(1),
            ),
            "weigh its own hidden vector",
        ),
        Mistake(
            "mean over modalities",
            _gated_variant(
                "GatedFusion",
                forward=lambda self, *m: (self.gates(*m) * torch.tanh(self._projected(m))).mean(1),
            ),
            "averaging halves them",
        ),
        Mistake(
            "weights averaged over the modalities",
            _gated_variant("GatedFusion", modality_weights=lambda self, *m: self.gates(*m).mean(dim=1)),
            "one weight per modality",
        ),
    ],
    alternatives=[_GatedEinsum, _GatedLoop],
)
