"""Course-wide settings: where things live, fast mode, device choice and seeding.

Everything a notebook needs to know about its environment comes from here, so that the
same notebook runs unchanged on a laptop CPU, a CUDA GPU or an Apple-silicon Mac.

Environment variables (all optional):

``COURSE_FAST``
    ``1`` shrinks data and epochs so every notebook runs in seconds (CI uses it).
``COURSE_DATA_DIR``
    where downloaded / converted data lives (MovieLens-100k); default ``<repo>/data``.
``COURSE_CACHE_DIR``
    where embeddings and checkpoints are cached; default ``<repo>/.cache``.
``COURSE_DEVICE``
    force ``cpu``, ``cuda`` or ``mps`` instead of the automatic choice.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATASETS_DIR = REPO_ROOT / "datasets"

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` asks for the small, quick version of every notebook."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in _TRUE


def course_data_dir() -> Path:
    """Directory for data the course may not redistribute (git-ignored)."""
    return Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data")).expanduser()


def cache_dir() -> Path:
    """Directory for cached embeddings and checkpoints (git-ignored)."""
    return Path(os.environ.get("COURSE_CACHE_DIR", REPO_ROOT / ".cache")).expanduser()


def pick_device(preferred: str | None = None) -> torch.device:
    """Return the best available device: ``COURSE_DEVICE`` or ``preferred``, else CUDA, MPS, CPU.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` when the requested
    accelerator is not available, rather than silently running somewhere else.
    """
    name = (preferred or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"unknown device {name!r}: use 'cpu', 'cuda' or 'mps'")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("MPS was requested but torch.backends.mps.is_available() is False")
    return torch.device(name)


def seed_everything(seed: int = 42) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a fresh NumPy ``Generator``.

    Prefer passing the returned generator around over relying on global state.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
