"""Pretrained encoders: text (MiniLM / any BERT) and images (EfficientNet-Lite0 / ResNet-50), cached.

``text.py`` and ``image.py`` turn raw items into vectors; ``similarity.py`` searches and probes
the resulting space; ``cache.py`` stores vectors on disk keyed by model and content;
``catalog.py`` embeds a dataset's catalog (shop or MovieLens texts, shop images) once.
"""

from course_utils.encoders.cache import cached_encode
from course_utils.encoders.catalog import catalog_image_embeddings, catalog_text_embeddings
from course_utils.encoders.image import IMAGENET_CLASSES, ImageEncoder
from course_utils.encoders.similarity import (
    cosine_similarity_matrix,
    knn_accuracy,
    nearest_neighbours,
    pairwise_distances,
)
from course_utils.encoders.text import TextEncoder, cls_pool, mean_pool

__all__ = [
    "IMAGENET_CLASSES",
    "ImageEncoder",
    "TextEncoder",
    "cached_encode",
    "catalog_image_embeddings",
    "catalog_text_embeddings",
    "cls_pool",
    "cosine_similarity_matrix",
    "knn_accuracy",
    "mean_pool",
    "nearest_neighbours",
    "pairwise_distances",
]
