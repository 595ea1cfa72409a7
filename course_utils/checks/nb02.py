"""Exercises of notebook 02 (GANs): the two losses and a sample-diversity score."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import entropy as scipy_entropy

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models import gan


def _test_discriminator_loss(candidate) -> None:
    real, fake = torch.tensor([3.0, -1.0]), torch.tensor([-2.0, 0.5])
    loss = candidate(real, fake)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise AssertionError("return a single number (a 0-dim tensor), averaged over the batch.")
    value, expected = loss.item(), gan.discriminator_loss(real, fake).item()
    if math.isclose(value, gan.discriminator_loss(fake, real).item(), rel_tol=1e-5):
        raise AssertionError(
            "real and generated images are swapped: real ones should get label 1, generated ones 0."
        )
    if math.isclose(value, 2 * expected, rel_tol=1e-5):
        raise AssertionError("you summed over the batch: take the mean of each term.")
    if math.isclose(value, expected / 2, rel_tol=1e-5):
        raise AssertionError(
            "you averaged the two terms together: the loss is the *sum* of the mean over real images "
            "and the mean over generated ones."
        )
    if math.isclose(value, F.softplus(-real).mean().item(), rel_tol=1e-5):
        raise AssertionError("the generated images' term is missing: add -mean log(1 - D(G(z))).")
    assert_close(loss, expected, "the loss on logits [3, -1] (real) / [-2, 0.5] (generated)")
    assert_close(candidate(torch.zeros(4), torch.zeros(4)), 2 * math.log(2), "the loss when D outputs 1/2")
    extreme = candidate(torch.tensor([-200.0]), torch.tensor([200.0]))  # D confidently wrong on both
    if not torch.isfinite(extreme):
        raise AssertionError(
            "the loss is not finite for confident logits: work with logits (softplus, or a binary "
            "cross-entropy *with logits*) rather than log(sigmoid(.))."
        )


def _discriminator_with_bce(real_logits, fake_logits):
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


discriminator_loss = Exercise(
    "The discriminator loss",
    test=_test_discriminator_loss,
    hints=(
        "The discriminator is a binary classifier: real images are class 1, generated ones class 0. "
        "Its loss is a binary cross-entropy on each batch, computed from logits for stability.",
        "-log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l). The loss is the mean "
        "over the real batch of the first plus the mean over the generated batch of the second.",
    ),
    reference=gan.discriminator_loss,
    mistakes=[
        Mistake(
            "labels swapped", lambda real, fake: F.softplus(real).mean() + F.softplus(-fake).mean(), "swapped"
        ),
        Mistake(
            "log of sigmoid",
            lambda real, fake: (
                -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
            ),
            "not finite",
        ),
        Mistake(
            "sum over the batch",
            lambda real, fake: F.softplus(-real).sum() + F.softplus(fake).sum(),
            "summed",
        ),
        Mistake(
            "one mean over both batches",
            lambda real, fake: torch.cat([F.softplus(-real), F.softplus(fake)]).mean(),
            "averaged the two terms together",
        ),
        Mistake("real term only", lambda real, fake: F.softplus(-real).mean(), "term is missing"),
    ],
    alternatives=[
        _discriminator_with_bce,
        lambda real, fake: -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean(),
    ],
)


def _test_generator_loss(candidate) -> None:
    zeros = candidate(torch.zeros(3))
    if not isinstance(zeros, torch.Tensor) or zeros.dim() != 0:
        raise AssertionError("return a single number as a 0-dim tensor (the batch mean), not a float.")
    if float(zeros) < 0:
        raise AssertionError(
            "the loss is negative: you wrote the minimax form log(1 - D(G(z))); "
            "the non-saturating loss is -log D(G(z))."
        )
    if math.isclose(float(zeros), 3 * math.log(2), rel_tol=1e-5):
        raise AssertionError("you summed over the batch: take the mean.")
    assert_close(zeros, math.log(2), "the loss when D outputs 1/2 (expected ln 2)")
    logits = torch.tensor([-10.0], requires_grad=True)
    loss = candidate(logits)
    if not loss.requires_grad:
        raise AssertionError("the loss carries no gradient: compute it with torch operations on the logits.")
    loss.backward()
    if logits.grad is None or logits.grad.abs().item() < 0.5:
        raise AssertionError(
            "almost no gradient where D confidently rejects the fake: that is the saturating "
            "loss (label 0). The generator wants label 1: -log D(G(z))."
        )
    assert_close(
        candidate(torch.tensor([1.0, -3.0])),
        gan.generator_loss(torch.tensor([1.0, -3.0])),
        "the loss on logits [1, -3]",
    )
    if not torch.isfinite(candidate(torch.tensor([-200.0]))):
        raise AssertionError(
            "the loss is not finite for a confidently rejected fake (logit -200): work with logits, "
            "not log(sigmoid(.))."
        )


generator_loss = Exercise(
    "The non-saturating generator loss",
    test=_test_generator_loss,
    hints=(
        "The generator wants the discriminator to call its samples real. Which label is that, and "
        "which binary cross-entropy does it give?",
        "Label 1 on the generated logits: the mean of -log sigmoid(l) = softplus(-l). Not "
        "log(1 - D(G(z))) (minimax, it saturates) and not label 0.",
    ),
    reference=gan.generator_loss,
    mistakes=[
        Mistake("minimax form", lambda fake: torch.log(1 - torch.sigmoid(fake)).mean(), "minimax"),
        Mistake("label 0", lambda fake: F.softplus(fake).mean(), "saturating"),
        Mistake("log of sigmoid", lambda fake: -torch.log(torch.sigmoid(fake)).mean(), "not finite"),
        Mistake("sum over the batch", lambda fake: F.softplus(-fake).sum(), "summed"),
    ],
    alternatives=[
        lambda fake: F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)),
        lambda fake: -F.logsigmoid(fake).mean(),
    ],
)


def _test_sample_diversity(candidate) -> None:
    def entropy_of(labels, n_classes):
        result = candidate(np.asarray(labels), n_classes)
        return float(getattr(result, "normalised_entropy", result))

    uniform = entropy_of(np.arange(100) % 5, 5)
    if math.isclose(uniform, math.log(5), rel_tol=1e-4) or math.isclose(uniform, math.log2(5), rel_tol=1e-4):
        raise AssertionError("you returned the raw entropy; divide by ln(n_classes) so that uniform gives 1.")
    if math.isclose(uniform, -1.0, rel_tol=1e-6):
        raise AssertionError("the score is negative: the entropy is -sum p ln p (mind the minus sign).")
    if not math.isclose(uniform, 1.0, rel_tol=1e-6):
        raise AssertionError(f"samples spread evenly over all classes should score 1, got {uniform:.4f}.")
    half = entropy_of([0, 0, 1, 1], 4)
    if not math.isfinite(half):
        raise AssertionError("a class with share 0 gives 0 * log 0 = NaN: skip zero shares (0 log 0 = 0).")
    if math.isclose(half, 1.0, rel_tol=1e-6):
        raise AssertionError(
            "two of four classes used equally should score ln 2 / ln 4 = 0.5: divide by ln(n_classes), "
            "the number of all classes, not only of those that occur."
        )
    assert_close(half, 0.5, "the score of [0, 0, 1, 1] with 4 classes")
    collapsed = entropy_of(np.full(50, 3), 5)
    if not math.isfinite(collapsed) or abs(collapsed) > 1e-9:
        raise AssertionError(
            f"all samples in one class (complete mode collapse) should score 0, got {collapsed:.4f}."
        )


def _raw_entropy(predictions, n_classes):
    share = np.bincount(predictions, minlength=n_classes) / len(predictions)
    share = share[share > 0]
    return -(share * np.log(share)).sum()


def _zero_shares_kept(predictions, n_classes):
    share = np.bincount(predictions, minlength=n_classes) / len(predictions)
    return -(share * np.log(share)).sum() / np.log(n_classes)


def _observed_classes(predictions, n_classes):
    share = np.unique(predictions, return_counts=True)[1] / len(predictions)
    return -(share * np.log(share)).sum() / np.log(len(share))


def _minus_sign_dropped(predictions, n_classes):
    share = np.bincount(predictions, minlength=n_classes) / len(predictions)
    share = share[share > 0]
    return (share * np.log(share)).sum() / np.log(n_classes)


def _counter_loop(predictions, n_classes):
    counts = Counter(predictions.tolist())
    total = len(predictions)
    return sum(-c / total * math.log(c / total) for c in counts.values()) / math.log(n_classes)


sample_diversity = Exercise(
    "A sample-diversity score",
    test=_test_sample_diversity,
    hints=(
        "Count how often each class occurs, turn the counts into shares, and measure how even they are "
        "with the entropy. Scale it so that 'all classes equally often' scores 1.",
        "p_c = share of samples in class c (a bincount with minlength n_classes); entropy = -sum p_c ln p_c "
        "over the classes with p_c > 0 (0 ln 0 = 0); divide by ln(n_classes).",
    ),
    reference=gan.sample_diversity,
    mistakes=[
        Mistake("raw entropy", _raw_entropy, "you returned the raw entropy"),
        Mistake("0 log 0 = NaN", _zero_shares_kept, "skip zero shares"),
        Mistake("normalised by the classes that occur", _observed_classes, "not only of those that occur"),
        Mistake("minus sign dropped", _minus_sign_dropped, "mind the minus sign"),
    ],
    alternatives=[
        _counter_loop,
        lambda predictions, n_classes: (
            scipy_entropy(np.bincount(predictions, minlength=n_classes)) / np.log(n_classes)
        ),
    ],
)
