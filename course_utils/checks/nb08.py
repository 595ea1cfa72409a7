"""Exercises of notebook 08 (cross-modal fusion): a concat fusion module and the InfoNCE loss."""

from __future__ import annotations

import math

import torch

from course_utils.exercises import Exercise, assert_close
from course_utils.models import fusion


def _test_concat_fusion(candidate: type[torch.nn.Module]) -> None:
    article = candidate([4, 4])
    fused = article(torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([[5.0, 6, 7, 8]]))
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
    batch.sum().backward()
    assert text.grad is not None and image.grad is not None, "gradients must flow back to both modalities."
    three = candidate([1, 2, 3])
    out = three(torch.zeros(4, 1), torch.ones(4, 2), 2 * torch.ones(4, 3))
    assert tuple(out.shape) == (4, 6), "the module should accept any number of modalities (got 3 here)."


concat_fusion = Exercise(
    "A concat fusion module",
    test=_test_concat_fusion,
    hint="""torch.cat(list_of_tensors, dim=-1) joins (batch, d_1), (batch, d_2), ... side by side
    into (batch, d_1 + d_2 + ...). `modalities` is already a tuple of tensors.""",
    reference=fusion.ConcatFusion,
)


def _test_info_nce(candidate) -> None:
    identity = torch.eye(4)
    aligned = float(candidate(identity, identity, 0.01))
    assert aligned < 1e-4, (
        f"perfectly aligned, orthogonal pairs at temperature 0.01 should give a loss near 0, "
        f"got {aligned:.4g}."
    )
    constant = float(candidate(torch.ones(5, 3), torch.ones(5, 3), 0.1))
    assert math.isclose(constant, math.log(5), rel_tol=1e-4), (
        f"when all logits are equal the loss is log(n) = {math.log(5):.4f} for n = 5, got {constant:.4f}."
    )
    generator = torch.Generator().manual_seed(0)
    queries, keys = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    expected = fusion.info_nce_loss(queries, keys, 0.5)
    assert_close(
        candidate(3.0 * queries, keys, 0.5),
        expected,
        "the loss of scaled queries (normalise the embeddings first: the loss uses cosine similarities)",
    )
    assert_close(
        candidate(queries, keys, 0.5),
        expected,
        "the loss of random pairs (is it symmetric: the average of query->key and key->query?)",
    )


info_nce = Exercise(
    "The symmetric InfoNCE loss",
    test=_test_info_nce,
    hint="""Normalise both with F.normalize(x, dim=-1); logits = q @ k.T / temperature is (n, n) and pair i's
    positive is on the diagonal, so the targets are torch.arange(n). Average F.cross_entropy(logits, targets)
    and F.cross_entropy(logits.T, targets).""",
    reference=fusion.info_nce_loss,
)
