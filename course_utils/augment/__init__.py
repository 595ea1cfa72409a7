"""Data augmentation, one kind of data per module.

``image`` (rotate / scale / crop / flip / colour-jitter pipelines with torchvision v2) ·
``text`` (synonym replacement from ``lexicon.json``, EDA, replacement by neighbours in the text
encoder's token-embedding space) · ``interactions`` (CL4SRec sequence crop / mask / reorder,
user-history subsampling) · ``generative`` (conditional-GAN rebalancing of categories, CFGAN
synthetic interactions for sparse users).

Every augmentation is seeded (``seed`` / ``rng`` argument) and label-preserving by design:
what changes is how an item or a history *looks*, not what it *is*.
"""
