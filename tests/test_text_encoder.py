"""TextEncoder: matches sentence-transformers, keeps input order, pools correctly, stays offline."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from course_utils.encoders.text import TextEncoder, bundled_minilm_dir, cls_pool, mean_pool

SENTENCES = [
    "A red cotton summer dress.",
    "Warm wool coat for winter evenings, with deep pockets and a detachable hood.",
    "sneakers",
    "",
    "Leather ankle boots with laces; water-resistant and lined with soft fleece for cold days.",
    "Blue denim shirt",
    "An elegant black evening bag",
    "Striped linen trousers, relaxed fit, breezy and light -- perfect for a seaside holiday.",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a network connection, and tell Hugging Face libraries to stay offline."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu", batch_size=3)


def test_default_model_loads_and_encodes_without_network(no_network: None) -> None:
    embeddings = TextEncoder(device="cpu").encode(SENTENCES[:2])
    assert embeddings.shape == (2, 384)


def test_matches_sentence_transformers(encoder: TextEncoder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(bundled_minilm_dir()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_numpy=True)
    ours = encoder.encode(SENTENCES)
    assert ours.dtype == np.float32 and ours.shape == (len(SENTENCES), 384)
    assert np.abs(ours - expected).max() < 1e-5


def test_rows_follow_input_order_after_length_sorting(encoder: TextEncoder) -> None:
    batched = encoder.encode(SENTENCES, batch_size=3)  # sorted by length inside
    one_by_one = np.concatenate([encoder.encode([text], batch_size=1) for text in SENTENCES])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reversed_input = encoder.encode(SENTENCES[::-1], batch_size=3)
    np.testing.assert_allclose(reversed_input[::-1], batched, atol=1e-5)


def test_embeddings_are_unit_length_and_deterministic(encoder: TextEncoder) -> None:
    first = encoder.encode(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, encoder.encode(SENTENCES))


def test_similar_sentences_are_closer_than_unrelated_ones(encoder: TextEncoder) -> None:
    dress, gown, engine = encoder.encode(
        ["a red summer dress", "a crimson sundress", "a diesel engine for trucks"]
    )
    assert dress @ gown > dress @ engine + 0.2


def test_mean_pool_ignores_padding_hand_computed() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3 tokens, 2)
    mask = torch.tensor([[1, 1, 0]])  # the third token is padding
    torch.testing.assert_close(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))
    torch.testing.assert_close(cls_pool(hidden), torch.tensor([[1.0, 2.0]]))


def test_mean_pool_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(torch.zeros(2, 3, 4), torch.ones(2, 4))


def test_cls_pooling_and_unnormalised_options() -> None:
    cls_encoder = TextEncoder(pooling="cls", normalize=False, device="cpu")
    hidden, mask = cls_encoder.token_embeddings(SENTENCES[:2])
    assert hidden.shape[:2] == mask.shape and hidden.shape[-1] == 384
    np.testing.assert_allclose(cls_encoder.encode(SENTENCES[:2]), hidden[:, 0].numpy(), atol=1e-5)
    assert cls_encoder.model_id != TextEncoder(device="cpu").model_id


def test_model_id_is_stable_and_names_the_weights(encoder: TextEncoder) -> None:
    assert encoder.model_id == TextEncoder(device="cpu").model_id
    assert encoder.model_id.startswith("text:all-MiniLM-L6-v2@")


def test_local_model_folder_is_accepted(encoder: TextEncoder) -> None:
    from_folder = TextEncoder(str(bundled_minilm_dir()), device="cpu")
    np.testing.assert_allclose(from_folder.encode(SENTENCES[:2]), encoder.encode(SENTENCES[:2]), atol=1e-6)


@pytest.mark.parametrize(
    ("texts", "error", "message"),
    [
        ([], ValueError, "empty"),
        ("just one string", TypeError, "list of strings"),
        (["fine", float("nan")], TypeError, r"texts\[1\] is float"),
        (None, TypeError, "texts is None"),
    ],
)
def test_bad_texts_get_clear_errors(encoder: TextEncoder, texts, error, message) -> None:
    with pytest.raises(error, match=message):
        encoder.encode(texts)


@pytest.mark.parametrize(
    ("batch_size", "error", "message"),
    [
        (0, ValueError, "batch_size must be >= 1, got 0"),
        (-1, ValueError, "batch_size must be >= 1, got -1"),
        (True, TypeError, r"got bool \(True\)"),
        (2.5, TypeError, r"got float \(2.5\)"),
    ],
)
def test_bad_batch_sizes_are_refused(encoder: TextEncoder, batch_size, error, message) -> None:
    with pytest.raises(error, match=message):
        encoder.encode(SENTENCES[:2], batch_size=batch_size)
    with pytest.raises(error, match=message):
        TextEncoder(device="cpu", batch_size=batch_size)


def test_model_id_covers_tokenizer_and_code_version(
    encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from course_utils.encoders import text
    from course_utils.encoders.fingerprint import tokenizer_fingerprint

    assert f":tok{tokenizer_fingerprint(encoder.tokenizer)}:" in encoder.model_id
    encoder.encode(SENTENCES[:3])  # tokenising changes the tokenizer's truncation state, not its fingerprint
    assert f":tok{tokenizer_fingerprint(encoder.tokenizer)}:" in encoder.model_id
    monkeypatch.setattr(text, "ENCODER_VERSION", text.ENCODER_VERSION + 1)
    assert TextEncoder(device="cpu").model_id != encoder.model_id


def test_bad_options_get_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown pooling"):
        TextEncoder(pooling="max")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextEncoder("./no/such/model/folder")


def test_unknown_hub_model_offline_names_the_fix(no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match=r"(?s)could not load text model .*Fix"):
        TextEncoder("no-such-org/no-such-model-xyz")
