"""Exercises of notebook 10 (data augmentation): synonym replacement and a CL4SRec crop."""

from __future__ import annotations

from functools import partial

import numpy as np

from course_utils.augment import interactions, text
from course_utils.exercises import Exercise, LearnerCodeFailed, Mistake

_LEXICON = {"pullover": ("sweater", "jumper"), "grey": ("gray",), "cosy": ("comfortable",)}
_TEXT = "Cosy grey pullover, the warm one."
_DEFAULT_LEXICON_TEXT = "Comfortable cotton pullover for the winter"  # two words of the course lexicon


def _test_synonym_replacement(candidate) -> None:
    unchanged = candidate(_TEXT, 0, _LEXICON, 0)
    if unchanged == " ".join(text.tokenize(_TEXT)):
        raise AssertionError(
            f"punctuation must stay where it was: glue the tokens back with text.detokenize, not ' '.join; "
            f"got {unchanged!r}."
        )
    if unchanged != _TEXT:
        raise AssertionError(
            f"with n=0 the text must come back unchanged (replace exactly n words), got {unchanged!r}."
        )
    try:
        out = candidate(_TEXT, 3, _LEXICON, 0)
    except LearnerCodeFailed as failure:
        if "KeyError" not in failure.message:
            raise
        raise AssertionError(
            "with n=3 all three words that have synonyms change; a KeyError suggests a position was picked "
            "twice and its replacement looked up again: pick n *distinct* positions (e.g. a permutation). "
            + failure.as_sentence
        ) from None
    if not isinstance(out, str):
        raise AssertionError(f"return a string, got {type(out).__name__}.")
    words = text.tokenize(out)
    if out.startswith("Cosy gray "):
        raise AssertionError(
            "'Cosy' was not replaced: the lexicon is lower case, look each word up in lower case; "
            f"got {out!r}."
        )
    if out.startswith("comfortable gray "):
        raise AssertionError(
            f"keep each word's capitalisation ('Cosy' -> 'Comfortable', text.match_case); got {out!r}."
        )
    if not out.startswith("Comfortable gray "):
        raise AssertionError(
            f"with n=3 all three words that have synonyms change, keeping their capitalisation: "
            f"expected 'Comfortable gray ...', got {out!r}."
        )
    if "pullover" in words or not {"sweater", "jumper"} & set(words):
        raise AssertionError(f"'pullover' should become 'sweater' or 'jumper': got {out!r}.")
    if not out.endswith(", the warm one."):
        raise AssertionError(
            f"words without synonyms and punctuation must stay as they are (text.detokenize glues the "
            f"punctuation back): got {out!r}."
        )
    # ten seeds, each run twice: an unseeded generator repeats itself in all ten by chance < 1e-4
    if any(candidate(_TEXT, 1, _LEXICON, seed) != candidate(_TEXT, 1, _LEXICON, seed) for seed in range(10)):
        raise AssertionError("the same seed must give the same text: draw from np.random.default_rng(rng).")
    one = candidate(_TEXT, 1, _LEXICON, 5)
    changed = sum(a != b for a, b in zip(text.tokenize(one), text.tokenize(_TEXT), strict=False))
    if changed != 1:
        raise AssertionError(
            f"with n=1 exactly one word changes (replace exactly n words); {changed} changed in {one!r}."
        )
    if candidate("A plain dress.", 2, _LEXICON, 0) != "A plain dress.":
        raise AssertionError("a text with no word in the lexicon must come back unchanged.")
    with_stop_word = candidate(_TEXT, 4, {**_LEXICON, "the": ("this",)}, 0)
    if "this" in text.tokenize(with_stop_word):
        raise AssertionError(
            "stop words ('the') stay even when the lexicon lists them (text.STOPWORDS); got "
            f"{with_stop_word!r}."
        )
    try:  # exactly the call the notebook makes later (cells 21 and 25): no lexicon, rng by keyword
        default = candidate(_DEFAULT_LEXICON_TEXT, 3, rng=0)
    except LearnerCodeFailed as failure:
        raise AssertionError(
            "the notebook later calls synonym_replacement(sentence, 3, rng=seed) without a lexicon: "
            "lexicon=None must mean the course's default lexicon, text.load_lexicon(). " + failure.as_sentence
        ) from None
    if not isinstance(default, str) or default == _DEFAULT_LEXICON_TEXT:
        raise AssertionError(
            "without a lexicon use the course's default one (text.load_lexicon()): "
            f"{_DEFAULT_LEXICON_TEXT!r} "
            f"has two words in it, got {default!r}."
        )


