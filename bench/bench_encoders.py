"""Benchmark: encoder throughput and what the embedding cache saves.

Run with ``make bench`` or ``python bench/bench_encoders.py [--quick]``. Three measurements:

1. text: sentences/s of ``TextEncoder`` vs sentence-transformers' own ``encode`` on the same
   model (bundled all-MiniLM-L6-v2), the same inputs and batch size, in one run; their ratio
   (target >= 1.0: length-sorted batching and ``torch.inference_mode`` should get there);
2. image: images/s of ``ImageEncoder`` (EfficientNet-Lite0, 224 px input) on shop-sized
   28 x 28 colour images;
3. cache: cold (empty cache) vs warm seconds to embed the Fashion Shop catalog's text and
   images through ``cached_encode``, in a temporary cache folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from course_utils.data import load_fashion_shop
from course_utils.encoders.cache import cached_encode
from course_utils.encoders.image import ImageEncoder
from course_utils.encoders.text import TextEncoder, bundled_minilm_dir


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeats`` wall-clock timings, in seconds (the least disturbed run)."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def bench_text(texts: list[str], batch_size: int, repeats: int) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    ours = TextEncoder(batch_size=batch_size)
    reference = SentenceTransformer(str(bundled_minilm_dir()), device=str(ours.device))
    ours.encode(texts[:batch_size])  # warm-up: first-call allocations
    reference.encode(texts[:batch_size], batch_size=batch_size)
    ours_seconds = best_of(repeats, lambda: ours.encode(texts))
    reference_seconds = best_of(repeats, lambda: reference.encode(texts, batch_size=batch_size))
    return {
        "TextEncoder sentences/s": len(texts) / ours_seconds,
        "sentence-transformers sentences/s": len(texts) / reference_seconds,
        "speed ratio (ours / sentence-transformers)": reference_seconds / ours_seconds,
    }


def bench_image(images: np.ndarray, batch_size: int) -> dict[str, float]:
    encoder = ImageEncoder(batch_size=batch_size)
    encoder.encode(images[:batch_size])  # warm-up
    seconds = best_of(1, lambda: encoder.encode(images))
    return {"ImageEncoder images/s (224 px)": len(images) / seconds}


def bench_cache(texts: list[str], images: np.ndarray) -> dict[str, float]:
    text_encoder, image_encoder = TextEncoder(), ImageEncoder()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, encoder, inputs in (("text", text_encoder, texts), ("image", image_encoder, images)):

            def embed(encoder=encoder, inputs=inputs) -> np.ndarray:
                return cached_encode(encoder, inputs, cache_dir=folder, progress=False)

            cold, warm = best_of(1, embed), best_of(3, embed)  # the first call fills the cache
            results[f"catalog {name} ({len(inputs)} items) cold s"] = cold
            results[f"catalog {name} ({len(inputs)} items) warm s"] = warm
    return results


def shop_catalog(max_items: int | None) -> tuple[list[str], np.ndarray]:
    """The shop's item texts and images (the first ``max_items``, or all)."""
    shop = load_fashion_shop()
    texts, images = shop.texts, shop.images
    if max_items is not None:
        texts, images = texts[:max_items], images[:max_items]
    return texts, images


def main(quick: bool = False) -> None:
    # Other processes slow every number down: report the load the measurement ran under.
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    texts, images = shop_catalog(max_items=400 if quick else None)
    results = bench_text(texts, batch_size=64, repeats=2 if quick else 3)
    results |= bench_image(images[: 64 if quick else 512], batch_size=64)
    results |= bench_cache(texts, images[:128] if quick else images)
    table = pd.Series(results, name="value").to_frame()
    pd.set_option("display.float_format", lambda value: f"{value:,.4g}")  # warm reads take milliseconds
    print(table.to_string())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    main(quick=parser.parse_args().quick)
