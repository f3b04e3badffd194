"""``JointTrainingConfig``: the schedule of the classification baselines (PlaNet, HGE, CPlaNet, MvMF).

Import-light (pydantic only): plugin config modules import it. The defaults are D&C's loop
(Trivigno et al., ICCV 2023; the D&C supplementary trains the baselines in the same framework, "an epoch = 2k
iterations"), so that between methods only the partition and the head differ (docs/methods/planet.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.training.augment_config import Augmentation, default_preset
from vprkit.training.config import TrainingConfig

__all__ = ["JointTrainingConfig"]


class JointTrainingConfig(TrainingConfig):
    """Every head is trained on every step (one optimizer step = all heads + backbone).

    D&C's loop: 2,000 iterations × batch 64 per epoch, 500 epochs (1M iterations), backbone Adam
    1e-4 with ReduceLROnPlateau (patience 10) on the training loss, heads Adam 0.01,
    RandomResizedCrop 0.66–1.
    """

    epochs: int = Field(500, ge=1, description="Epochs (D&C loop: 1M iterations = 500 × 2,000).")
    iterations_per_epoch: int = Field(2_000, ge=1, description="Optimizer steps per epoch (D&C supplementary: 2k).")
    batch_size: int = Field(64, ge=1, description="Images per step (D&C: 64).")
    backbone_lr: float = Field(1e-4, gt=0, description="Backbone Adam learning rate (D&C: 1e-4).")
    head_lr: float = Field(0.01, gt=0, description="Adam learning rate of the heads (D&C: 0.01).")
    plateau_patience: int | None = Field(10, ge=0, description="ReduceLROnPlateau patience on training loss (D&C: 10).")
    augmentation: Augmentation = Field("dnc", description="RandomResizedCrop scale 0.66–1 (D&C).")
    _augmentation_default = default_preset("dnc")
    sampling: Literal["class", "image"] = Field(
        "class",
        description="'class': a random class of the sampling partition, then a random image of it (the D&C "
        "loop); 'image': uniformly random training images (PlaNet's original epochs over images).",
    )
