"""``TrainingConfig``: the schedule options shared by every group-per-epoch trainer.

Methods subclass it to set their paper's defaults (``DncTrainingConfig``, ``CosPlaceTrainingConfig``).
"""

from __future__ import annotations

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.training.augment_config import Augmentation, default_preset

__all__ = ["TrainingConfig"]


class TrainingConfig(VprkitConfig):
    """How to train: epochs of ``iterations_per_epoch × batch_size`` images, one group per epoch."""

    epochs: int = Field(50, ge=1, description="Number of epochs (one group per epoch).")
    iterations_per_epoch: int = Field(10_000, ge=1, description="Optimizer steps per epoch.")
    batch_size: int = Field(32, ge=1, description="Images per step (per process under DDP).")
    groups_trained: int | None = Field(
        None, ge=1, description="Train the first G groups in turn (epoch mod G); None = all groups."
    )
    backbone_lr: float = Field(1e-5, gt=0, description="Adam learning rate of backbone + aggregation.")
    head_lr: float = Field(0.01, gt=0, description="Adam learning rate of each group's head (own optimizer).")
    plateau_patience: int | None = Field(
        None, ge=0, description="ReduceLROnPlateau on the epoch training loss (backbone); None = constant lr."
    )
    plateau_factor: float = Field(0.1, gt=0, lt=1, description="ReduceLROnPlateau factor.")
    min_lr: float = Field(1e-6, ge=0, description="Stop when the backbone lr falls below this (plateau only).")
    augmentation: Augmentation = Field(
        "cosplace", description="Training augmentation: a preset name or a mapping of AugmentationConfig fields."
    )
    _augmentation_default = default_preset("cosplace")
    image_size: int = Field(512, ge=8, description="Training crop side in pixels (SF-XL crops are 512).")
    amp: bool = Field(True, description="Mixed precision (float16 autocast + GradScaler) when on CUDA.")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'...")
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes.")
    num_threads: int | None = Field(
        None, ge=1, description="torch CPU threads for this process (None = torch's default)."
    )
    seed: int = Field(0, description="Seed of weights init, sampling and augmentation.")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms (slower on GPU).")
    checkpoint_every: int = Field(
        0, ge=0, description="Also checkpoint every K iterations inside an epoch (0 = at epoch ends only)."
    )
    validate_every: int = Field(1, ge=0, description="Validate every K epochs (0 = never).")
    val_max_queries: int | None = Field(None, ge=1, description="Validate on at most this many queries.")
