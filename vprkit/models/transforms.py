"""Evaluation preprocessing: PIL image → ImageNet-normalised ``(3, H, W)`` float32 tensor."""

from __future__ import annotations

from torchvision import transforms as T

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "eval_transform", "normalize"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize() -> T.Normalize:
    return T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)


def eval_transform(image_size: int | None) -> T.Compose:
    """Resize to ``image_size × image_size`` (``None`` keeps the native size), tensor, normalise."""
    steps = [T.Resize((image_size, image_size), antialias=True)] if image_size else []
    return T.Compose([*steps, T.ToTensor(), normalize()])