def _sr(
    sentence,
    n=1,
    lexicon=None,
    rng=0,
    default=True,
    lower=True,
    case=True,
    glue=True,
    distinct=True,
    stop=True,
    seeded=True,
    use_n=True,
):
    """A learner's synonym replacement; the keywords switch off one step each (the catalogued slips)."""
    if lexicon is None and default:
        lexicon = text.load_lexicon()
    rng = np.random.default_rng(rng if seeded else None)
    tokens = text.tokenize(sentence)
    key = str.lower if lower else str
    candidates = [
        i
        for i, token in enumerate(tokens)
        if text.is_word(token) and key(token) in lexicon and (not stop or token.lower() not in text.STOPWORDS)
    ]
    if not candidates:
        return sentence
    count = n if use_n else len(candidates)
    positions = rng.permutation(candidates)[:count] if distinct else rng.choice(candidates, count)
    for position in positions:
        synonyms = lexicon[key(tokens[position])]
        synonym = synonyms[rng.integers(len(synonyms))]
        tokens[position] = text.match_case(synonym, tokens[position]) if case else synonym
    return text.detokenize(tokens) if glue else " ".join(tokens)


def _sr_with_choice(sentence, n=1, lexicon=None, rng=0):
    lexicon = text.load_lexicon() if lexicon is None else lexicon
    rng = np.random.default_rng(rng)
    tokens = text.tokenize(sentence)
    candidates = [
        i
        for i, t in enumerate(tokens)
        if text.is_word(t) and t.lower() not in text.STOPWORDS and t.lower() in lexicon
    ]
    chosen = rng.choice(candidates, size=min(n, len(candidates)), replace=False) if candidates else []
    out = list(tokens)
    for i in chosen:
        out[i] = text.match_case(str(rng.choice(lexicon[tokens[i].lower()])), tokens[i])
    return text.detokenize(" ".join(out).split())


synonym_replacement = Exercise(
    "Synonym replacement (EDA's SR)",
    test=_test_synonym_replacement,
    hints=(
        "Find the words you may replace (in the lexicon, not stop words), choose n *different* ones at "
        "random, and swap each for one of its synonyms; everything else, punctuation included, stays. "
        "lexicon=None means the course's default lexicon (text.load_lexicon()): the notebook relies on it.",
        "Tokenise; list the positions of word tokens whose lower case is in the lexicon and not in "
        "text.STOPWORDS; take the first n of a random permutation of those positions; replace each by a "
        "random synonym with the original's capitalisation (text.match_case); detokenise. Draw everything "
        "from np.random.default_rng(rng).",
    ),
    reference=text.synonym_replacement,
    mistakes=[
        Mistake(
            "lexicon=None not handled",
            partial(_sr, default=False),
            "lexicon=None must mean the course's default",
        ),
        Mistake(
            "positions drawn with replacement", partial(_sr, distinct=False), "pick n *distinct* positions"
        ),
        Mistake("lookup not lower-cased", partial(_sr, lower=False), "look each word up in lower case"),
        Mistake("capitalisation lost", partial(_sr, case=False), "keep each word's capitalisation"),
        Mistake("joined with spaces", partial(_sr, glue=False), "punctuation must stay"),
        Mistake("n ignored", partial(_sr, use_n=False), "replace exactly n words"),
        Mistake("unseeded generator", partial(_sr, seeded=False), "the same seed must give the same text"),
        Mistake("stop words replaced", partial(_sr, stop=False), "stop words ('the') stay"),
    ],
    alternatives=[_sr, _sr_with_choice],
)

_SEQUENCE = np.arange(100, 110)  # ten items, ids 100..109


