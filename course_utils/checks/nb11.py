"""Exercises of notebook 11 (GAN-based augmentation): building the conditioning of a generator
(a label embedding concatenated to the noise), drawing the photos each category lacks, and judging
synthetic interactions by their precision against the users' real future."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from course_utils.augment import generative
from course_utils.exercises import Exercise, LearnerCodeFailed, Mistake
from course_utils.models.gan import DCGANGenerator, generate

# --------------------------------------------------------------------------------------------------
# Exercise 11.1: the conditioning of G(z, y)
# --------------------------------------------------------------------------------------------------

_NOISE, _CHANNELS, _CLASSES = 8, 4, 3  # tiny config for the check


def _label_enters_as_a_vector(generator: nn.Module) -> bool:
    """An nn.Embedding with one row per category, or a first layer that reads a one-hot of n_classes."""
    modules = list(generator.modules())
    embedded = any(isinstance(m, nn.Embedding) and m.num_embeddings == _CLASSES for m in modules)
    one_hot = any(isinstance(m, nn.Linear) and m.in_features == _NOISE + _CLASSES for m in modules)
    return embedded or one_hot


def _test_conditional_generator(candidate) -> None:
    torch.manual_seed(0)
    generator = candidate(
        noise_dim=_NOISE, channels=_CHANNELS, n_classes=_CLASSES
    )  # as the notebook builds it
    if not isinstance(generator, nn.Module):
        raise AssertionError(
            f"ConditionalGenerator must be an nn.Module (subclass it), got {type(generator).__name__}."
        )
    noise_dim = getattr(generator, "noise_dim", None)
    if noise_dim != _NOISE:
        raise AssertionError(
            f"self.noise_dim must stay the size of z ({_NOISE}), got {noise_dim}: "
            "train_gan and generate draw z with generator.noise_dim entries; the label vector is added "
            "inside forward."
        )
    z = torch.randn(6, _NOISE, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    generator.eval()
    try:
        images = generator(z, labels)
    except LearnerCodeFailed as failure:
        raise AssertionError(
            f"G(z, y) failed for z of shape (6, {_NOISE}) and labels of shape (6,): concatenate z and the "
            "label vectors along dim=1 (the features), giving (6, noise_dim + label_dim). "
            + failure.as_sentence
        ) from None
    if tuple(getattr(images, "shape", ())) != (6, 3, 28, 28):
        raise AssertionError(
            f"G(z, y) must return one image per row of z, shape (6, 3, 28, 28), got {tuple(images.shape)}: "
            "concatenate along dim=1 (the features), not dim=0 (the batch)."
        )
    with torch.no_grad():
        again = generator(z, labels)
        other = generator(z, torch.tensor([1, 2, 0, 1, 2, 0]))
        other_noise = generator(torch.randn(6, _NOISE, generator=torch.Generator().manual_seed(2)), labels)
    if not torch.equal(images.detach(), again):
        raise AssertionError(
            "the same z and labels gave different images in eval mode: create the label embedding once, in "
            "__init__ (a layer built inside forward is new and random on every call, and never learned)."
        )
    if torch.allclose(images.detach(), other, atol=1e-6):
        raise AssertionError(
            "your generator ignores the label: the same z with other categories gives the same images. "
            "Feed the label vector into the network together with z."
        )
    if torch.allclose(images.detach(), other_noise, atol=1e-6):
        raise AssertionError(
            "your generator ignores the noise z: the same labels with other z give the same images."
        )
    if not _label_enters_as_a_vector(generator):
        raise AssertionError(
            "a category is a name, not a number: category 2 is not 'twice' category 1. Give each category "
            "its own learned vector, nn.Embedding(n_classes, label_dim) created in __init__ (or a one-hot "
            "vector of length n_classes), and concatenate it to z."
        )
    generator.train()  # the training step of the notebook: a batch in train mode, gradients to every layer
    generator.zero_grad()
    generator(z, labels).square().mean().backward()
    embeddings = [m for m in generator.modules() if isinstance(m, nn.Embedding)]
    if embeddings and all(m.weight.grad is None or not m.weight.grad.any() for m in embeddings):
        raise AssertionError(
            "no gradient reaches the label embedding: do not detach it or wrap it in torch.no_grad(); "
            "the embedding is learned with the rest of the generator."
        )
    drawn = generate(generator, 4, np.array([0, 2, 2, 1]), seed=0)  # the notebook's later call
    if drawn.shape != (4, 28, 28, 3):
        raise AssertionError(
            f"gan.generate(generator, 4, labels) should give (4, 28, 28, 3), got {drawn.shape}."
        )


class _LearnerGenerator(nn.Module):
    """A learner's conditional generator; ``mode`` (set by ``_learner_generator``) switches on a slip."""

    mode = "embedding"

    def __init__(self, noise_dim=64, channels=32, n_classes=10, label_dim=16):
        super().__init__()
        mode = self.mode
        self.n_classes, self.label_dim = n_classes, label_dim
        self.noise_dim = noise_dim + label_dim if mode == "noise_dim includes the label" else noise_dim
        width = {"one-hot": n_classes, "number": 1, "ignored": 0}.get(mode, label_dim)
        if mode not in ("one-hot", "number", "ignored", "embedding in forward"):
            self.label_embedding = nn.Embedding(n_classes, label_dim)
        self.body = DCGANGenerator(noise_dim=noise_dim + width, channels=channels)

    def forward(self, z, labels):
        if self.mode == "one-hot":
            label_vectors = nn.functional.one_hot(labels, self.n_classes).float()
        elif self.mode == "number":
            label_vectors = labels.float()[:, None]
        elif self.mode == "ignored":
            return self.body(z)
        elif self.mode == "embedding in forward":
            label_vectors = nn.Embedding(self.n_classes, self.label_dim).to(z.device)(labels)
        elif self.mode == "detached":
            label_vectors = self.label_embedding(labels).detach()
        else:
            label_vectors = self.label_embedding(labels)
        if self.mode == "noise_dim includes the label":
            z = z[:, : self.noise_dim - self.label_dim]
        dim = 0 if self.mode == "batch axis" else 1
        return self.body(torch.cat([z, label_vectors], dim=dim))


