"""Training augmentation (PIL image → normalised ``(3, S, S)`` float32 tensor), as typed data.

An augmentation is an :class:`AugmentationConfig`: crop scale and aspect ratio, colour jitter
(brightness, contrast, saturation, hue), per-channel gain, grayscale, horizontal flip, blur, sensor
noise and JPEG quality, each off unless set. A config's ``augmentation`` field takes a preset name
(:data:`PRESETS`) or a mapping of these fields, optionally on top of a preset::

    augmentation: photometric
    augmentation: {preset: dnc, brightness: 0.4, contrast: 0.4, saturation: 0.4, gain: [0.9, 1.1]}

The presets ``dnc``, ``cosplace`` and ``none`` build exactly the torchvision pipelines of the papers'
code (same steps, same order, so the same random draws and the same pixels); see
``docs/training.md#augmentation`` for what each does to synthcity's query conditions.

Every random draw comes from torch's global RNG; :class:`vprkit.training.data.ImageDataset` seeds
it per sample, so a resumed run sees the very same images.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import torch
from PIL import Image
from torchvision import transforms as T

from vprkit.models.transforms import normalize
from vprkit.training.augment_config import (
    AUGMENTATION_SERIALIZER,
    AUGMENTATIONS,
    PRESETS,
    Augmentation,
    AugmentationConfig,
    augmentation_validator,
    default_preset,
)

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_SERIALIZER",
    "PRESETS",
    "Augmentation",
    "AugmentationConfig",
    "ChannelGain",
    "GaussianNoise",
    "JpegQuality",
    "augmentation_validator",
    "build_augmentation",
    "cosplace_train_transform",
    "default_preset",
    "dnc_train_transform",
    "resolve_augmentation",
    "train_transform",
]


def _uniform(lo: float, hi: float, size: tuple[int, ...] = ()) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(size)


class ChannelGain:
    """Multiply each RGB channel of a PIL image by its own gain, uniform in ``(lo, hi)`` (a white
    balance / colour cast change, which ColorJitter's hue rotation does not model)."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, image: Image.Image) -> Image.Image:
        gains = _uniform(self.lo, self.hi, (3,)).tolist()
        channels = [band.point(lambda v, g=g: min(255, int(v * g + 0.5))) for band, g in zip(image.split(), gains)]
        return Image.merge("RGB", channels)

    def __repr__(self) -> str:
        return f"ChannelGain(lo={self.lo}, hi={self.hi})"


class JpegQuality:
    """Re-encode a PIL image as JPEG at a quality uniform in ``(lo, hi)`` (compression artefacts)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, image: Image.Image) -> Image.Image:
        quality = int(torch.randint(self.lo, self.hi + 1, ()).item())
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    def __repr__(self) -> str:
        return f"JpegQuality(lo={self.lo}, hi={self.hi})"


class GaussianNoise:
    """Add Gaussian noise of std uniform in ``[0, max_std]`` to a ``(3, H, W)`` tensor in [0, 1]."""

    def __init__(self, max_std: float) -> None:
        self.max_std = max_std

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        std = float(_uniform(0.0, self.max_std).item())
        return (tensor + std * torch.randn(tensor.shape)).clamp_(0, 1)

    def __repr__(self) -> str:
        return f"GaussianNoise(max_std={self.max_std})"


def resolve_augmentation(value: str | AugmentationConfig | Mapping[str, Any]) -> AugmentationConfig:
    """A preset name, a mapping or a config → the config (unknown names are a ``ValueError``)."""
    if isinstance(value, AugmentationConfig):
        return value
    if isinstance(value, str):
        if value not in PRESETS:
            raise ValueError(f"unknown augmentation {value!r}; choose one of {AUGMENTATIONS} or give a mapping")
        return AugmentationConfig(preset=value)
    return AugmentationConfig.model_validate(dict(value))


def build_augmentation(config: AugmentationConfig, image_size: int) -> T.Compose:
    """The torchvision pipeline of ``config`` producing ``(3, image_size, image_size)`` tensors."""
    steps: list[Callable[[Any], Any]] = []
    if config.brightness or config.contrast or config.saturation or config.hue:
        steps.append(
            T.ColorJitter(
                brightness=config.brightness, contrast=config.contrast, saturation=config.saturation, hue=config.hue
            )
        )
    if config.gain != (1.0, 1.0):
        steps.append(ChannelGain(*config.gain))
    if config.grayscale:
        steps.append(T.RandomGrayscale(config.grayscale))
    if config.crop_scale is None:
        steps.append(T.Resize((image_size, image_size), antialias=True))
    else:
        steps.append(T.RandomResizedCrop(image_size, scale=config.crop_scale, ratio=config.crop_ratio, antialias=True))
    if config.hflip:
        steps.append(T.RandomHorizontalFlip(config.hflip))
    if config.blur:
        steps.append(T.RandomApply([T.GaussianBlur(5, sigma=config.blur_sigma)], p=config.blur))
    if config.jpeg_quality is not None:
        steps.append(JpegQuality(*config.jpeg_quality))
    steps.append(T.ToTensor())
    if config.noise:
        steps.append(GaussianNoise(config.noise))
    steps.append(normalize())
    return T.Compose(steps)


def dnc_train_transform(image_size: int) -> T.Compose:
    """D&C: RandomResizedCrop to ``image_size`` with scale 0.66–1 (official: 1 − 0.34)."""
    return build_augmentation(AugmentationConfig(preset="dnc"), image_size)


def cosplace_train_transform(image_size: int) -> T.Compose:
    """CosPlace: ColorJitter(brightness 0.7, contrast 0.7, saturation 0.7, hue 0.5) +
    RandomResizedCrop to ``image_size`` with scale 0.5–1."""
    return build_augmentation(AugmentationConfig(preset="cosplace"), image_size)


def train_transform(name: str | AugmentationConfig | Mapping[str, Any], image_size: int) -> T.Compose:
    """The augmentation a config names: a preset (``"dnc"``, ``"cosplace"``, ``"photometric"``,
    ``"none"``: resize only), a mapping of :class:`AugmentationConfig` fields, or a config."""
    return build_augmentation(resolve_augmentation(name), image_size)
