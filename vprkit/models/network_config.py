"""``ClassifierNetworkConfig``: the descriptor-network options of the classification baselines
(PlaNet, HGE, CPlaNet, MvMF; D&C's network). Import-light. Their training schedule is
:class:`vprkit.training.joint_config.JointTrainingConfig`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform

__all__ = ["ClassifierNetworkConfig"]


class ClassifierNetworkConfig(VprkitConfig):
    """Backbone → average pooling → linear C→C → L2 (D&C's descriptor network), then the method's
    heads. Methods subclass it and add ``partition`` and ``training`` fields."""

    backbone: str = Field(
        "efficientnet_b0", description="timm backbone or 'tinycnn' (D&C comparisons: EfficientNet-B0)."
    )
    pretrained: bool = Field(False, description="ImageNet weights from timm (papers: yes; off by default: offline).")
    freeze: Literal["paper", "none"] = Field(
        "paper", description="'paper' freezes EfficientNet stem + blocks 0–3 (as D&C)."
    )
    descriptor_dim: int | None = Field(None, ge=1, description="Descriptor size; null = backbone channels.")
    test_transform: TestTransform = Field(
        default_factory=lambda: TestTransform(), description="Test preprocessing (no resize, ImageNet normalisation)."
    )
