"""Exercises of notebook 02 (GANs): the two losses and a sample-diversity score."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_utils.exercises import Exercise, assert_close
from course_utils.models import gan


def _test_discriminator_loss(candidate) -> None:
    loss = candidate(torch.zeros(4), torch.zeros(4))
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise AssertionError("return a single number (a 0-dim tensor), averaged over the batch.")
    assert_close(loss, 2 * math.log(2), "the loss when D outputs 1/2 everywhere (expected 2 ln 2)")
    real, fake = torch.tensor([3.0, -1.0]), torch.tensor([-2.0, 0.5])
    swapped = gan.discriminator_loss(fake, real)
    if math.isclose(candidate(real, fake).item(), swapped.item(), rel_tol=1e-5):
        raise AssertionError(
            "real and generated images are swapped: real ones should get label 1, generated ones 0."
        )
    assert_close(
        candidate(real, fake), gan.discriminator_loss(real, fake), "the loss on logits [3, -1] / [-2, 0.5]"
    )
    extreme = candidate(torch.tensor([200.0]), torch.tensor([-200.0]))
    if not torch.isfinite(extreme):
        raise AssertionError(
            "the loss is not finite for confident logits: work with logits (F.softplus or "
            "F.binary_cross_entropy_with_logits) rather than log(sigmoid(.))."
        )


discriminator_loss = Exercise(
    "The discriminator loss",
    test=_test_discriminator_loss,
    hint="""Binary cross-entropy with label 1 for real and 0 for fake, from logits:
    -log sigmoid(l) = F.softplus(-l) and -log(1 - sigmoid(l)) = F.softplus(l).
    Return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean().""",
    reference=gan.discriminator_loss,
)


def _test_generator_loss(candidate) -> None:
    assert_close(candidate(torch.zeros(3)), math.log(2), "the loss when D outputs 1/2 (expected ln 2)")
    logits = torch.tensor([-10.0], requires_grad=True)
    loss = candidate(logits)
    if loss.item() < 0:
        raise AssertionError(
            "the loss is negative: you wrote the minimax form log(1 - D(G(z))); "
            "the non-saturating loss is -log D(G(z))."
        )
    loss.backward()
    if logits.grad is None or logits.grad.abs().item() < 0.5:
        raise AssertionError(
            "almost no gradient where D confidently rejects the fake: that is the saturating "
            "loss. Use -log D(G(z)) = F.softplus(-fake_logits)."
        )
    assert_close(
        candidate(torch.tensor([1.0, -3.0])),
        gan.generator_loss(torch.tensor([1.0, -3.0])),
        "the loss on logits [1, -3]",
    )


generator_loss = Exercise(
    "The non-saturating generator loss",
    test=_test_generator_loss,
    hint="The generator wants D to say 'real' (label 1) on its samples: "
    "return F.softplus(-fake_logits).mean().",
    reference=gan.generator_loss,
)


def _test_sample_diversity(candidate) -> None:
    def entropy_of(labels, n_classes):
        result = candidate(np.asarray(labels), n_classes)
        return float(getattr(result, "normalised_entropy", result))

    uniform = entropy_of(np.arange(100) % 5, 5)
    if math.isclose(uniform, math.log(5), rel_tol=1e-4) or math.isclose(uniform, math.log2(5), rel_tol=1e-4):
        raise AssertionError("you returned the raw entropy; divide by ln(n_classes) so that uniform gives 1.")
    if not math.isclose(uniform, 1.0, rel_tol=1e-6):
        raise AssertionError(f"samples spread evenly over all classes should score 1, got {uniform:.4f}.")
    collapsed = entropy_of(np.full(50, 3), 5)
    if not math.isfinite(collapsed):
        raise AssertionError("a class with share 0 gives 0 * log 0 = NaN: skip zero shares (0 log 0 = 0).")
    if abs(collapsed) > 1e-9:
        raise AssertionError(
            f"all samples in one class (complete mode collapse) should score 0, got {collapsed:.4f}."
        )
    # two of four classes used equally: ln 2 / ln 4 = 0.5; a class never predicted still counts in n_classes
    assert_close(entropy_of([0, 0, 1, 1], 4), 0.5, "the score of [0, 0, 1, 1] with 4 classes")


sample_diversity = Exercise(
    "A sample-diversity score",
    test=_test_sample_diversity,
    hint="""share = np.bincount(labels, minlength=n_classes) / len(labels); keep the shares > 0;
    entropy = -(p * np.log(p)).sum(); divide by np.log(n_classes). Return that number
    (or an object with a .normalised_entropy attribute).""",
    reference=gan.sample_diversity,
)