def _test_crop_sequence(candidate) -> None:
    original = _SEQUENCE.copy()
    raw = candidate(_SEQUENCE, 0.6, 0)
    if not isinstance(raw, np.ndarray):
        raise AssertionError(
            f"return a numpy array (as the other augmentations do), got {type(raw).__name__}."
        )
    if np.shares_memory(raw, _SEQUENCE):
        raise AssertionError(
            "return a new array (.copy()): a slice is a view, and editing it would edit the input."
        )
    crops = [np.asarray(candidate(_SEQUENCE, 0.6, seed)) for seed in range(200)]
    if not np.array_equal(_SEQUENCE, original):
        raise AssertionError("do not modify the input sequence: return a new array.")
    for crop in crops:
        if len(crop) != 6:
            raise AssertionError(
                f"a crop of 10 items with eta=0.6 keeps floor(6.0) = 6 items, got {len(crop)}."
            )
        start = int(crop[0]) - 100
        if not np.array_equal(crop, _SEQUENCE[start : start + 6]):
            raise AssertionError(f"a crop is one contiguous window of the sequence, got {crop.tolist()}.")
    starts = {int(crop[0]) - 100 for crop in crops}
    if len(starts) < 2:
        raise AssertionError("the window's start must be random: different seeds should give other crops.")
    if 4 not in starts:
        raise AssertionError(
            "in 200 draws the last window (start n - length = 4) never came up: the start can be any of "
            "0 .. n - length, that is n - length + 1 values (rng.integers excludes its upper bound)."
        )
    if starts != {0, 1, 2, 3, 4}:
        raise AssertionError(f"in 200 draws the start should take every value 0 .. 4, got {sorted(starts)}.")
    if not np.array_equal(candidate(_SEQUENCE, 0.6, 3), candidate(_SEQUENCE, 0.6, 3)):
        raise AssertionError("the same seed must give the same crop: draw from np.random.default_rng(rng).")
    if len(candidate(_SEQUENCE, 0.67, 0)) != 6:
        raise AssertionError("eta * n = 6.7 keeps floor(6.7) = 6 items: round down, not to the nearest.")
    if len(candidate(_SEQUENCE, 0.05, 0)) != 1:
        raise AssertionError("a crop is never empty: keep max(1, floor(eta * n)) items.")
    if not np.array_equal(candidate(_SEQUENCE, 1.0, 0), _SEQUENCE):
        raise AssertionError("eta=1 keeps the whole sequence.")
    history = list(range(7))  # the notebook crops one user's history, also by keyword
    assert len(candidate(history, 0.6, rng=0)) == 4, (
        "crop_sequence(history, 0.6, rng=seed) should keep 4 of 7 items."
    )


def _crop(
    sequence,
    eta=0.6,
    rng=0,
    size=None,
    last=True,
    copy=True,
    as_list=False,
    at_least_one=True,
    from_zero=False,
):
    """A learner's crop; the keywords switch on the catalogued slips."""
    rng = np.random.default_rng(rng)
    sequence = np.asarray(sequence)
    n = len(sequence)
    length = (size or (lambda x: int(np.floor(x))))(eta * n)
    length = max(1, length) if at_least_one else length
    start = (
        0 if from_zero else int(rng.integers(n - length + (1 if last else 0))) if n > length or last else 0
    )
    window = sequence[start : start + length]
    window = window.copy() if copy else window
    return window.tolist() if as_list else window


crop_sequence = Exercise(
    "CL4SRec item crop",
    test=_test_crop_sequence,
    hints=(
        "A crop is one contiguous window: choose its length from eta (rounded down, never 0), then a "
        "random start such that the window fits; every possible window must be able to come up.",
        "length = max(1, floor(eta * n)); the start is uniform on 0 .. n - length (rng.integers excludes "
        "its upper bound, so pass n - length + 1); return a copy of that slice (a slice alone is a view).",
    ),
    reference=interactions.crop_sequence,
    mistakes=[
        Mistake(
            "last window never drawn",
            partial(_crop, last=False),
            "the last window (start n - length = 4) never",
        ),
        Mistake("round instead of floor", partial(_crop, size=round), "round down, not to the nearest"),
        Mistake("a view, not a new array", partial(_crop, copy=False), "return a new array"),
        Mistake("a Python list", partial(_crop, as_list=True), "return a numpy array"),
        Mistake("max(1, .) forgotten", partial(_crop, at_least_one=False), "a crop is never empty"),
        Mistake("always starts at 0", partial(_crop, from_zero=True), "the window's start must be random"),
    ],
    alternatives=[
        _crop,
        lambda sequence, eta=0.6, rng=0: np.lib.stride_tricks.sliding_window_view(
            np.asarray(sequence), max(1, int(eta * len(sequence)))
        )[np.random.default_rng(rng).choice(len(sequence) - max(1, int(eta * len(sequence))) + 1)].copy(),
    ],
)
