"""Course-wide settings: where things live, fast mode, device choice and seeding.

Everything a notebook needs to know about its environment comes from here, so that the
same notebook runs unchanged on a laptop CPU, a CUDA GPU or an Apple-silicon Mac.

Environment variables (all optional; an empty value means "unset"):

``COURSE_FAST``
    ``1``/``true``/``yes``/``on`` shrinks data and epochs so every notebook runs in seconds (CI
    uses it); ``0``/``false``/``no``/``off`` or unset is full mode. Case and surrounding spaces do
    not matter; anything else is an error (a typo must not silently mean an hour-long full run).
``COURSE_DATA_DIR``
    where downloaded / converted data lives (MovieLens-100k); default ``<repo>/data``.
``COURSE_CACHE_DIR``
    where embeddings and checkpoints are cached; default ``<repo>/.cache``.
``COURSE_DEVICE``
    force ``cpu``, ``cuda``, ``cuda:N`` (the N-th GPU) or ``mps`` instead of the automatic choice.

A relative ``COURSE_DATA_DIR`` / ``COURSE_CACHE_DIR`` is resolved against the repository root,
not the current directory (Jupyter runs notebooks from ``notebooks/``, ``make`` from the root),
and ``~`` is expanded.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATASETS_DIR = REPO_ROOT / "datasets"

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` asks for the small, quick version of every notebook.

    Accepts 1/true/yes/on and 0/false/no/off (any case, spaces stripped); empty or unset is
    False. Raises ``ValueError`` naming ``COURSE_FAST`` for anything else.
    """
    value = os.environ.get("COURSE_FAST", "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS or not value:
        return False
    raise ValueError(
        f"COURSE_FAST={os.environ['COURSE_FAST']!r} is not understood: use one of "
        f"{', '.join(TRUE_WORDS)} (fast mode) or {', '.join(FALSE_WORDS)} (full mode), "
        "or unset it (full mode)"
    )


def _directory_setting(variable: str, default: Path) -> Path:
    """``$variable`` as a folder: empty or unset means ``default``; relative means under the repo root."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def course_data_dir() -> Path:
    """Folder for data the course may not redistribute: ``COURSE_DATA_DIR``, default ``<repo>/data``."""
    return _directory_setting("COURSE_DATA_DIR", REPO_ROOT / "data")


def cache_dir() -> Path:
    """Folder for cached embeddings and checkpoints: ``COURSE_CACHE_DIR``, default ``<repo>/.cache``."""
    return _directory_setting("COURSE_CACHE_DIR", REPO_ROOT / ".cache")


_warned_unwritable: set[tuple[str, Path]] = set()  # (kind of cache, COURSE_CACHE_DIR) already warned about


def warn_cache_unwritable(what: str, path: Path, error: OSError, consequence: str) -> None:
    """Warn that ``path`` (a ``what``: "embedding cache entry", ...) could not be written; the caller goes on.

    ``consequence`` says what the learner keeps and loses (e.g. "The embeddings were computed and are
    returned, but will be recomputed next time."). The message names ``COURSE_CACHE_DIR`` and where it
    points, which is what a learner can change. Shown once per process for each kind of cache and
    cache folder, so a notebook that writes many entries warns once.
    """
    key = (what, cache_dir())
    if key in _warned_unwritable:
        return
    _warned_unwritable.add(key)
    warnings.warn(
        f"could not write the {what} at {path} ({type(error).__name__}: {error}). {consequence} "
        f"Fix: set COURSE_CACHE_DIR (now {cache_dir()}) to a writable folder with free space. "
        "(This warning is shown once per session.)",
        stacklevel=3,
    )


def available_devices() -> list[str]:
    """The devices torch can use here, e.g. ``['cpu', 'cuda:0', 'cuda:1']`` or ``['cpu', 'mps']``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to use: ``preferred``, else ``COURSE_DEVICE``, else CUDA, MPS, CPU.

    Names are ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` (any case). Raises ``ValueError`` for an
    unknown name and ``RuntimeError`` when the requested accelerator is not on this machine,
    rather than silently running somewhere else; both name the setting (``COURSE_DEVICE`` or
    the ``device`` argument) and list the devices found.
    """
    if isinstance(preferred, torch.device):
        preferred = str(preferred)  # a device already picked (DEVICE = pick_device()): check its name
    setting = "device" if preferred else "COURSE_DEVICE"
    name = (preferred or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    found = available_devices()
    fix = f"devices found on this machine: {', '.join(found)}; " + (
        "unset COURSE_DEVICE for the automatic choice" if setting == "COURSE_DEVICE" else "pass one of them"
    )
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise ValueError(f"{setting}={name!r} is not a device name (use cpu, cuda, cuda:N or mps); {fix}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{setting}={name!r} asks for CUDA, but torch finds no CUDA GPU; {fix}")
    if name.startswith("cuda:") and name not in found:
        raise RuntimeError(f"{setting}={name!r} asks for a GPU that is not there; {fix}")
    if name == "mps" and "mps" not in found:
        raise RuntimeError(f"{setting}={name!r} asks for Apple MPS, but it is not available; {fix}")
    return torch.device(name)


def seed_everything(seed: int = 42) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a fresh NumPy ``Generator``.

    Prefer passing the returned generator around over relying on global state.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
