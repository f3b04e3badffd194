"""Config of the `sift` re-ranker (no heavy import: the plugin listing reads it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SiftConfig(BaseModel):
    """SIFT detection (OpenCV's defaults, which are Lowe's), the ratio test and RANSAC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_keypoints: int = Field(
        0, ge=0, description="Keep the N strongest keypoints per image (0: all; OpenCV nfeatures)."
    )
    octave_layers: int = Field(3, ge=1, description="Scales per octave (Lowe 2004: 3).")
    contrast_threshold: float = Field(
        0.04, gt=0, description="Drop weak extrema (OpenCV's default; lower finds more keypoints on small images)."
    )
    edge_threshold: float = Field(10.0, gt=0, description="Drop edge responses (Lowe 2004: r = 10).")
    sigma: float = Field(1.6, gt=0, description="Blur of the first octave (Lowe 2004: 1.6).")
    upscale: float = Field(
        1.0,
        gt=0,
        le=8,
        description="Resize images by this factor before detection (keypoints are reported in the image's own pixels).",
    )
    ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Lowe's ratio test: keep a match when its distance is below ratio × the second-nearest (Lowe 2004, §7.1: 0.8).",
    )
    geometry: Literal["fundamental", "homography"] = Field(
        "fundamental", description="Model RANSAC fits: fundamental matrix (any 3-D scene) or homography (planar)."
    )
    ransac_threshold: float = Field(
        3.0, gt=0, description="RANSAC inlier distance in pixels of the image as given (OpenCV's default)."
    )
    confidence: float = Field(0.999, gt=0, lt=1, description="RANSAC confidence.")
    max_iters: int = Field(2000, ge=1, description="RANSAC iterations at most.")
