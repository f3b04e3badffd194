"""Config of the CosPlace retriever (defaults: Berton et al., CVPR 2022 + official code; docs/methods/cosplace.md). Import-light."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import Augmentation, default_preset
from vprkit.training.config import TrainingConfig
from vprkit_cosplace.config import CosPlacePartitionConfig

__all__ = ["CosPlaceRetrieverConfig", "CosPlaceTrainingConfig"]


class CosPlaceTrainingConfig(TrainingConfig):
    """CosPlace schedule: 10,000 iterations × batch 32 per epoch, one of the 8 trained groups per
    epoch, backbone Adam 1e-5, each group head its own Adam at 0.01, ColorJitter + RandomResizedCrop
    0.5–1, best epoch by validation R@1 (= LR@1 for retrieval)."""

    epochs: int = Field(50, ge=1, description="Epochs (official default: 50).")
    iterations_per_epoch: int = Field(10_000, ge=1, description="Optimizer steps per epoch (official: 10,000).")
    batch_size: int = Field(32, ge=1, description="Images per step (paper: 32).")
    backbone_lr: float = Field(1e-5, gt=0, description="Backbone Adam learning rate (paper: 1e-5).")
    head_lr: float = Field(0.01, gt=0, description="Per-group head Adam learning rate (official: 0.01).")
    plateau_patience: int | None = Field(None, ge=0, description="No scheduler in CosPlace.")
    augmentation: Augmentation = Field("cosplace", description="ColorJitter + RandomResizedCrop.")
    _augmentation_default = default_preset("cosplace")


class CosPlaceRetrieverConfig(VprkitConfig):
    """Backbone (early layers frozen) → L2 → GeM → linear to ``fc_output_dim`` → L2; CosFace heads."""

    backbone: str = Field("resnet18", description="timm backbone or 'tinycnn' (paper default: ResNet-18).")
    pretrained: bool = Field(False, description="ImageNet weights from timm (paper: yes; off by default: offline).")
    freeze: Literal["paper", "none"] = Field("paper", description="'paper' freezes ResNet layers before layer3.")
    fc_output_dim: int = Field(512, ge=1, description="Descriptor dimension (paper default: 512).")
    s: float = Field(30.0, gt=0, description="CosFace scale (paper: 30).")
    m: float = Field(0.4, ge=0, description="CosFace margin (paper: 0.4).")
    test_transform: TestTransform = Field(
        default_factory=lambda: TestTransform(),
        description="Test preprocessing (official CosPlace: no resize, ImageNet normalisation).",
    )
    partition: CosPlacePartitionConfig = Field(
        default_factory=CosPlacePartitionConfig, description="The cosplace partition."
    )
    training: CosPlaceTrainingConfig = Field(
        default_factory=CosPlaceTrainingConfig, description="The training schedule."
    )
