"""ImageEncoder: real ImageNet weights (labels of real photos), any uint8 image size, clear errors."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
from skimage import data

from course_utils.encoders.image import IMAGENET_CLASSES, ImageEncoder

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder(device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def tiny_shop_like_images() -> np.ndarray:
    """Three 28 x 28 colour images (the size of the shop's): a tiny batch, for test speed."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, 28, 28, 3), dtype=np.uint8)


def test_imagenet_class_names_are_the_standard_1000() -> None:
    assert len(IMAGENET_CLASSES) == 1000
    assert IMAGENET_CLASSES[0] == "tench" and IMAGENET_CLASSES[285] == "Egyptian cat"


def test_top1_labels_of_real_photos(encoder: ImageEncoder) -> None:
    cat_labels = encoder.predict_labels(data.chelsea()[None], top=5)[0]
    coffee_labels = encoder.predict_labels(data.coffee()[None], top=5)[0]
    assert cat_labels[0][0] in CAT_CLASSES, cat_labels
    assert coffee_labels[0][0] == "espresso", coffee_labels
    probabilities = [p for _, p in cat_labels]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6


def test_pooled_features_feed_the_networks_own_classifier(encoder: ImageEncoder) -> None:
    """head(global average pool(trunk(x))) is exactly the network's forward pass."""
    inputs = encoder.preprocess(data.coffee()[None])
    assert inputs.shape == (1, 3, 224, 224)
    with torch.inference_mode():
        expected = encoder.network(inputs)  # the library's own forward pass
    torch.testing.assert_close(encoder.logits(data.coffee()[None]), expected, atol=1e-4, rtol=1e-4)


def test_small_colour_and_grey_images_give_1280_d_features(
    encoder: ImageEncoder, tiny_shop_like_images: np.ndarray
) -> None:
    colour = encoder.encode(tiny_shop_like_images)
    assert colour.shape == (3, 1280) and colour.dtype == np.float32 and np.isfinite(colour).all()
    grey = tiny_shop_like_images[:1, ..., 0]  # (1, 28, 28)
    grey_features = encoder.encode(grey)
    grey_as_rgb = np.repeat(grey[..., None], 3, axis=-1)  # (1, 28, 28, 3)
    np.testing.assert_allclose(grey_features, encoder.encode(grey_as_rgb), atol=1e-5)
    np.testing.assert_allclose(encoder.encode(grey[..., None]), grey_features, atol=1e-6)


def test_features_are_deterministic_and_independent_of_batching(
    encoder: ImageEncoder, tiny_shop_like_images: np.ndarray
) -> None:
    whole = encoder.encode(tiny_shop_like_images, batch_size=3)
    np.testing.assert_allclose(encoder.encode(tiny_shop_like_images, batch_size=2), whole, atol=1e-4)
    np.testing.assert_array_equal(encoder.encode(tiny_shop_like_images, batch_size=3), whole)  # deterministic


def test_normalize_option_gives_unit_vectors(tiny_shop_like_images) -> None:
    unit = ImageEncoder(normalize=True, device="cpu").encode(tiny_shop_like_images[:2])
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)


def test_model_id_names_model_and_weights(encoder: ImageEncoder) -> None:
    assert encoder.model_id.startswith("image:efficientnet-lite0@")
    assert encoder.model_id != ImageEncoder(normalize=True, device="cpu").model_id


def test_default_model_needs_no_network(monkeypatch: pytest.MonkeyPatch, tiny_shop_like_images) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert ImageEncoder(device="cpu").encode(tiny_shop_like_images[:1]).shape == (1, 1280)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((2, 28, 28, 3), dtype=np.float32), TypeError, "must be uint8"),
        (np.zeros((28, 28, 3), dtype=np.uint8), ValueError, "ONE colour image"),
        (np.zeros((2, 28, 28, 4), dtype=np.uint8), ValueError, "expected"),
        (np.zeros((0, 28, 28, 3), dtype=np.uint8), ValueError, "empty"),
        ([], ValueError, "no images to encode"),
        (None, TypeError, "images is None"),
        (np.zeros((2, 0, 0, 3), dtype=np.uint8), ValueError, "no pixels"),
    ],
)
def test_bad_images_get_clear_errors(encoder: ImageEncoder, images, error, message) -> None:
    with pytest.raises(error, match=message):
        encoder.encode(images)


@pytest.mark.parametrize(
    ("batch_size", "error", "message"),
    [
        (0, ValueError, "batch_size must be >= 1, got 0"),
        (-3, ValueError, "batch_size must be >= 1, got -3"),
        (False, TypeError, r"got bool \(False\)"),
        (4.0, TypeError, r"got float \(4.0\)"),
    ],
)
def test_bad_batch_sizes_are_refused(
    encoder: ImageEncoder, tiny_shop_like_images, batch_size, error, message
) -> None:
    with pytest.raises(error, match=message):
        encoder.encode(tiny_shop_like_images, batch_size=batch_size)


def test_missing_architecture_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # what an uninstalled package does
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite-pytorch"):
        ImageEncoder(device="cpu")


def test_model_id_names_the_pixel_normalisation(encoder: ImageEncoder) -> None:
    assert ":224:mean127,127,127:std128,128,128:raw:v" in encoder.model_id


def test_unknown_model_and_bad_top_get_clear_errors(encoder: ImageEncoder) -> None:
    with pytest.raises(ValueError, match="unknown image model 'vgg16'"):
        ImageEncoder("vgg16")
    with pytest.raises(ValueError, match="top must be"):
        encoder.predict_labels(data.coffee()[None], top=0)


def test_resnet50_without_weights_explains_the_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="download_resnet50_weights"):
        ImageEncoder("resnet50", weights_path=tmp_path / "missing.pth")


def test_resnet50_switch_loads_a_local_weights_file(tmp_path, tiny_shop_like_images) -> None:
    """The switch itself, with randomly initialised weights saved locally (no download in tests)."""
    import torchvision

    weights_file = tmp_path / "resnet50-test.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), weights_file)
    resnet = ImageEncoder("resnet50", weights_path=weights_file, device="cpu")
    assert resnet.dim == 2048 and resnet.model_id.startswith("image:resnet50@")
    assert len(resnet.predict_labels(tiny_shop_like_images[:1], top=3)[0]) == 3
