"""Embed the Fashion Shop catalog once per model: item texts and item images, through the cache.

Later notebooks (fusion, re-ranking, the capstone) all start from these two matrices;
computing them through :func:`cached_encode` means each model runs once per machine::

    text_vectors = catalog_text_embeddings()    # (4000, 384), unit length, row i = item i
    image_vectors = catalog_image_embeddings()  # (4000, 1280), row i = item i
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from course_utils.encoders.cache import cached_encode
from course_utils.encoders.image import ImageEncoder
from course_utils.encoders.text import TextEncoder

if TYPE_CHECKING:
    from course_utils.data import FashionShop


def catalog_text_embeddings(
    shop: FashionShop | None = None,
    encoder: TextEncoder | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n_items, dim) embeddings of ``shop.texts`` ("<title>. <description>"), row i = item i.

    ``shop`` defaults to ``load_fashion_shop()``, ``encoder`` to ``TextEncoder()``
    (all-MiniLM-L6-v2, mean pooling, unit length).
    """
    shop = shop or _load_shop()
    return cached_encode(encoder or TextEncoder(), shop.texts, cache_dir, progress=progress)


def catalog_image_embeddings(
    shop: FashionShop | None = None,
    encoder: ImageEncoder | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n_items, dim) pooled CNN features of ``shop.images``, row i = item i.

    ``shop`` defaults to ``load_fashion_shop()``, ``encoder`` to ``ImageEncoder()``
    (EfficientNet-Lite0, 1,280-d). The first call runs the CNN over every image (minutes on a
    2-core CPU); later calls read the cache.
    """
    shop = shop or _load_shop()
    return cached_encode(encoder or ImageEncoder(), shop.images, cache_dir, progress=progress)


def _load_shop() -> FashionShop:
    from course_utils.data import load_fashion_shop

    return load_fashion_shop()
