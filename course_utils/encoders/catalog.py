"""Embed a dataset's catalog once per model: item texts (any dataset) and item images (the shop).

Every dataset loader exposes its item text as ``.texts`` (row ``i`` = item ``i``):
``FashionShop.texts`` is ``"<title>. <description>"``, ``MovieLens100k.texts`` is
``"<title> (<year>). Genres: <g1>, <g2>."``. Later notebooks (diversity, fusion, re-ranking,
the capstone) all start from these matrices; computing them through :func:`cached_encode`
means each model runs once per machine, and every notebook measures in the same space::

    text_vectors = catalog_text_embeddings()              # shop: (4000, 384), unit length
    movie_vectors = catalog_text_embeddings(movielens)    # MovieLens: (1682, 384)
    image_vectors = catalog_image_embeddings()            # shop: (4000, 1280), row i = item i
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from course_utils.encoders.cache import cached_encode
from course_utils.encoders.image import ImageEncoder
from course_utils.encoders.text import TextEncoder

if TYPE_CHECKING:
    from course_utils.data import FashionShop


class HasItemTexts(Protocol):
    """A loaded dataset with one text per item, row ``i`` = item ``i`` (FashionShop, MovieLens100k)."""

    @property
    def texts(self) -> list[str]: ...


def catalog_text_embeddings(
    dataset: HasItemTexts | None = None,
    encoder: TextEncoder | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n_items, dim) embeddings of ``dataset.texts``, row i = item i, through the embedding cache.

    ``dataset`` is any loaded dataset with a ``.texts`` list (``load_fashion_shop()``,
    ``load_movielens_100k()``, a ``FashionShop.subset``); it defaults to the Fashion Shop.
    ``encoder`` defaults to ``TextEncoder()`` (all-MiniLM-L6-v2, mean pooling, unit length).
    """
    dataset = dataset if dataset is not None else _load_shop()
    texts = getattr(dataset, "texts", None)
    if texts is None:
        raise TypeError(
            "catalog_text_embeddings needs a dataset with item texts (.texts), "
            f"got {type(dataset).__name__}; "
            "pass load_fashion_shop() or load_movielens_100k()"
        )
    return cached_encode(encoder or TextEncoder(), list(texts), cache_dir, progress=progress)


def catalog_image_embeddings(
    shop: FashionShop | None = None,
    encoder: ImageEncoder | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n_items, dim) pooled CNN features of ``shop.images``, row i = item i.

    ``shop`` defaults to ``load_fashion_shop()`` (a ``FashionShop.subset`` works too),
    ``encoder`` to ``ImageEncoder()`` (EfficientNet-Lite0, 1,280-d). The first call runs the
    CNN over every image (minutes on a 2-core CPU); later calls read the cache.
    """
    shop = shop if shop is not None else _load_shop()
    images = getattr(shop, "images", None)
    if images is None:
        raise TypeError(
            "catalog_image_embeddings needs a dataset with item images (.images), "
            f"got {type(shop).__name__}; "
            "only the Fashion Shop has images (MovieLens-100k has titles and genres: use "
            "catalog_text_embeddings)"
        )
    return cached_encode(encoder or ImageEncoder(), images, cache_dir, progress=progress)


def _load_shop() -> FashionShop:
    from course_utils.data import load_fashion_shop

    return load_fashion_shop()
