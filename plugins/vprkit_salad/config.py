"""Config of the SALAD retriever (defaults: Izquierdo & Civera, CVPR 2024, and the authors' code,
serizba/salad @ e593005: ``main.py``, ``hubconf.py``, ``eval.py``; docs/methods/salad.md). Import-light.

The network: DINOv2 ViT-B/14 (last 4 blocks trained, final norm on every token) → SALAD with
m = 64 clusters of l = 128 dimensions and a g = 256 global token: 64 × 128 + 256 = 8448-D. Test
images are resized to 322 × 322 (23 × 23 patches). Training deviates from the authors' (module
:mod:`vprkit_salad.train`): CosFace heads over CosPlace groups instead of the multi-similarity
loss over GSV-Cities places.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field, model_validator

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import (
    AUGMENTATION_SERIALIZER,
    AugmentationConfig,
    augmentation_validator,
    default_preset,
)
from vprkit.training.config import TrainingConfig

__all__ = [
    "PATCH_SIZE",
    "SALADPartitionConfig",
    "SALADRetrieverConfig",
    "SALADTrainingConfig",
    "default_test_transform",
]

#: DINOv2's patch side in pixels: image sides must be multiples of it
PATCH_SIZE = 14
#: the authors' evaluation size (eval.py --image_size 322 322)
TEST_SIZE = 322


def default_test_transform() -> TestTransform:
    """The authors' test preprocessing: bilinear resize to 322 × 322, ImageNet normalisation."""
    return TestTransform(resize="square", size=TEST_SIZE)


class SALADPartitionConfig(VprkitConfig):
    """The classes of vprkit's SALAD training: the ``cosplace`` partitioner's UTM cells × heading
    bins in N·N·L groups (same fields and defaults as CosPlace's)."""

    M: float = Field(10.0, gt=0, description="Cell side in metres (CosPlace: 10).")
    alpha: float = Field(30.0, gt=0, le=360, description="Heading bin width in degrees (CosPlace: 30).")
    N: int = Field(5, ge=1, description="Spatial groups per axis (CosPlace: 5).")
    L: int = Field(2, ge=1, description="Heading groups (CosPlace: 2).")
    groups_num: Optional[int] = Field(8, ge=1, description="Groups trained (CosPlace: 8); null keeps all N·N·L.")
    min_images_per_class: int = Field(10, ge=1, description="Classes with fewer training images are dropped.")


#: "salad" (the authors' RandAugment pipeline) besides vprkit's presets and mappings.
SaladAugmentation = Annotated[str | AugmentationConfig, augmentation_validator("salad"), AUGMENTATION_SERIALIZER]


class SALADTrainingConfig(TrainingConfig):
    """vprkit's SALAD schedule: the authors' optimiser values on CosPlace-style group training.

    The authors: 4 epochs over GSV-Cities (≈ 1,000 steps of 60 places × 4 images = 240 images at
    224 × 224), AdamW at 6e-5 (weight decay 9.5e-9, i.e. Adam), learning rate decayed linearly to
    0.2× over 4,000 steps, RandAugment (3 operations) after a bilinear resize. Here the loop's Adam
    runs at a constant rate (``plateau_patience`` optional) and each group's CosFace head has its own
    Adam at ``head_lr``."""

    epochs: int = Field(4, ge=1, description="Epochs (authors: 4 over GSV-Cities).")
    iterations_per_epoch: int = Field(1_000, ge=1, description="Optimizer steps per epoch (authors: ≈ 1,000).")
    batch_size: int = Field(240, ge=1, description="Images per step (authors: 60 places × 4 images).")
    backbone_lr: float = Field(6e-5, gt=0, description="Adam learning rate of the ViT and SALAD (authors: 6e-5).")
    head_lr: float = Field(0.01, gt=0, description="Adam learning rate of each group's CosFace head (CosPlace).")
    plateau_patience: int | None = Field(None, ge=0, description="None: constant rate (authors: linear decay).")
    # one more preset than the shared schedule's; "salad" (RandAugment) is no field-wise recipe, so
    # a mapping starts from nothing unless it names a preset
    _augmentation_default = default_preset(None)
    augmentation: SaladAugmentation = Field(
        "salad", description="'salad': bilinear resize + RandAugment(3 ops), the authors' GSV-Cities transform."
    )
    image_size: int = Field(224, ge=PATCH_SIZE, description="Training side in pixels, a multiple of 14 (authors: 224).")

    @model_validator(mode="after")
    def _patch_multiple(self) -> SALADTrainingConfig:
        if self.image_size % PATCH_SIZE:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of DINOv2's {PATCH_SIZE}-pixel patches "
                f"(e.g. {max(1, round(self.image_size / PATCH_SIZE)) * PATCH_SIZE})"
            )
        return self


class SALADRetrieverConfig(VprkitConfig):
    """DINOv2 → SALAD (score MLP + dustbin → Sinkhorn → per-cluster sums of reduced features) +
    the class token's global feature → L2."""

    backbone: str = Field(
        "vit_base_patch14_dinov2",
        description="DINOv2 ViT: timm name (vit_base_patch14_dinov2) or torch.hub name (dinov2_vitb14) (authors: ViT-B/14).",
    )
    pretrained: bool = Field(
        False, description="timm's DINOv2 weights (authors: yes; off by default: offline, downloads)."
    )
    trainable_blocks: int = Field(4, ge=0, description="Last ViT blocks trained, the rest frozen (authors: 4).")
    vit_depth: int | None = Field(None, ge=1, description="ViT blocks (None = the named model's; tiny test models).")
    vit_embed_dim: int | None = Field(None, ge=1, description="ViT width (None = the named model's).")
    vit_num_heads: int | None = Field(None, ge=1, description="ViT attention heads (None = the named model's).")
    num_clusters: int = Field(64, ge=1, description="Clusters m (authors: 64).")
    cluster_dim: int = Field(128, ge=1, description="Reduced local-feature dimension l (authors: 128).")
    token_dim: int = Field(256, ge=1, description="Global scene token dimension g (authors: 256).")
    hidden_dim: int = Field(512, ge=1, description="Hidden width of the three MLPs (authors: 512).")
    dropout: float = Field(0.3, ge=0, lt=1, description="Dropout in the score and feature MLPs (authors: 0.3).")
    sinkhorn_iterations: int = Field(3, ge=1, description="Sinkhorn iterations (authors: 3).")
    dustbin_init: float = Field(1.0, description="Initial dustbin score z (authors: 1).")
    s: float = Field(30.0, gt=0, description="CosFace scale of the training heads (CosPlace: 30).")
    m: float = Field(0.4, ge=0, description="CosFace margin of the training heads (CosPlace: 0.4).")
    test_transform: TestTransform = Field(
        default_factory=default_test_transform,
        description="Test preprocessing (authors: 322×322 bilinear, ImageNet normalisation); sides that are "
        "not multiples of 14 are then resized to the nearest multiple.",
    )
    partition: SALADPartitionConfig = Field(
        default_factory=SALADPartitionConfig, description="The training classes (cosplace partition)."
    )
    training: SALADTrainingConfig = Field(default_factory=SALADTrainingConfig, description="The training schedule.")

    @property
    def descriptor_dim(self) -> int:
        """``num_clusters × cluster_dim + token_dim`` (8448 for the authors' model)."""
        return self.num_clusters * self.cluster_dim + self.token_dim
