"""Exercises of notebook 11 (GAN-based augmentation): conditioning the generator, and judging
synthetic interactions by their precision against the users' real future."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from course_utils.augment import generative
from course_utils.exercises import Exercise, Mistake
from course_utils.models.gan import DCGANGenerator, generate


def _tiny_conditional_generator() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(noise_dim=8, channels=4, n_classes=3).eval()  # tiny config, untrained


def _test_synthesise_for_categories(candidate) -> None:
    generator = _tiny_conditional_generator()
    images, labels = candidate(generator, np.array([2, 0, 3]), seed=1)  # as the notebook calls it
    labels = np.asarray(labels)
    if labels.tolist() != [0, 0, 2, 2, 2]:
        raise AssertionError(
            f"counts [2, 0, 3] ask for two images of category 0 and three of category 2, in that order: "
            f"expected labels [0, 0, 2, 2, 2], got {labels.tolist()} (repeat each category counts[c] times)."
        )
    if not isinstance(images, np.ndarray) or images.shape != (5, 28, 28, 3) or images.dtype != np.uint8:
        raise AssertionError(
            "return uint8 images of shape (5, 28, 28, 3): use course_utils.models.gan.generate, "
            f"got {getattr(images, 'shape', None)} {getattr(images, 'dtype', type(images).__name__)}."
        )
    expected, _ = generative.synthesise_for_categories(generator, [2, 0, 3], seed=1)
    if np.array_equal(images, generate(generator, 5, labels, seed=0)) and not np.array_equal(
        images, expected
    ):
        raise AssertionError("the images ignore the seed: pass seed=seed on to generate.")
    if not np.array_equal(images, expected):
        raise AssertionError(
            "the images differ from generate(generator, n, labels, seed=seed): did you pass the labels "
            "(that is what conditions the generator) in the same order as the labels you return?"
        )


def _synthesise(generator, counts, seed=0, labels_of=None, use_seed=True, conditioned=True):
    """A learner's version; ``labels_of`` and the flags switch on the catalogued slips."""
    labels = (labels_of or (lambda c: np.repeat(np.arange(len(c)), c)))(np.asarray(counts))
    drawn = labels if conditioned else np.random.default_rng(seed).permutation(labels)
    return generate(generator, len(labels), drawn, seed=seed if use_seed else 0), labels


def _synthesise_with_loop(generator, counts, seed=0):
    labels = np.array(
        [category for category, count in enumerate(counts) for _ in range(count)], dtype=np.int64
    )
    return generate(generator, len(labels), labels, seed=seed), labels


synthesise_for_categories = Exercise(
    "Conditioning the generator on the categories you need",
    test=_test_synthesise_for_categories,
    hints=(
        "A conditional generator draws an image *of the category you give it*: write down the category of "
        "every image you need, in order, and hand that list to the generator together with the seed.",
        "labels = each category c repeated counts[c] times (np.repeat over np.arange(len(counts))); draw "
        "len(labels) images with gan.generate(generator, n, labels, seed=seed); return (images, labels).",
    ),
    reference=generative.synthesise_for_categories,
    mistakes=[
        Mistake(
            "one label per category",
            lambda g, c, seed=0: _synthesise(g, c, seed, labels_of=lambda c: np.arange(len(c))),
            "repeat each category",
        ),
        Mistake(
            "labels tiled, not repeated",
            lambda g, c, seed=0: _synthesise(
                g, c, seed, labels_of=lambda c: np.tile(np.arange(len(c)), 2)[: c.sum()]
            ),
            "in that order",
        ),
        Mistake(
            "seed ignored", lambda g, c, seed=0: _synthesise(g, c, seed, use_seed=False), "ignore the seed"
        ),
        Mistake(
            "conditioned on other labels than returned",
            lambda g, c, seed=0: _synthesise(g, c, seed, conditioned=False),
            "did you pass the labels",
        ),
    ],
    alternatives=[_synthesise, _synthesise_with_loop],
)


def _test_synthetic_precision(candidate) -> None:
    # user 0: 3 synthetic interactions (one stored as 3.0), user 1: 2, user 2: one explicitly stored zero
    synthetic = sp.csr_matrix(
        (np.array([3, 1, 1, 1, 1, 0], dtype=np.float32), ([0, 0, 0, 1, 1, 2], [0, 1, 2, 2, 3, 3])),
        shape=(3, 4),
    )
    future = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=np.float32))
    result = float(candidate(synthetic, future))
    if np.isclose(result, 3 / 8):
        raise AssertionError("you divided by the number of future interactions: precision divides by |S|.")
    if np.isclose(result, np.mean([1 / 3, 1.0])):
        raise AssertionError("that is the mean of per-user precisions; count over all synthetic clicks.")
    if np.isclose(result, 5 / 7):
        raise AssertionError("you summed the matrix values: binarise first (m != 0) and count interactions.")
    if np.isclose(result, 3 / 6):
        raise AssertionError(
            "you counted a stored zero as an interaction (.nnz counts stored entries): count the entries "
            "!= 0 instead."
        )
    if np.isclose(result, 3):
        raise AssertionError("that is the number of hits: divide it by the number of synthetic interactions.")
    if not np.isclose(result, 3 / 5):
        raise AssertionError(
            f"3 of the 5 synthetic interactions are in the future: expected 0.60, got {result:.4f}."
        )


def _precision_dense(synthetic, future):
    s, f = sp.csr_matrix(synthetic).toarray() != 0, sp.csr_matrix(future).toarray() != 0
    return (s & f).sum() / s.sum()


def _precision_sets(synthetic, future):
    def pairs(matrix):
        rows, cols = sp.csr_matrix(matrix).nonzero()
        values = np.asarray(sp.csr_matrix(matrix)[rows, cols]).ravel()
        return {(r, c) for r, c, v in zip(rows, cols, values, strict=True) if v != 0}

    synthetic_pairs = pairs(synthetic)
    return len(synthetic_pairs & pairs(future)) / len(synthetic_pairs)


def _per_user_precision(synthetic, future):
    s, f = sp.csr_matrix(synthetic).toarray() != 0, sp.csr_matrix(future).toarray() != 0
    rows = s.sum(axis=1) > 0
    return float(np.mean((s & f).sum(axis=1)[rows] / s.sum(axis=1)[rows]))


synthetic_precision = Exercise(
    "Evaluating synthetic interactions: precision against the future",
    test=_test_synthetic_precision,
    hints=(
        "Of all synthetic interactions, which share really happens later? Count over all users together, "
        "and count interactions, not the numbers stored in the matrix.",
        "Binarise both matrices (entries != 0), multiply them element-wise to get the hits, and divide the "
        "number of hits by the number of synthetic interactions (non-zero entries of the binarised matrix).",
    ),
    reference=generative.synthetic_precision,
    mistakes=[
        Mistake(
            "divided by |F|",
            lambda s, f: (s != 0).multiply(f != 0).nnz / (f != 0).nnz,
            "divided by the number of future",
        ),
        Mistake("mean of per-user precisions", _per_user_precision, "mean of per-user precisions"),
        Mistake("values not binarised", lambda s, f: s.multiply(f != 0).sum() / s.sum(), "binarise first"),
        Mistake("stored zeros counted", lambda s, f: (s != 0).multiply(f != 0).nnz / s.nnz, "stored zero"),
        Mistake("hits not divided", lambda s, f: (s != 0).multiply(f != 0).nnz, "that is the number of hits"),
    ],
    alternatives=[_precision_dense, _precision_sets],
)
