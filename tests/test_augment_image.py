import numpy as np
import pytest
import torch

from course_utils.augment.image import AUGMENTATIONS, augment_images, build_pipeline


@pytest.fixture
def tiny_images():
    """Six random 12x12 RGB images: a tiny batch, not real photos."""
    return np.random.default_rng(0).integers(0, 256, size=(6, 12, 12, 3), dtype=np.uint8)


def test_shape_and_dtype_are_preserved(tiny_images):
    out = augment_images(tiny_images, build_pipeline(image_size=12), seed=1)
    assert out.shape == tiny_images.shape and out.dtype == np.uint8


def test_same_seed_same_images_and_global_rng_untouched(tiny_images):
    pipeline = build_pipeline(image_size=12)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = augment_images(tiny_images, pipeline, seed=7)
    assert torch.rand(1) == expected_next  # the global torch generator did not move
    assert np.array_equal(first, augment_images(tiny_images, pipeline, seed=7))
    assert not np.array_equal(first, augment_images(tiny_images, pipeline, seed=8))


def test_each_image_gets_its_own_random_draw():
    image = np.random.default_rng(1).integers(0, 256, (1, 12, 12, 3), dtype=np.uint8)
    same_image_six_times = np.repeat(image, 6, axis=0)
    out = augment_images(same_image_six_times, build_pipeline(["rotate", "colour"], image_size=12), seed=0)
    assert len({view.tobytes() for view in out}) == 6


@pytest.mark.parametrize("name", ["rotate", "scale", "crop", "colour"])
def test_zero_strength_is_the_identity(tiny_images, name):
    out = augment_images(tiny_images, build_pipeline([name], strength=0.0, image_size=12), seed=3)
    assert np.array_equal(out, tiny_images)


def test_flip_mirrors_left_right_only(tiny_images):
    out = augment_images(tiny_images, build_pipeline(["flip"], image_size=12), seed=0)
    for before, after in zip(tiny_images, out, strict=True):
        assert np.array_equal(after, before) or np.array_equal(after, before[:, ::-1])


def test_rotation_moves_pixels_but_invents_no_colour():
    squares = np.zeros((8, 16, 16, 3), dtype=np.uint8)
    squares[:, 4:12, 4:12] = (200, 50, 10)  # eight copies of a centred orange square on black
    up_to_40_degrees = build_pipeline(["rotate"], strength=2.0, image_size=16)
    out = augment_images(squares, up_to_40_degrees, seed=0)
    assert (out != squares).any(axis=(1, 2, 3)).sum() >= 4  # most copies visibly turned
    assert (out[:, 8, 8] == (200, 50, 10)).all()  # the centre stays where it was
    colours = {tuple(pixel) for pixel in out.reshape(-1, 3)}
    assert colours == {(0, 0, 0), (200, 50, 10)}  # nearest-neighbour resampling, black fill


def test_bad_input_gets_clear_errors(tiny_images):
    with pytest.raises(TypeError, match="uint8"):
        augment_images(tiny_images.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        augment_images(tiny_images[..., 0])
    with pytest.raises(ValueError, match="empty"):
        augment_images(tiny_images[:0])
    with pytest.raises(ValueError, match="unknown augmentation"):
        build_pipeline(["rotate", "vertical_flip"])
    with pytest.raises(ValueError, match="image shape"):
        augment_images(tiny_images, build_pipeline(["crop"], image_size=28))


def test_default_pipeline_has_every_augmentation():
    assert len(build_pipeline().transforms) == len(AUGMENTATIONS)
