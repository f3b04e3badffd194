"""Config of the D&C classifier (defaults: Trivigno et al., ICCV 2023 + official code; docs/methods/dnc.md). Import-light."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import Augmentation, default_preset
from vprkit.training.config import TrainingConfig
from vprkit_dnc.config import DncPartitionConfig

__all__ = ["DncClassifierConfig", "DncTrainingConfig"]


class DncTrainingConfig(TrainingConfig):
    """D&C schedule: 2,000 iterations × batch 64 per epoch, one group per epoch, 1M iterations in
    all (500 epochs); backbone Adam 1e-4 with ReduceLROnPlateau (patience 10) on the training
    loss, stopping below 1e-6; each group head its own Adam at 0.01; RandomResizedCrop 0.66–1."""

    epochs: int = Field(500, ge=1, description="Epochs (paper: 1M iterations = 500 × 2,000).")
    iterations_per_epoch: int = Field(2_000, ge=1, description="Optimizer steps per epoch (official: 2,000).")
    batch_size: int = Field(64, ge=1, description="Images per step (paper: 64).")
    backbone_lr: float = Field(1e-4, gt=0, description="Backbone Adam learning rate (paper: 1e-4).")
    head_lr: float = Field(0.01, gt=0, description="Per-group head Adam learning rate (official: 0.01).")
    plateau_patience: int | None = Field(
        10, ge=0, description="ReduceLROnPlateau patience on training loss (official: 10)."
    )
    augmentation: Augmentation = Field("dnc", description="RandomResizedCrop scale 0.66–1.")
    _augmentation_default = default_preset("dnc")


class DncClassifierConfig(VprkitConfig):
    """Backbone → average pooling → linear C→C ("whitening") → L2; one AAMC head per group."""

    backbone: str = Field("efficientnet_b0", description="timm backbone or 'tinycnn' (paper: EfficientNet-B0).")
    pretrained: bool = Field(False, description="ImageNet weights from timm (paper: yes; off by default: offline).")
    freeze: Literal["paper", "none"] = Field("paper", description="'paper' freezes EfficientNet stem + blocks 0–3.")
    descriptor_dim: int | None = Field(None, ge=1, description="Descriptor size; null = backbone channels (paper).")
    head: Literal["arcface", "cosface", "linear"] = Field("arcface", description="AAMC (arcface), LMCC, or linear+CE.")
    s: float = Field(100.0, gt=0, description="Margin-head scale (official training script: 100).")
    m: float = Field(0.2, ge=0, description="Margin (official training script: 0.2).")
    easy_margin: bool = Field(True, description="ArcFace margin only where cos θ_y > 0 (official code).")
    score_mode: Literal["raw", "cosine"] = Field("raw", description="Inference scores: raw W·x (official) or cosine.")
    # Inference-only settings: excluded from the dump so they do not change a trained model's fingerprint.
    score_precision: Literal["float32", "pq4", "bf16", "auto"] = Field(
        "float32",
        exclude=True,
        description="Inference scan: float32 (reference), pq4 (4-bit PQ shortlist + exact re-ranking), "
        "bf16 (bf16 shortlist, exact re-ranking, proven exact), auto (pq4 below 64 queries, bf16 from 64).",
    )
    score_shortlist: int = Field(256, ge=1, exclude=True, description="pq4: classes per group re-ranked exactly.")
    test_transform: TestTransform = Field(
        default_factory=lambda: TestTransform(resize="shorter_side", size=256),
        description="Test preprocessing (official D&C: shorter side to 256, aspect kept; ImageNet normalisation).",
    )
    partition: DncPartitionConfig = Field(
        default_factory=DncPartitionConfig, description="The dnc partition (M, N...)."
    )
    training: DncTrainingConfig = Field(default_factory=DncTrainingConfig, description="The training schedule.")
