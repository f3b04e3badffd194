"""Config of the `lightglue` re-ranker (no heavy import: the plugin listing reads it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LightGlueConfig(BaseModel):
    """DISK detection, LightGlue matching (kornia's defaults, which are the authors') and RANSAC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pretrained: bool = Field(
        False, description="Download the authors' DISK and LightGlue weights (else a seeded random initialisation)."
    )
    seed: int = Field(0, description="Seed of the random initialisation (pretrained=False).")
    max_keypoints: int = Field(512, ge=1, description="DISK keypoints per image at most (the strongest).")
    upscale: float = Field(1.0, gt=0, le=8, description="Resize images by this factor before detection.")
    filter_threshold: float = Field(0.1, ge=0, le=1, description="LightGlue's match confidence threshold.")
    geometry: Literal["fundamental", "homography"] = Field("fundamental", description="Model RANSAC fits.")
    ransac_threshold: float = Field(3.0, gt=0, description="RANSAC inlier distance in pixels of the image as given.")
    confidence: float = Field(0.999, gt=0, lt=1, description="RANSAC confidence.")
    max_iters: int = Field(2000, ge=1, description="RANSAC iterations at most.")
