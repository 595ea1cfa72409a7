import json

import numpy as np
import pytest

from course_utils.augment.text import (
    STOPWORDS,
    TokenNeighbours,
    detokenize,
    eda,
    embedding_replacement,
    load_lexicon,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
    tokenize,
)

TEXT = "Comfortable cotton pullover in grey, perfect for autumn. Only $49.99!"
TINY_LEXICON = {"pullover": ("sweater", "jumper"), "grey": ("gray",), "comfortable": ("cosy",)}


def words(text):
    return [token for token in tokenize(text) if token[:1].isalpha()]


def test_tokenize_round_trip_and_word_units():
    assert detokenize(tokenize(TEXT)) == TEXT
    expected = "Soft | t-shirt | / | top | , | women's | ( | size | M | ) | 20 | % | off".split(" | ")
    assert tokenize("Soft t-shirt/top, women's (size M) 20% off") == expected


@pytest.mark.parametrize(
    "text",
    ["Calder 'Luna' dress, 100% cotton.", 'The "Nova" coat (wool).', "Men's shoes: 'Rio', 'Sol' and 'Mar'."],
)
def test_detokenize_pairs_quotes_and_reads_punctuation_runs(text):
    assert detokenize(tokenize(text)) == text


def test_shipped_lexicon_is_symmetric_and_single_word_keyed():
    lexicon = load_lexicon()
    assert {"sweater", "jumper"} <= set(lexicon["pullover"])
    assert "pullover" in lexicon["jumper"]
    assert all(" " not in word and word == word.lower() for word in lexicon)
    assert "tee shirt" in lexicon["t-shirt"] and "tee shirt" not in lexicon  # multi-word: replacement only


def test_lexicon_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lexicon"):
        load_lexicon(tmp_path / "missing.json")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"groups": []}))
    with pytest.raises(ValueError, match="groups"):
        load_lexicon(empty)


def test_synonym_replacement_replaces_n_words_keeps_case_and_punctuation():
    out = synonym_replacement(TEXT, n=3, lexicon=TINY_LEXICON, rng=0)
    assert out.startswith("Cosy cotton ")  # capital kept
    assert ("sweater" in out or "jumper" in out) and "gray," in out
    assert out.endswith("Only $49.99!")


def test_synonym_replacement_without_candidates_returns_text():
    plain = "A plain description."
    assert synonym_replacement(plain, n=2, lexicon=TINY_LEXICON, rng=0) == plain


@pytest.mark.parametrize(
    "augment",
    [
        lambda text, rng: synonym_replacement(text, 2, rng=rng),
        lambda text, rng: random_insertion(text, 2, rng=rng),
        lambda text, rng: random_swap(text, 2, rng=rng),
        lambda text, rng: random_deletion(text, 0.3, rng=rng),
    ],
    ids=["SR", "RI", "RS", "RD"],
)
def test_every_operation_is_deterministic_under_a_seed(augment):
    outputs = {augment(TEXT, seed) for seed in range(6)}
    assert augment(TEXT, 3) == augment(TEXT, 3)
    assert len(outputs) > 1  # different seeds give different augmentations


def test_random_swap_is_a_permutation_of_the_words():
    out = random_swap(TEXT, n=3, rng=1)
    assert sorted(words(out)) == sorted(words(TEXT)) and out != TEXT
    assert out.endswith("$49.99!")  # numbers and punctuation stay in place


def test_random_insertion_only_adds_synonyms_of_words_present():
    out = random_insertion(TEXT, n=2, lexicon=TINY_LEXICON, rng=0)
    added = set(words(out)) - set(words(TEXT))
    assert 1 <= len(added) and added <= {"sweater", "jumper", "gray", "cosy"}


def test_random_deletion_never_returns_an_empty_string():
    for seed in range(20):
        out = random_deletion("Soft wool coat", p=1.0, rng=seed)
        assert len(words(out)) == 1 and out in {"Soft", "wool", "coat"}


def test_eda_cycles_the_four_operations():
    augmented = eda(TEXT, n_aug=8, alpha=0.2, lexicon=TINY_LEXICON, rng=0)
    assert len(augmented) == 8 and eda(TEXT, n_aug=8, alpha=0.2, lexicon=TINY_LEXICON, rng=0) == augmented
    assert all(words(text) for text in augmented)
    assert sorted(words(augmented[2])) == sorted(words(TEXT))  # the third one is a swap
    assert len(words(augmented[1])) > len(words(TEXT))  # the second one an insertion


def test_bad_text_gets_clear_errors():
    for bad in ["", "   ", "!!! 42"]:
        with pytest.raises(ValueError, match="no word"):
            synonym_replacement(bad)
    with pytest.raises(TypeError, match="str"):
        random_swap(["a", "list"])
    with pytest.raises(ValueError, match="probability"):
        random_deletion(TEXT, p=1.5)
    with pytest.raises(ValueError, match="n must be"):
        random_insertion(TEXT, n=-1)


@pytest.fixture
def tiny_neighbours():
    """A 6-word vocabulary in 2-D: colours point one way, garments another."""
    vocabulary = ["[PAD]", "##s", "red", "blue", "coat", "jacket", "the", "x"]
    embeddings = np.array(
        [[0, 0], [1, 1], [1.0, 0.1], [1.0, 0.2], [0.1, 1.0], [0.2, 1.0], [1, 1], [0.5, 0.5]], dtype=np.float32
    )
    return TokenNeighbours.from_vocabulary(vocabulary, embeddings)


def test_token_neighbours_keep_whole_words_only(tiny_neighbours):
    # no [PAD], no ##s, no stop word, no single letter:
    assert set(tiny_neighbours.words) == {"red", "blue", "coat", "jacket"}
    assert "Red" in tiny_neighbours and "##s" not in tiny_neighbours
    assert [word for word, _ in tiny_neighbours.neighbours("red", k=2)] == ["blue", "jacket"]
    cosine = tiny_neighbours.neighbours("coat", k=1)[0][1]
    assert cosine == pytest.approx((0.1 * 0.2 + 1.0) / (np.hypot(0.1, 1) * np.hypot(0.2, 1)), rel=1e-6)
    with pytest.raises(KeyError, match="whole-word"):
        tiny_neighbours.neighbours("t-shirt")


def test_embedding_replacement_uses_nearest_neighbours(tiny_neighbours):
    out = embedding_replacement("A Red coat, warm.", tiny_neighbours, n=2, k=1, rng=0)
    assert out == "A Blue jacket, warm."
    assert embedding_replacement("Nothing known here", tiny_neighbours, n=2, rng=0) == "Nothing known here"


def test_minilm_neighbours_are_whole_word_tokens_of_its_tokenizer():
    from transformers import AutoTokenizer

    from course_utils.encoders.text import bundled_minilm_dir

    neighbours = TokenNeighbours.from_pretrained()
    assert neighbours.unit_vectors.shape == (len(neighbours), 384)
    assert np.allclose(np.linalg.norm(neighbours.unit_vectors[:50], axis=1), 1.0, atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_dir())
    for word in ["coat", "cotton", "grey", "elegant"]:
        assert tokenizer.tokenize(word) == [word]
        assert all(tokenizer.tokenize(other) == [other] for other, _ in neighbours.neighbours(word, 5))
    assert "gray" in dict(neighbours.neighbours("grey", 3))
    assert not STOPWORDS & set(neighbours.words)
