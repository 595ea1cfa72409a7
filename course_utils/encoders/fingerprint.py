"""Fingerprints: short, stable hashes that say *which* model and *which* inputs produced an embedding.

The embedding cache (``cache.py``) keys every entry by the encoder's ``model_id`` (built from
these fingerprints plus every preprocessing setting) and the inputs' content hash, so a changed
model (new weights, another tokenizer, other pooling or normalisation) or changed inputs (one
edited title) can never return stale vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 (hex, first 16 characters) over every tensor of ``model.state_dict()``.

    Each entry contributes its name, dtype, shape and raw bytes, in name order, so two models
    have the same fingerprint exactly when they compute the same function with the same
    architecture -- wherever the weights were loaded from (a pip package, the Hugging Face
    cache, a local folder).
    """
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """SHA-256 (hex, first 16 characters) of everything that decides how a tokenizer splits text.

    A fast tokenizer is hashed through its full serialisation (normaliser, pre-tokeniser,
    vocabulary, post-processor), minus the truncation and padding state that ``transformers``
    changes on every call; a slow one through its class and vocabulary. The ``transformers``
    and ``tokenizers`` versions are included, since an upgrade can change the splitting code.
    """
    import tokenizers
    import transformers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
    else:
        spec = sorted(tokenizer.get_vocab().items())
    digest = hashlib.sha256()
    digest.update(f"{type(tokenizer).__name__}|{transformers.__version__}|{tokenizers.__version__}|".encode())
    # No sort_keys: the serialisation's own order is deterministic (vocabulary by token id), and
    # sorting 30,000 entries would cost ten times more than the rest.
    digest.update(json.dumps(spec, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def content_hash(inputs: Sequence[str] | np.ndarray) -> str:
    """SHA-256 (hex) of a list of strings or of a numpy array (dtype, shape and bytes).

    Strings are hashed as their JSON list, so ``["ab", "c"]`` and ``["a", "bc"]`` differ and
    the order of the inputs matters (row ``i`` of a cached matrix belongs to input ``i``).
    """
    digest = hashlib.sha256()
    if isinstance(inputs, np.ndarray):
        array = np.ascontiguousarray(inputs)
        digest.update(f"ndarray|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    else:
        texts = list(inputs)
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("content_hash expects a numpy array or a sequence of str")
        digest.update(b"texts|")
        digest.update(json.dumps(texts, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()