def _learner_generator(mode: str) -> type[_LearnerGenerator]:
    """The learner's class with one slip switched on (a class, as the notebook's answer is)."""
    return type("ConditionalGenerator", (_LearnerGenerator,), {"mode": mode})


class _MultiplicativeConditioning(nn.Module):
    """An accepted alternative: the label embedding scales the noise (z * (1 + e_y)), then the DCGAN body."""

    def __init__(self, noise_dim=64, channels=32, n_classes=10):
        super().__init__()
        self.noise_dim = noise_dim
        self.label_embedding = nn.Embedding(n_classes, noise_dim)
        self.body = DCGANGenerator(noise_dim=noise_dim, channels=channels)

    def forward(self, z, labels):
        return self.body(z * (1 + self.label_embedding(labels)))


conditional_generator = Exercise(
    "Conditioning the generator: G(z, y) with a label embedding",
    test=_test_conditional_generator,
    hints=(
        "The generator must know which category to draw: turn the category into a vector that the network "
        "learns (one vector per category), put it next to the noise, and let an ordinary, unconditional "
        "generator body read both.",
        "In __init__: keep self.noise_dim = noise_dim, add an nn.Embedding with n_classes rows of label_dim "
        "numbers, and an unconditional DCGAN body whose input size is noise_dim + label_dim. In forward: "
        "look the labels up, join them to z along the feature axis (dim=1), and pass the result through "
        "the body.",
    ),
    reference=DCGANGenerator,
    mistakes=[
        Mistake("labels ignored", _learner_generator("ignored"), "ignores the label"),
        Mistake("label used as a number", _learner_generator("number"), "a category is a name, not a number"),
        Mistake(
            "embedding built inside forward", _learner_generator("embedding in forward"), "once, in __init__"
        ),
        Mistake("concatenated along the batch axis", _learner_generator("batch axis"), "along dim=1"),
        Mistake(
            "embedding detached", _learner_generator("detached"), "no gradient reaches the label embedding"
        ),
        Mistake(
            "noise_dim includes the label",
            _learner_generator("noise_dim includes the label"),
            "self.noise_dim must stay the size of z",
        ),
    ],
    alternatives=[
        _learner_generator("embedding"),
        _learner_generator("one-hot"),
        _MultiplicativeConditioning,
    ],
)

# --------------------------------------------------------------------------------------------------
# Exercise 11.2: drawing the photos each category lacks
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Exercise 11.3: precision of synthetic interactions against the future
# --------------------------------------------------------------------------------------------------


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
