"""The papers' training augmentations (PIL image → normalised ``(3, S, S)`` float32 tensor).

They draw from torch's global RNG; :class:`vprkit.training.data.ImageDataset` seeds it per sample
so that a resumed run sees the very same crops.
"""

from __future__ import annotations

from torchvision import transforms as T

from vprkit.models.transforms import normalize

__all__ = ["AUGMENTATIONS", "cosplace_train_transform", "dnc_train_transform", "train_transform"]

AUGMENTATIONS = ("dnc", "cosplace", "none")


def dnc_train_transform(image_size: int) -> T.Compose:
    """D&C: RandomResizedCrop to ``image_size`` with scale 0.66–1 (official: 1 − 0.34)."""
    return T.Compose([T.RandomResizedCrop(image_size, scale=(0.66, 1.0), antialias=True), T.ToTensor(), normalize()])


def cosplace_train_transform(image_size: int) -> T.Compose:
    """CosPlace: ColorJitter(brightness 0.7, contrast 0.7, saturation 0.7, hue 0.5) +
    RandomResizedCrop to ``image_size`` with scale 0.5–1."""
    return T.Compose(
        [
            T.ColorJitter(brightness=0.7, contrast=0.7, saturation=0.7, hue=0.5),
            T.RandomResizedCrop(image_size, scale=(0.5, 1.0), antialias=True),
            T.ToTensor(),
            normalize(),
        ]
    )


def train_transform(name: str, image_size: int) -> T.Compose:
    """Augmentation by name: ``"dnc"``, ``"cosplace"`` or ``"none"`` (resize only)."""
    if name == "dnc":
        return dnc_train_transform(image_size)
    if name == "cosplace":
        return cosplace_train_transform(image_size)
    if name == "none":
        return T.Compose([T.Resize((image_size, image_size), antialias=True), T.ToTensor(), normalize()])
    raise ValueError(f"unknown augmentation {name!r}; choose one of {AUGMENTATIONS}")
