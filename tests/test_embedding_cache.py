"""The embedding cache: hits and misses, damaged entries rebuilt, atomic writes, keys."""

from __future__ import annotations

import os
import stat
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_utils import config
from course_utils.encoders import cache
from course_utils.encoders.cache import cache_key, cached_encode, embeddings_dir
from course_utils.encoders.fingerprint import content_hash


class CountingEncoder:
    """A tiny deterministic stand-in encoder (dim 4) that counts how often it really runs."""

    def __init__(self, model_id: str = "tiny-test-encoder@v1") -> None:
        self.model_id = model_id
        self.calls = 0

    def encode(self, inputs, *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        lengths = np.array([len(text) for text in inputs], dtype=np.float32)
        return np.stack([lengths, lengths**2, np.ones_like(lengths), -lengths], axis=1)  # (n, 4)


TEXTS = ["red dress", "blue shirt", "warm coat"]


def entries(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def test_miss_then_hit(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    first = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    second = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    assert encoder.calls == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, encoder.encode(TEXTS))
    assert second.dtype == np.float32 and [p.suffix for p in entries(tmp_path)] == [".npz"]


def test_other_inputs_or_other_model_miss(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    cached_encode(encoder, TEXTS[::-1], cache_dir=tmp_path)  # same texts, other order: other rows
    cached_encode(CountingEncoder("tiny-test-encoder@v2"), TEXTS, cache_dir=tmp_path)
    assert encoder.calls == 2 and len(entries(tmp_path)) == 3


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "empty"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    encoder = CountingEncoder()
    expected = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    (entry,) = entries(tmp_path)
    raw = bytearray(entry.read_bytes())
    if damage == "flip_bytes":  # inside the stored (uncompressed) float array
        start = raw.index(expected.tobytes())
        raw[start + 5] ^= 0xFF
        entry.write_bytes(bytes(raw))
    elif damage == "truncate":
        entry.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        entry.write_bytes(b"")
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(rebuilt, expected)
    assert encoder.calls == 2
    np.testing.assert_array_equal(cached_encode(encoder, TEXTS, cache_dir=tmp_path), expected)
    assert encoder.calls == 2  # the rebuilt entry is good again


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash_mid_write(handle, **arrays):
        handle.write(b"PK\x03\x04 half an entry")
        raise KeyboardInterrupt  # e.g. the learner stops the kernel

    monkeypatch.setattr(cache.np, "savez", crash_mid_write)
    with pytest.raises(KeyboardInterrupt):
        cached_encode(CountingEncoder(), TEXTS, cache_dir=tmp_path)
    assert entries(tmp_path) == []  # neither the entry nor the temporary file remains


def test_entries_honour_the_umask(tmp_path: Path) -> None:
    """Shared cache folders (a classroom server) need entries readable by others, as umask allows."""
    previous = os.umask(0o022)
    try:
        cached_encode(CountingEncoder(), TEXTS, cache_dir=tmp_path)
    finally:
        os.umask(previous)
    (entry,) = entries(tmp_path)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644


def test_default_folder_follows_course_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert embeddings_dir() == tmp_path / "embeddings"
    cached_encode(CountingEncoder(), TEXTS)
    assert len(entries(tmp_path / "embeddings")) == 1


def test_images_are_keyed_by_their_pixels(tmp_path: Path) -> None:
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    changed = images.copy()
    changed[1, 0, 0, 0] = 1
    assert content_hash(images) != content_hash(changed)
    assert content_hash(images) != content_hash(images.reshape(2, 4, 12))  # shape counts
    assert cache_key("m", images) != cache_key("m", changed)
    assert content_hash(["ab", "c"]) != content_hash(["a", "bc"])


def test_bad_inputs_and_bad_encoders_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        cached_encode(CountingEncoder(), [], cache_dir=tmp_path)
    with pytest.raises(TypeError, match="list of strings"):
        cached_encode(CountingEncoder(), "one string", cache_dir=tmp_path)

    class WrongRows(CountingEncoder):
        def encode(self, inputs, *, progress: bool = False) -> np.ndarray:
            return np.zeros((len(inputs) + 1, 4), dtype=np.float32)

    with pytest.raises(ValueError, match="expected \\(n_inputs, dim\\)"):
        cached_encode(WrongRows(), TEXTS, cache_dir=tmp_path)
    assert entries(tmp_path) == []


def test_real_text_encoder_round_trip(tmp_path: Path) -> None:
    from course_utils.encoders.text import TextEncoder

    encoder = TextEncoder(device="cpu")
    cold = cached_encode(encoder, TEXTS, cache_dir=tmp_path, progress=False)
    warm = cached_encode(encoder, TEXTS, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(cold, warm)
    assert cold.shape == (3, 384)


def test_catalog_embeddings_are_cached(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from course_utils.encoders.catalog import catalog_image_embeddings, catalog_text_embeddings

    tiny_shop = SimpleNamespace(texts=["Red tee. Soft cotton.", "Navy coat. Warm wool."])
    encoder = CountingEncoder()
    first = catalog_text_embeddings(tiny_shop, encoder=encoder, cache_dir=tmp_path, progress=False)
    second = catalog_text_embeddings(tiny_shop, encoder=encoder, cache_dir=tmp_path, progress=False)
    assert first.shape == (2, 4) and encoder.calls == 1
    np.testing.assert_array_equal(first, second)

    class ImageCountingEncoder(CountingEncoder):
        def encode(self, inputs, *, progress: bool = False) -> np.ndarray:
            self.calls += 1
            return inputs.reshape(len(inputs), -1)[:, :4].astype(np.float32)

    tiny_shop.images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    image_encoder = ImageCountingEncoder("tiny-image-encoder@v1")
    for _ in range(2):
        features = catalog_image_embeddings(
            tiny_shop, encoder=image_encoder, cache_dir=tmp_path, progress=False
        )
    assert image_encoder.calls == 1
    np.testing.assert_array_equal(features, [[0, 1, 2, 3], [12, 13, 14, 15]])


def test_weights_fingerprint_tracks_every_weight() -> None:
    import copy

    import torch

    from course_utils.encoders.fingerprint import weights_fingerprint

    tiny_model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    twin = copy.deepcopy(tiny_model)
    assert weights_fingerprint(twin) == weights_fingerprint(tiny_model)
    with torch.no_grad():
        twin[2].bias += 1e-6
    assert weights_fingerprint(twin) != weights_fingerprint(tiny_model)


class TinyDimEncoder(CountingEncoder):
    """CountingEncoder that also declares its output size, as the real encoders do."""

    dim = 4


@pytest.fixture
def warn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "cannot write" warning is shown once per process: let each test see it afresh."""
    monkeypatch.setattr(config, "_warned_unwritable", set())


def test_an_entry_of_another_model_is_rejected(tmp_path: Path) -> None:
    """A valid entry copied or renamed under another model's key is never returned."""
    other = CountingEncoder("bigger-model@v1")
    other.encode = lambda inputs, progress=False: np.ones((len(inputs), 8), dtype=np.float32)  # 8-d vectors
    cached_encode(other, TEXTS, cache_dir=tmp_path)
    wanted = TinyDimEncoder()
    (tmp_path / f"{cache_key(other.model_id, TEXTS)}.npz").rename(
        tmp_path / f"{cache_key(wanted.model_id, TEXTS)}.npz"
    )
    with pytest.warns(UserWarning, match="holds vectors of 'bigger-model@v1'"):
        embeddings = cached_encode(wanted, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(embeddings, wanted.encode(TEXTS))


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        (np.ones((3, 8), dtype=np.float32), "8 columns, but the encoder gives 4-d vectors"),
        (np.full((3, 4), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.full((3, 4), np.inf, dtype=np.float32), "NaN or infinite"),
    ],
)
def test_entries_with_wrong_dim_or_non_finite_values_are_rejected(tmp_path: Path, stored, problem) -> None:
    encoder = TinyDimEncoder()
    path = tmp_path / f"{cache_key(encoder.model_id, TEXTS)}.npz"
    cache._write_entry(path, stored, model_id=encoder.model_id)  # a valid checksum and the right model_id
    with pytest.warns(UserWarning, match=problem):
        embeddings = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(embeddings, encoder.encode(TEXTS))
    assert encoder.calls == 2


def test_an_unwritable_cache_warns_once_and_returns_the_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warn_again: None
) -> None:
    """COURSE_CACHE_DIR under a regular file cannot be created (not even by root)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    encoder = CountingEncoder()
    with pytest.warns(UserWarning, match="could not write the embedding cache entry") as caught:
        embeddings = cached_encode(encoder, TEXTS)
    message = str(caught[0].message)
    assert "COURSE_CACHE_DIR" in message and str(blocker / "cache" / "embeddings") in message
    np.testing.assert_array_equal(embeddings, encoder.encode(TEXTS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per session, not on every call
        np.testing.assert_array_equal(cached_encode(encoder, TEXTS[:2]), encoder.encode(TEXTS[:2]))


def test_an_entry_path_that_is_a_folder_still_returns_the_embeddings(
    tmp_path: Path, warn_again: None
) -> None:
    encoder = CountingEncoder()
    (tmp_path / f"{cache_key(encoder.model_id, TEXTS)}.npz").mkdir()
    with pytest.warns(UserWarning) as caught:
        embeddings = cached_encode(encoder, TEXTS, cache_dir=tmp_path)
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "damaged" in messages and "could not write" in messages
    np.testing.assert_array_equal(embeddings, encoder.encode(TEXTS))
    assert [p.suffix for p in entries(tmp_path)] == [".npz"]  # no temporary file left behind


def test_stale_temporary_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    killed_write = tmp_path / ".0123456789abcdef.4242.deadbeef.tmp"  # left by a kill -9 two hours ago
    in_progress = tmp_path / ".fedcba9876543210.4343.cafebabe.tmp"  # another process, writing now
    for leftover in (killed_write, in_progress):
        leftover.write_bytes(b"half an entry")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(killed_write, (two_hours_ago, two_hours_ago))
    cached_encode(CountingEncoder(), TEXTS, cache_dir=tmp_path)
    assert not killed_write.exists() and in_progress.exists()


def test_the_key_covers_the_cache_format_version(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache_key("m", TEXTS)
    monkeypatch.setattr(cache, "CACHE_FORMAT_VERSION", cache.CACHE_FORMAT_VERSION + 1)
    assert cache_key("m", TEXTS) != key


def test_none_inputs_get_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="inputs is None"):
        cached_encode(CountingEncoder(), None, cache_dir=tmp_path)


def test_a_changed_pixel_normalisation_misses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A course update that changes preprocessing (here EfficientNet's mean 127 -> 100) recomputes."""
    from course_utils.encoders import image

    tiny_images = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28, 3), dtype=np.uint8)
    before = cached_encode(image.ImageEncoder(device="cpu"), tiny_images, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(image, "EFFICIENTNET_LITE_MEAN", 100.0)
    updated = image.ImageEncoder(device="cpu")
    after = cached_encode(updated, tiny_images, cache_dir=tmp_path, progress=False)
    assert len(entries(tmp_path)) == 2 and "mean100" in updated.model_id
    np.testing.assert_allclose(after, updated.encode(tiny_images), rtol=1e-5, atol=1e-6)
    assert np.abs(after - before).max() > 1e-2


def test_one_text_entry_point_for_every_dataset(tmp_path: Path) -> None:
    """Any dataset with .texts (shop, MovieLens) goes through one function, sharing cached_encode's entry."""
    from types import SimpleNamespace

    from course_utils.encoders.catalog import catalog_image_embeddings, catalog_text_embeddings

    tiny_movies = SimpleNamespace(texts=["Toy Story (1995). Genres: Comedy.", "Heat (1995). Genres: Crime."])
    encoder = CountingEncoder()
    vectors = catalog_text_embeddings(tiny_movies, encoder=encoder, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(cached_encode(encoder, tiny_movies.texts, cache_dir=tmp_path), vectors)
    assert encoder.calls == 1  # the same cache entry, whichever function asked
    with pytest.raises(TypeError, match=r"item texts \(\.texts\), got int"):
        catalog_text_embeddings(42, encoder=encoder, cache_dir=tmp_path)
    with pytest.raises(TypeError, match="only the Fashion Shop has images"):
        catalog_image_embeddings(tiny_movies, encoder=encoder, cache_dir=tmp_path)
