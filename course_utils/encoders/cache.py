"""An on-disk cache of embeddings, so each catalog is encoded once per model.

Each entry is one ``.npz`` file named by ``sha256(model_id, content hash of the inputs)``,
holding the embedding matrix and a SHA-256 checksum of its bytes. Reads verify the checksum
(and the shape), so a damaged file is noticed, reported and rebuilt instead of silently
returning wrong vectors. Writes go to a temporary file in the same folder, are flushed to
disk, then renamed over the target with ``os.replace`` -- atomic on POSIX and Windows -- so
an interrupted run never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from course_utils import config
from course_utils.encoders.fingerprint import content_hash


class Encoder(Protocol):
    """Anything with a stable ``model_id`` and ``encode(inputs, progress=...) -> (n, dim)``."""

    model_id: str

    def encode(self, inputs, *, progress: bool = False) -> np.ndarray: ...


def embeddings_dir(cache_dir: str | Path | None = None) -> Path:
    """Where cached embeddings live: ``cache_dir`` if given, else ``config.cache_dir()/embeddings``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else config.cache_dir() / "embeddings"


def cache_key(model_id: str, inputs: Sequence[str] | np.ndarray) -> str:
    """``sha256(model_id + "|" + content_hash(inputs))`` in hex: the file name of an entry."""
    return hashlib.sha256(f"{model_id}|{content_hash(inputs)}".encode()).hexdigest()


def cached_encode(
    encoder: Encoder,
    inputs: Sequence[str] | np.ndarray,
    cache_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> np.ndarray:
    """``encoder.encode(inputs)``, read from the cache when the same model saw the same inputs.

    A miss (or a damaged entry) computes the embeddings and stores them atomically; a hit
    returns the stored (n_inputs, dim) float32 matrix without running the model.
    """
    if isinstance(inputs, str):
        raise TypeError("pass a list of strings, not a single string")
    if len(inputs) == 0:
        raise ValueError("no inputs to encode: got an empty list")
    path = embeddings_dir(cache_dir) / f"{cache_key(encoder.model_id, inputs)}.npz"
    if path.exists():
        embeddings = _read_entry(path, n_rows=len(inputs))
        if embeddings is not None:
            return embeddings
    embeddings = np.asarray(encoder.encode(inputs, progress=progress), dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(inputs):
        raise ValueError(
            f"{type(encoder).__name__}.encode returned shape {embeddings.shape} for {len(inputs)} inputs; "
            "expected (n_inputs, dim)"
        )
    _write_entry(path, embeddings, model_id=encoder.model_id)
    return embeddings


def _checksum(embeddings: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(embeddings).tobytes()).hexdigest()


def _read_entry(path: Path, n_rows: int) -> np.ndarray | None:
    """The stored matrix, or ``None`` (with a warning) when the entry is damaged."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            embeddings = entry["embeddings"]
            stored_checksum = str(entry["sha256"])
        if _checksum(embeddings) != stored_checksum:
            problem = "checksum mismatch"
        elif embeddings.ndim != 2 or embeddings.shape[0] != n_rows:
            problem = f"shape {embeddings.shape} does not match {n_rows} inputs"
        else:
            return embeddings
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    warnings.warn(f"embedding cache entry {path.name} is damaged ({problem}); recomputing it", stacklevel=3)
    return None


def _write_entry(path: Path, embeddings: np.ndarray, model_id: str) -> None:
    """Write ``embeddings`` to ``path`` atomically: temporary file, fsync, ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder (os.replace is only atomic within one file system);
    # open(..., "xb") refuses to overwrite and, unlike tempfile.mkstemp, honours the umask.
    temporary = path.with_name(f".{path.stem[:16]}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    handle = open(temporary, "xb")  # opened before `try`: a failure here leaves nothing to clean up
    try:
        with handle:
            np.savez(handle, embeddings=embeddings, sha256=_checksum(embeddings), model_id=model_id)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
