"""An on-disk cache of embeddings, so each catalog is encoded once per model.

Each entry is one ``.npz`` file named by ``sha256(CACHE_FORMAT_VERSION, model_id, content hash of
the inputs)``, holding the embedding matrix, a SHA-256 checksum of its bytes and the ``model_id``.
The encoder's ``model_id`` names everything that shapes the vectors (weights, tokenizer,
preprocessing constants, pooling, normalisation, the encoder code's version), so a course update
that changes any of them misses the old entries instead of returning stale vectors.

Reads trust nothing: an entry is returned only when its checksum, its stored ``model_id``, its
shape (rows = inputs, columns = the encoder's ``dim``) and its values (all finite) check out;
otherwise a warning names the problem and the vectors are recomputed. Writes go to a temporary
file in the same folder, are flushed to disk, then renamed over the target with ``os.replace``
(atomic on POSIX and Windows), so an interrupted run never leaves a half-written entry. A cache
that cannot be written (read-only folder, full disk) costs a warning, never the computed vectors.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from course_utils import config
from course_utils.encoders.fingerprint import content_hash

#: Version of the entry layout and key recipe; bump it when either changes (old entries then miss).
CACHE_FORMAT_VERSION = 2
STALE_TEMPORARY_SECONDS = 3600  # a ``.tmp`` file this old is the leftover of a killed write



class Encoder(Protocol):
    """Anything with a stable ``model_id`` and ``encode(inputs, progress=...) -> (n, dim)``."""

    model_id: str

    def encode(self, inputs, *, progress: bool = False) -> np.ndarray: ...


def embeddings_dir(cache_dir: str | Path | None = None) -> Path:
    """Where cached embeddings live: ``cache_dir`` if given, else ``config.cache_dir()/embeddings``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else config.cache_dir() / "embeddings"


def cache_key(model_id: str, inputs: Sequence[str] | np.ndarray) -> str:
    """``sha256("v<CACHE_FORMAT_VERSION>|<model_id>|<content_hash(inputs)>")`` in hex: the entry's name."""
    return hashlib.sha256(f"v{CACHE_FORMAT_VERSION}|{model_id}|{content_hash(inputs)}".encode()).hexdigest()


def cached_encode(
    encoder: Encoder,
    inputs: Sequence[str] | np.ndarray,
    cache_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> np.ndarray:
    """``encoder.encode(inputs)``, read from the cache when the same model saw the same inputs.

    A miss (or a rejected entry) computes the embeddings and stores them atomically; a hit
    returns the stored (n_inputs, dim) float32 matrix without running the model. When the
    entry cannot be written, a warning says so and the computed matrix is returned all the same.
    """
    if inputs is None:
        raise TypeError("inputs is None: pass a list of strings or a uint8 image array (N, H, W, 3)")
    if isinstance(inputs, str):
        raise TypeError("pass a list of strings, not a single string")
    if len(inputs) == 0:
        raise ValueError("no inputs to encode: got an empty list")
    model_id = encoder.model_id
    path = embeddings_dir(cache_dir) / f"{cache_key(model_id, inputs)}.npz"
    if path.exists():
        embeddings = _read_entry(path, model_id, n_rows=len(inputs), dim=getattr(encoder, "dim", None))
        if embeddings is not None:
            return embeddings
    embeddings = np.asarray(encoder.encode(inputs, progress=progress), dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(inputs):
        raise ValueError(
            f"{type(encoder).__name__}.encode returned shape {embeddings.shape} for {len(inputs)} inputs; "
            "expected (n_inputs, dim)"
        )
    try:
        _write_entry(path, embeddings, model_id=model_id)
    except OSError as error:
        config.warn_cache_unwritable(
            "embedding cache entry", path, error,
            "The embeddings were computed and are returned, but will be recomputed next time.",
        )
    return embeddings


def _checksum(embeddings: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(embeddings).tobytes()).hexdigest()


def _read_entry(path: Path, model_id: str, n_rows: int, dim: int | None = None) -> np.ndarray | None:
    """The stored matrix, or ``None`` (with a warning) when the entry is damaged or not the one asked for."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            embeddings = entry["embeddings"]
            stored_checksum = str(entry["sha256"])
            stored_model_id = str(entry["model_id"])
        if _checksum(embeddings) != stored_checksum:
            problem = "checksum mismatch"
        elif stored_model_id != model_id:
            problem = f"it holds vectors of {stored_model_id!r}, not of {model_id!r}"
        elif embeddings.ndim != 2 or embeddings.shape[0] != n_rows:
            problem = f"shape {embeddings.shape} does not match {n_rows} inputs"
        elif dim is not None and embeddings.shape[1] != dim:
            problem = f"{embeddings.shape[1]} columns, but the encoder gives {dim}-d vectors"
        elif not np.isfinite(embeddings).all():
            problem = "it contains NaN or infinite values"
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
    _remove_stale_temporaries(path.parent)


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete ``.tmp`` files older than an hour: leftovers of writes killed mid-way (``kill -9``)."""
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for leftover in folder.glob(".*.tmp"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:  # another process removed it first, or no permission: not our business
            pass
