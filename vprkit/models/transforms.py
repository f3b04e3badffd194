"""Test-time preprocessing: PIL image → normalised ``(3, H, W)`` float32 tensor, and running a
model over a batch whose images differ in size.

:func:`build_test_transform` turns a :class:`~vprkit.models.transform_config.TestTransform`
(the model card's rule) into a torchvision pipeline; with ``shorter_side`` or ``none`` the
images of one batch may have different sizes, which :func:`apply_by_shape` handles by running
the model once per distinct size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from vprkit.models.transform_config import IMAGENET_MEAN, IMAGENET_STD, TestTransform

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ScaledResize",
    "apply_by_shape",
    "build_test_transform",
    "normalize",
    "square_transform",
]


def normalize(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> T.Normalize:
    return T.Normalize(mean=list(mean), std=list(std))


class ScaledResize:
    """Resize a PIL image to the size ``rule`` gives it at its ``scale``
    (:meth:`~vprkit.models.transform_config.TestTransform.scaled_size`), bilinear with antialiasing."""

    def __init__(self, rule: TestTransform) -> None:
        self.rule = rule

    def __call__(self, image: Image.Image) -> Image.Image:
        size = list(self.rule.scaled_size(image.height, image.width))
        return image if size == [image.height, image.width] else TF.resize(image, size, antialias=True)

    def __repr__(self) -> str:
        return f"ScaledResize({self.rule.describe()})"


def build_test_transform(rule: TestTransform) -> T.Compose:
    """The torchvision pipeline of ``rule``: resize (bilinear, antialiased), tensor, normalise."""
    steps: list[Callable] = []
    if rule.scale != 1.0:
        steps.append(ScaledResize(rule))  # one resize straight to the scaled size
    elif rule.resize == "shorter_side":
        steps.append(T.Resize(rule.size, antialias=True))  # int size: shorter side, aspect kept
    elif rule.resize == "square":
        steps.append(T.Resize((rule.size, rule.size), antialias=True))
    return T.Compose([*steps, T.ToTensor(), normalize(rule.mean, rule.std)])


def square_transform(image_size: int | None) -> T.Compose:
    """Resize to ``image_size × image_size`` (``None``: as is), tensor, ImageNet normalisation."""
    rule = TestTransform(resize="square", size=image_size) if image_size else TestTransform()
    return build_test_transform(rule)


def apply_by_shape(fn: Callable[[torch.Tensor], torch.Tensor], images: Sequence[torch.Tensor]) -> torch.Tensor:
    """``fn`` over ``images`` (each ``(3, H_i, W_i)``) → ``(B, ...)`` in input order.

    Images of one size are stacked and passed together; a batch of mixed sizes costs one call of
    ``fn`` per distinct size (a model with global pooling gives the same result as one call per
    image).
    """
    if not images:
        raise ValueError("apply_by_shape needs at least one image")
    first = images[0].shape
    if all(img.shape == first for img in images):
        return fn(torch.stack(list(images)))
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(tuple(img.shape), []).append(i)
    out: torch.Tensor | None = None
    for rows in by_shape.values():
        part = fn(torch.stack([images[i] for i in rows]))
        if out is None:
            out = part.new_empty((len(images), *part.shape[1:]))
        out[torch.as_tensor(rows, device=part.device)] = part
    assert out is not None  # images is not empty
    return out
