"""Image augmentation: label-preserving random transforms of product photos.

An augmentation is a random function ``x' = f(x)`` that changes how an image *looks* but not what
it *shows*: a coat rotated by 10 degrees is still a coat. The transforms are the classic ones
(Krizhevsky et al. 2012; Shorten & Khoshgoftaar 2019 survey), built from
``torchvision.transforms.v2``:

=========  ==================================================================================
rotate     ``RandomRotation``: rotate by an angle drawn uniformly from [-deg, +deg]
scale      ``RandomAffine(scale=...)``: zoom in/out around the centre, same output size
crop       ``RandomResizedCrop``: cut a random window (a fraction of the area) and resize it back
flip       ``RandomHorizontalFlip``: mirror left-right (never upside down: a boot stays a boot)
colour     ``ColorJitter``: change brightness, contrast, saturation and hue
=========  ==================================================================================

Images follow the course convention: ``uint8`` arrays of shape ``(N, H, W, 3)``. Every call takes
a ``seed`` and draws each image's random parameters independently, so the same seed gives the
same images on every machine and the global random state is left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms import v2

AUGMENTATIONS = ("rotate", "scale", "crop", "flip", "colour")


def build_pipeline(
    names: Sequence[str] = AUGMENTATIONS,
    strength: float = 1.0,
    image_size: int = 28,
    fill: int = 0,
) -> v2.Compose:
    """Compose the named augmentations (in the order given) into one ``v2.Compose``.

    ``strength`` scales every magnitude linearly (0 = identity, 1 = the defaults below), so one
    number sweeps from gentle to aggressive:

    - rotate: angle ~ U[-20 s, +20 s] degrees
    - scale: zoom factor ~ U[1 - 0.2 s, 1 + 0.2 s]
    - crop: keep a window of area fraction ~ U[1 - 0.35 s, 1] (aspect ratio 3/4..4/3), resize back
    - flip: mirror left-right with probability 0.5 (strength does not apply)
    - colour: brightness, contrast, saturation factors ~ U[1 - 0.4 s, 1 + 0.4 s];
      hue shift ~ U[-0.05 s, 0.05 s]

    ``fill`` is the value given to pixels that rotation/zoom-out bring in from outside the
    image: 0 matches the black background of the Fashion Shop photos.
    """
    if isinstance(names, str):
        names = [names]
    if len(names) == 0:
        raise ValueError(f"names is empty: choose from {AUGMENTATIONS}")
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}: choose from {AUGMENTATIONS}")
    if not 0.0 <= strength <= 2.5:
        raise ValueError(
            f"strength must be in [0, 2.5] (0 = no change except flips, 1 = default), got {strength}"
        )
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")

    steps: list[v2.Transform] = []
    for name in names:
        if name == "rotate":
            steps.append(v2.RandomRotation(degrees=20.0 * strength, fill=fill))
        elif name == "scale":
            zoom = 0.2 * strength
            steps.append(v2.RandomAffine(degrees=0.0, scale=(1.0 - zoom, 1.0 + zoom), fill=fill))
        elif name == "crop":
            min_area = max(1.0 - 0.35 * strength, 0.05)
            steps.append(
                v2.RandomResizedCrop(image_size, scale=(min_area, 1.0), ratio=(3 / 4, 4 / 3), antialias=True)
            )
        elif name == "flip":
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        else:  # colour
            jitter = min(0.4 * strength, 0.99)
            steps.append(
                v2.ColorJitter(
                    brightness=jitter, contrast=jitter, saturation=jitter, hue=min(0.05 * strength, 0.5)
                )
            )
    return v2.Compose(steps)


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    if len(images) == 0:
        raise ValueError("images is empty: nothing to augment")


def augment_images(images: np.ndarray, pipeline: v2.Transform | None = None, seed: int = 0) -> np.ndarray:
    """Apply ``pipeline`` to every image with its own random draw; return uint8 ``(N, H, W, 3)``.

    The output has the same shape and dtype as the input and ``output[i]`` is an augmented
    version of ``images[i]`` (labels stay aligned). ``pipeline`` defaults to
    ``build_pipeline()`` (all five augmentations). The random draws come from a private
    generator seeded with ``seed``; the global torch random state is restored afterwards.
    """
    _check_images(images)
    pipeline = build_pipeline(image_size=images.shape[1]) if pipeline is None else pipeline
    channels_first = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (N, 3, H, W)
    augmented = torch.empty_like(channels_first)
    # torchvision draws its random parameters from torch's global generator: fork it, seed it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for index, image in enumerate(channels_first):
            out = pipeline(image)  # one image at a time: each gets its own angle / crop / jitter
            if out.shape != image.shape:
                raise ValueError(
                    f"the pipeline changed the image shape from {tuple(image.shape)} to {tuple(out.shape)}: "
                    "build it with image_size equal to the input height"
                )
            augmented[index] = out
    return augmented.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, 3) uint8
