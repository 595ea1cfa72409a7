"""Exercises of notebook 11 (GAN-based augmentation): conditioning the generator, and judging
synthetic interactions by their precision against the users' real future."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from course_utils.augment import generative
from course_utils.exercises import Exercise
from course_utils.models.gan import DCGANGenerator


def _tiny_conditional_generator() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(noise_dim=8, channels=4, n_classes=3).eval()  # tiny config, untrained


def _test_synthesise_for_categories(candidate) -> None:
    generator = _tiny_conditional_generator()
    images, labels = candidate(generator, np.array([2, 0, 3]), 1)
    labels = np.asarray(labels)
    if labels.tolist() != [0, 0, 2, 2, 2]:
        raise AssertionError(
            f"counts [2, 0, 3] ask for two images of category 0 and three of category 2, in that order: "
            f"expected labels [0, 0, 2, 2, 2], got {labels.tolist()}."
        )
    if not isinstance(images, np.ndarray) or images.shape != (5, 28, 28, 3) or images.dtype != np.uint8:
        raise AssertionError(
            "return uint8 images of shape (5, 28, 28, 3): use course_utils.models.gan.generate, "
            f"got {getattr(images, 'shape', None)} {getattr(images, 'dtype', type(images).__name__)}."
        )
    expected, _ = generative.synthesise_for_categories(generator, [2, 0, 3], seed=1)
    if not np.array_equal(images, expected):
        raise AssertionError(
            "the images differ from generate(generator, n, labels, seed=seed): did you pass the labels "
            "(that is what conditions the generator) and the seed?"
        )


synthesise_for_categories = Exercise(
    "Conditioning the generator on the categories you need",
    test=_test_synthesise_for_categories,
    hint="""labels = np.repeat(np.arange(len(counts)), counts) lists the category of every image to
    draw; gan.generate(generator, len(labels), labels, seed=seed) feeds them to G(z, y).""",
    reference=generative.synthesise_for_categories,
)


def _test_synthetic_precision(candidate) -> None:
    synthetic = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=np.float32))
    future = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=np.float32))
    result = float(candidate(synthetic, future))
    if np.isclose(result, 3 / 8):
        raise AssertionError("you divided by the number of future interactions: precision divides by |S|.")
    if np.isclose(result, np.mean([1 / 3, 1.0])):
        raise AssertionError("that is the mean of per-user precisions; count over all synthetic clicks.")
    if not np.isclose(result, 3 / 5):
        raise AssertionError(
            f"3 of the 4 synthetic clicks are in the future, expected 0.75, got {result:.4f}."
        )


synthetic_precision = Exercise(
    "Evaluating synthetic interactions: precision against the future",
    test=_test_synthetic_precision,
    hint="""Binarise both matrices (m != 0), multiply them element-wise (.multiply) and count the
    non-zeros of the product: the hits. Divide by the number of synthetic interactions.""",
    reference=generative.synthetic_precision,
)
