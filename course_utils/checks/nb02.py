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


def _report_of(candidate, labels, n_classes):
    """Call the learner's function as the notebook does (int labels) and check the report's contract."""
    labels = np.asarray(labels, dtype=np.int64)
    result = candidate(labels, n_classes)
    if not (hasattr(result, "normalised_entropy") and hasattr(result, "class_share")):
        raise AssertionError(
            f"return a SampleDiversity report, SampleDiversity(normalised_entropy=..., class_share=...), "
            f"not a {type(result).__name__}: the notebook reads both fields (the score and the bar chart)."
        )
    share = np.asarray(result.class_share, dtype=float)
    if share.shape != (n_classes,):
        raise AssertionError(
            f"class_share must have one entry per class, zeros included: shape ({n_classes},), "
            f"got {share.shape}."
        )
    if np.isclose(share.sum(), len(labels)) and len(labels) != 1:
        raise AssertionError(
            "class_share holds counts; divide by the number of samples so the shares sum to 1."
        )
    assert_close(share, np.bincount(labels, minlength=n_classes) / len(labels), "class_share")
    return float(result.normalised_entropy)


def _test_sample_diversity(candidate) -> None:
    uniform = _report_of(candidate, np.arange(100) % 5, 5)
    if math.isclose(uniform, math.log(5), rel_tol=1e-4) or math.isclose(uniform, math.log2(5), rel_tol=1e-4):
        raise AssertionError("you returned the raw entropy; divide by ln(n_classes) so that uniform gives 1.")
    if math.isclose(uniform, -1.0, rel_tol=1e-6):
        raise AssertionError("the score is negative: the entropy is -sum p ln p (mind the minus sign).")
    if not math.isclose(uniform, 1.0, rel_tol=1e-6):
        raise AssertionError(f"samples spread evenly over all classes should score 1, got {uniform:.4f}.")
    half = _report_of(candidate, [0, 0, 1, 1], 4)
    if not math.isfinite(half):
        raise AssertionError("a class with share 0 gives 0 * log 0 = NaN: skip zero shares (0 log 0 = 0).")
    if math.isclose(half, 1.0, rel_tol=1e-6):
        raise AssertionError(
            "two of four classes used equally should score ln 2 / ln 4 = 0.5: divide by ln(n_classes), "
            "the number of all classes, not only of those that occur."
        )
    assert_close(half, 0.5, "the score of [0, 0, 1, 1] with 4 classes")
    collapsed = _report_of(candidate, np.full(50, 3), 5)
    if not math.isfinite(collapsed) or abs(collapsed) > 1e-9:
        raise AssertionError(
            f"all samples in one class (complete mode collapse) should score 0, got {collapsed:.4f}."
        )


def _shares(predictions, n_classes):
    return np.bincount(predictions, minlength=n_classes) / len(predictions)


def _report(entropy, share):
    return gan.SampleDiversity(normalised_entropy=float(entropy), class_share=share)


def _float_only(predictions, n_classes):
    share = _shares(predictions, n_classes)
    used = share[share > 0]
    return float(-(used * np.log(used)).sum() / np.log(n_classes))


def _raw_entropy(predictions, n_classes):
    share = _shares(predictions, n_classes)
    used = share[share > 0]
    return _report(-(used * np.log(used)).sum(), share)


def _zero_shares_kept(predictions, n_classes):
    share = _shares(predictions, n_classes)
    return _report(-(share * np.log(share)).sum() / np.log(n_classes), share)


def _observed_classes(predictions, n_classes):
    share = np.unique(predictions, return_counts=True)[1] / len(predictions)
    return _report(-(share * np.log(share)).sum() / np.log(len(share)), _shares(predictions, n_classes))


def _minus_sign_dropped(predictions, n_classes):
    share = _shares(predictions, n_classes)
    used = share[share > 0]
    return _report((used * np.log(used)).sum() / np.log(n_classes), share)


def _share_of_observed_classes_only(predictions, n_classes):
    share = np.unique(predictions, return_counts=True)[1] / len(predictions)
    return _report(-(share * np.log(share)).sum() / np.log(n_classes), share)


