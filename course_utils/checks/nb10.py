"""Exercises of notebook 10 (data augmentation): synonym replacement and a CL4SRec crop."""

from __future__ import annotations

import numpy as np

from course_utils.augment import interactions, text
from course_utils.exercises import Exercise

_LEXICON = {"pullover": ("sweater", "jumper"), "grey": ("gray",), "cosy": ("comfortable",)}
_TEXT = "Cosy grey pullover, the warm one."


def _test_synonym_replacement(candidate) -> None:
    if candidate(_TEXT, 0, _LEXICON, 0) != _TEXT:
        raise AssertionError("with n=0 the text must come back unchanged.")
    out = candidate(_TEXT, 3, _LEXICON, 0)
    if not isinstance(out, str):
        raise AssertionError(f"return a string, got {type(out).__name__}.")
    words = text.tokenize(out)
    if not out.startswith("Comfortable gray "):
        raise AssertionError(
            f"with n=3 all three words that have synonyms change, keeping their capitalisation: "
            f"expected 'Comfortable gray ...', got {out!r}."
        )
    if "pullover" in words or not {"sweater", "jumper"} & set(words):
        raise AssertionError(f"'pullover' should become 'sweater' or 'jumper': got {out!r}.")
    if not out.endswith(", the warm one."):
        raise AssertionError(f"words without synonyms and punctuation must stay as they are: got {out!r}.")
    one = candidate(_TEXT, 1, _LEXICON, 5)
    if one != candidate(_TEXT, 1, _LEXICON, 5):
        raise AssertionError("the same seed must give the same text: draw from np.random.default_rng(rng).")
    changed = sum(a != b for a, b in zip(text.tokenize(one), text.tokenize(_TEXT), strict=False))
    if changed != 1:
        raise AssertionError(f"with n=1 exactly one word changes; {changed} changed in {one!r}.")
    if candidate("A plain dress.", 2, _LEXICON, 0) != "A plain dress.":
        raise AssertionError("a text with no word in the lexicon must come back unchanged.")


synonym_replacement = Exercise(
    "Synonym replacement (EDA's SR)",
    test=_test_synonym_replacement,
    hint="""Tokenise, list the positions of word tokens whose lower case is in the lexicon (and not a
    stop word), pick n of them with rng.permutation(candidates)[:n], replace each by a random
    synonym (rng.integers(len(synonyms))), keep the capitalisation with
    course_utils.augment.text.match_case, and detokenise.""",
    reference=text.synonym_replacement,
)

_SEQUENCE = np.arange(100, 110)  # ten items, ids 100..109


def _test_crop_sequence(candidate) -> None:
    original = _SEQUENCE.copy()
    crops = [np.asarray(candidate(_SEQUENCE, 0.6, seed)) for seed in range(12)]
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
    if len({int(crop[0]) for crop in crops}) < 2:
        raise AssertionError("the window's start must be random: different seeds should give other crops.")
    if not np.array_equal(candidate(_SEQUENCE, 0.6, 3), candidate(_SEQUENCE, 0.6, 3)):
        raise AssertionError("the same seed must give the same crop: draw from np.random.default_rng(rng).")
    if len(candidate(_SEQUENCE, 0.05, 0)) != 1:
        raise AssertionError("a crop is never empty: keep max(1, floor(eta * n)) items.")
    if not np.array_equal(candidate(_SEQUENCE, 1.0, 0), _SEQUENCE):
        raise AssertionError("eta=1 keeps the whole sequence.")


crop_sequence = Exercise(
    "CL4SRec item crop",
    test=_test_crop_sequence,
    hint="""length = max(1, int(np.floor(eta * n))); start = rng.integers(n - length + 1) with
    rng = np.random.default_rng(rng); return sequence[start : start + length].copy().""",
    reference=interactions.crop_sequence,
)
