"""Config of the EigenPlaces retriever (defaults: Berton et al., ICCV 2023 and the official code,
gmberton/EigenPlaces @ a2969f7 ``parser.py``; docs/methods/eigenplaces.md). Import-light."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import Augmentation, default_preset
from vprkit.training.config import TrainingConfig

__all__ = ["EigenPlacesPartitionConfig", "EigenPlacesRetrieverConfig", "EigenPlacesTrainingConfig"]


class EigenPlacesPartitionConfig(VprkitConfig):
    """UTM cells of M metres in N×N groups; per cell a lateral and a frontal focal point at
    ``focal_dist`` metres from the cell's centre of mass, along its principal directions."""

    M: float = Field(15.0, gt=0, description="Cell side in metres (official: 15).")
    N: int = Field(3, ge=1, description="Groups per axis: cells N cells apart share a group, N·N groups (official: 3).")
    focal_dist: float = Field(
        10.0, gt=0, description="Metres from a cell's centre of mass to its focal points (official: 10)."
    )
    groups_num: Optional[int] = Field(
        None, ge=1, description="Groups kept, in order of first appearance (official: 0 = all N·N; null here)."
    )
    min_images_per_class: int = Field(
        5, ge=1, description="A class needs this many images (one per panorama) in a view (official: 5)."
    )
    max_view_error_deg: float = Field(
        45.0,
        gt=0,
        le=180,
        description="Per panorama the crop whose heading is nearest the bearing to the focal point is "
        "used, if within this many degrees (the official code crops panoramas exactly; vprkit reads crops).",
    )


class EigenPlacesTrainingConfig(TrainingConfig):
    """EigenPlaces schedule: 40 epochs of 5,000 iterations; each iteration a batch of 32 for the
    lateral head and 32 for the frontal head of the epoch's group, one backbone Adam step at 1e-5;
    each head its own Adam at 0.01; ColorJitter + RandomResizedCrop 0.5–1 to 512; best epoch by
    validation R@1 (= LR@1 for retrieval)."""

    epochs: int = Field(40, ge=1, description="Epochs (official: 40).")
    iterations_per_epoch: int = Field(5_000, ge=1, description="Optimizer steps per epoch (official: 5,000).")
    batch_size: int = Field(32, ge=1, description="Images per view per step: 32 lateral + 32 frontal (official).")
    backbone_lr: float = Field(1e-5, gt=0, description="Backbone + aggregation Adam learning rate (official: 1e-5).")
    head_lr: float = Field(0.01, gt=0, description="Adam learning rate of each head (official: 0.01).")
    plateau_patience: int | None = Field(None, ge=0, description="No scheduler in EigenPlaces.")
    _augmentation_default = default_preset("cosplace")
    augmentation: Augmentation = Field(
        "cosplace", description="ColorJitter(0.7, 0.7, 0.7, 0.5) + RandomResizedCrop(scale 0.5–1) (official)."
    )
    lambda_lateral: float = Field(1.0, ge=0, description="Weight of the lateral CosFace loss (official: 1).")
    lambda_frontal: float = Field(1.0, ge=0, description="Weight of the frontal CosFace loss (official: 1).")


class EigenPlacesRetrieverConfig(VprkitConfig):
    """Backbone (early layers frozen) → L2 → GeM → linear to ``fc_output_dim`` → L2 (CosPlace's
    network); a lateral and a frontal CosFace head per group during training."""

    backbone: str = Field("resnet18", description="timm backbone, 'vgg16' or 'tinycnn' (official default: ResNet-18).")
    pretrained: bool = Field(
        False,
        description="ImageNet weights from timm (off by default: offline; the official code starts from CosPlace).",
    )
    freeze: Literal["paper", "none"] = Field(
        "paper", description="'paper' freezes ResNet layers before layer3 (VGG16: before conv5)."
    )
    fc_output_dim: int = Field(512, ge=1, description="Descriptor dimension (official default: 512).")
    s: float = Field(100.0, gt=0, description="CosFace scale (official: 100).")
    m: float = Field(0.4, ge=0, description="CosFace margin (official: 0.4).")
    test_transform: TestTransform = Field(
        default_factory=lambda: TestTransform(),
        description="Test preprocessing (official EigenPlaces: no resize, ImageNet normalisation).",
    )
    partition: EigenPlacesPartitionConfig = Field(
        default_factory=EigenPlacesPartitionConfig, description="Cells, groups and focal points."
    )
    training: EigenPlacesTrainingConfig = Field(
        default_factory=EigenPlacesTrainingConfig, description="The training schedule."
    )