def _counts_as_shares(predictions, n_classes):
    counts = np.bincount(predictions, minlength=n_classes)
    used = counts[counts > 0] / len(predictions)
    return _report(-(used * np.log(used)).sum() / np.log(n_classes), counts)


def _counter_loop(predictions, n_classes):
    counts = Counter(predictions.tolist())
    total = len(predictions)
    share = np.array([counts.get(c, 0) / total for c in range(n_classes)])
    return _report(
        sum(-n / total * math.log(n / total) for n in counts.values()) / math.log(n_classes), share
    )


def _with_scipy(predictions, n_classes):
    counts = np.bincount(predictions, minlength=n_classes)
    return _report(scipy_entropy(counts) / np.log(n_classes), counts / counts.sum())


sample_diversity = Exercise(
    "A sample-diversity score",
    test=_test_sample_diversity,
    hints=(
        "Count how often each class occurs, turn the counts into shares, and measure how even they are "
        "with the entropy. Scale it so that 'all classes equally often' scores 1.",
        "p_c = share of samples in class c (a bincount with minlength n_classes, divided by the number of "
        "samples): that array is class_share. entropy = -sum p_c ln p_c over the classes with p_c > 0 "
        "(0 ln 0 = 0); divide by ln(n_classes) for normalised_entropy, and return both in a SampleDiversity.",
    ),
    reference=gan.sample_diversity,
    mistakes=[
        Mistake("raw entropy", _raw_entropy, "you returned the raw entropy"),
        Mistake("0 log 0 = NaN", _zero_shares_kept, "skip zero shares"),
        Mistake("normalised by the classes that occur", _observed_classes, "not only of those that occur"),
        Mistake("minus sign dropped", _minus_sign_dropped, "mind the minus sign"),
        Mistake("a float instead of the report", _float_only, "return a SampleDiversity report"),
        Mistake("shares of the observed classes only", _share_of_observed_classes_only, "zeros included"),
        Mistake("counts instead of shares", _counts_as_shares, "class_share holds counts"),
    ],
    alternatives=[_counter_loop, _with_scipy],
)


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` and its 95% percentile-bootstrap CI for two **independent** samples.

    Each resample draws ``len(a)`` values of ``a`` and, separately, ``len(b)`` values of ``b`` with
    replacement; the CI is the 2.5% and 97.5% quantiles of the resampled differences of means
    (Efron & Tibshirani, 1993, ch. 13). A sample of one value (e.g. ``[0.1]``, chance) is a constant.
    For two systems scored on the *same* users use :func:`course_utils.stats.paired_bootstrap`.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, len(a), size=(n_resamples, len(a)))].mean(axis=1)  # (n_resamples,)
    means_b = b[rng.integers(0, len(b), size=(n_resamples, len(b)))].mean(axis=1)
    low, high = np.quantile(means_a - means_b, [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


_HALF = np.tile([0.0, 1.0], 100)  # mean 0.5, n = 200
_QUARTER = np.tile([0.0, 0.0, 0.0, 1.0], 50)  # mean 0.25, n = 200


def _test_bootstrap_difference(candidate) -> None:
    result = candidate(np.ones(50), np.zeros(40), n_resamples=5000, seed=1)
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise AssertionError("return three numbers: (difference, low, high).")
    difference, low, high = (float(value) for value in result)
    if not np.allclose([difference, low, high], [1.0, 1.0, 1.0]):
        raise AssertionError(
            f"a = all ones, b = all zeros: every resample gives 1 - 0, so expect (1, 1, 1); got "
            f"({difference:.3f}, {low:.3f}, {high:.3f})."
        )
    difference, low, high = (float(v) for v in candidate(_HALF, [0.1], n_resamples=5000, seed=1))
    if not np.isclose(difference, 0.4):
        raise AssertionError(
            f"mean(a) - mean(b) = 0.5 - 0.1 = 0.4 (b = [0.1] is a constant), got {difference:.4f}."
        )
    if high - low < 1e-9:
        raise AssertionError(
            "your interval has zero width: resample *with* replacement (rng.integers or rng.choice with "
            "replace=True), a permutation always has the same mean."
        )
    difference, low, high = (float(v) for v in candidate(_HALF, _HALF.copy(), n_resamples=5000, seed=1))
    if high - low < 1e-9:
        raise AssertionError(
            "a and b hold the same values and your interval has zero width: you drew the same indices for a "
            "and b (a paired bootstrap). The two samples are independent (generated images, real images), so "
            "draw indices for each separately."
        )
    difference, low, high = (float(v) for v in candidate(_QUARTER, _HALF, n_resamples=5000, seed=1))
    if not np.isclose(difference, -0.25):
        raise AssertionError(f"mean(a) - mean(b) = 0.25 - 0.5 = -0.25, got {difference:.4f}.")
    half_width = (high - low) / 2
    independent = 1.96 * math.sqrt(0.1875 / 200 + 0.25 / 200)  # about 0.092
    if abs(half_width - 1.96 * math.sqrt(0.1875 / 200)) < 0.006:
        raise AssertionError(
            "your interval only reflects the noise of a: resample b too, it is a sample as well."
        )
    if abs(half_width - 1.645 * independent / 1.96) < 0.006:
        raise AssertionError("that is a 90% interval: take the 2.5% and 97.5% quantiles for 95%.")
    if abs(half_width - independent) > 0.008 or abs((low + high) / 2 + 0.25) > 0.01:
        raise AssertionError(
            f"for a = [0, 0, 0, 1] x 50 and b = [0, 1] x 100 the 95% CI is about -0.25 +- {independent:.3f}; "
            f"got [{low:.3f}, {high:.3f}]."
        )


def _bootstrap_b_fixed(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    means_a = a[np.random.default_rng(seed).integers(0, len(a), size=(n_resamples, len(a)))].mean(axis=1)
    low, high = np.quantile(means_a - b.mean(), [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


def _bootstrap_paired_indices(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    index = np.random.default_rng(seed).integers(0, len(a), size=(n_resamples, len(a)))
    resampled_b = b[index % len(b)]
    low, high = np.quantile(a[index].mean(axis=1) - resampled_b.mean(axis=1), [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


def _bootstrap_ninety(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, len(a), size=(n_resamples, len(a)))].mean(axis=1)
    means_b = b[rng.integers(0, len(b), size=(n_resamples, len(b)))].mean(axis=1)
    low, high = np.quantile(means_a - means_b, [0.05, 0.95])
    return float(a.mean() - b.mean()), float(low), float(high)


def _bootstrap_without_replacement(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    differences = [rng.permutation(a).mean() - rng.permutation(b).mean() for _ in range(n_resamples)]
    low, high = np.quantile(differences, [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


def _bootstrap_with_choice_loop(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    differences = np.empty(n_resamples)
    for r in range(n_resamples):
        differences[r] = rng.choice(a, size=len(a)).mean() - rng.choice(b, size=len(b)).mean()
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(low), float(high)


def _normal_approximation(a, b, n_resamples=2000, seed=0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    standard_error = math.sqrt(a.var() / len(a) + b.var() / len(b))
    difference = float(a.mean() - b.mean())
    return difference, difference - 1.96 * standard_error, difference + 1.96 * standard_error


bootstrap_difference_exercise = Exercise(
    "A bootstrap interval for two independent samples",
    test=_test_bootstrap_difference,
    hints=(
        "Pretend each sample is its whole population: redraw each one (with replacement, same size) many "
        "times, and look at how much the difference of the two means moves.",
        "For each of n_resamples rounds: draw len(a) indices into a and, independently, len(b) indices into "
        "b (rng.integers(0, n, size=...)), take the difference of the two means. The CI is the 2.5% and "
        "97.5% quantiles of those differences; return (mean(a) - mean(b), low, high).",
    ),
    reference=bootstrap_difference,
    mistakes=[
        Mistake("b not resampled", _bootstrap_b_fixed, "resample b too"),
        Mistake("paired indices", _bootstrap_paired_indices, "draw indices for each separately"),
        Mistake("90% interval", _bootstrap_ninety, "2.5% and 97.5%"),
        Mistake("without replacement", _bootstrap_without_replacement, "*with* replacement"),
    ],
    alternatives=[_bootstrap_with_choice_loop, _normal_approximation],
)
