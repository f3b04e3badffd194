"""``TestTransform``: how a model prepares a test image (its model card's preprocessing). Import-light.

Every classifier and retriever config carries one as ``test_transform``; it is part of the
resolved config, hence of the model fingerprint, and travels with the model folder. Rules:

- ``resize: none`` — the image as it is (CosPlace's test, ``resize_test_imgs`` off);
- ``resize: shorter_side`` — the shorter side to ``size`` pixels, aspect ratio kept, the longer
  side ``int(size · long / short)`` (torchvision ``Resize(size)``; D&C's test: 256);
- ``resize: square`` — ``size × size`` (aspect ratio not kept);
- ``scale`` — test-time resolution: a factor on the input size the rule gives (the image's own
  size for ``none``, ``size`` otherwise), applied to database and queries alike; 1 (the default,
  left out of the saved config so that fingerprints do not change) is the model's native size.

Resizing is bilinear with antialiasing (PIL), then the image is scaled to [0, 1] and normalised
per channel with ``mean`` / ``std`` (ImageNet by default).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from vprkit.config import VprkitConfig

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "RESIZE_RULES", "TestTransform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_RULES = ("none", "shorter_side", "square")


class TestTransform(VprkitConfig):
    """Resize rule + normalisation applied to every test image (database and queries)."""

    __test__ = False  # not a pytest test class, despite the name

    resize: Literal["none", "shorter_side", "square"] = Field(
        "none", description="'none' (as is), 'shorter_side' (aspect kept; D&C: 256) or 'square'."
    )
    size: int | None = Field(None, ge=8, description="Pixels: the shorter side, or the square's side.")
    mean: tuple[float, float, float] = Field(
        IMAGENET_MEAN, description="Per-channel mean subtracted (RGB, [0, 1] scale)."
    )
    std: tuple[float, float, float] = Field(IMAGENET_STD, description="Per-channel standard deviation divided by.")
    scale: float = Field(
        1.0, gt=0.05, le=4.0, description="Test-time resolution: factor on the input size (0.8: 80 % of each side)."
    )

    @model_validator(mode="after")
    def _size_matches_rule(self) -> TestTransform:
        if self.resize == "none" and self.size is not None:
            raise ValueError(f"size={self.size} needs a resize rule ('shorter_side' or 'square'), not 'none'")
        if self.resize != "none" and self.size is None:
            raise ValueError(f"resize {self.resize!r} needs a size in pixels")
        return self

    @model_serializer(mode="wrap")
    def _native_scale_unsaid(self, handler: SerializerFunctionWrapHandler) -> Any:
        # configs and fingerprints of models at their native resolution read as before ``scale``
        data = handler(self)
        if self.scale == 1.0 and isinstance(data, dict):
            data.pop("scale", None)
        return data

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H, W)`` in pixels the network sees for an image of ``height × width``."""
        if self.resize == "square":
            assert self.size is not None
            h = w = float(self.size)
        elif self.resize == "shorter_side":
            assert self.size is not None
            short, long = min(height, width), max(height, width)
            side_long = float(int(self.size * long / short))
            h, w = (float(self.size), side_long) if height <= width else (side_long, float(self.size))
        else:
            h, w = float(height), float(width)
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def describe(self) -> str:
        """One line for cards and tables, e.g. ``"shorter side 256, ImageNet normalisation"``."""
        rule = {"none": "no resize", "shorter_side": f"shorter side {self.size}", "square": f"{self.size}×{self.size}"}
        norm = (
            "ImageNet normalisation"
            if (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD)
            else f"mean {list(self.mean)}, std {list(self.std)}"
        )
        at = f" at {self.scale:g}× resolution" if self.scale != 1.0 else ""
        return f"{rule[self.resize]}{at}, {norm}"
