"""Config of the BoQ retriever and of its multi-similarity training (docs/methods/boq.md). Import-light.

Defaults: Ali-bey, Chaib-draa and Giguère, "BoQ: A Place is Worth a Bag of Learnable Queries"
(CVPR 2024) and their repository (amaralibey/Bag-of-Queries @ 1a4965e): ResNet-50 cut after
``layer3`` (1024 channels, stride 16), a 3×3 convolution to 512 channels, 2 BoQ blocks of 64
learnable queries, a row-wise linear layer to 32 rows: 512 × 32 = 16384-D, the ``resnet50_16384``
release. The DINOv2 release (ViT-B/14, last 2 blocks trained) uses 384 channels: 384 × 32 = 12288-D.
Training: multi-similarity loss (α = 1, β = 50, λ = 0) with the multi-similarity miner (ε = 0.1),
AdamW 1e-4, weight decay 1e-4, 10 epochs of linear warm-up, lr × 0.1 at epochs 10 and 20, 40
epochs, 128 places × 4 images per batch (GSV-Cities).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import AUGMENTATION_SERIALIZER, AugmentationConfig, augmentation_validator

__all__ = [
    "DINOV2_HUB_NAMES",
    "DINOV2_TRAIN_SIZE",
    "BoQRetrieverConfig",
    "BoQTrainingConfig",
    "default_test_transform",
    "is_dinov2",
    "timm_dinov2_name",
]

#: the authors' torch.hub DINOv2 names → timm's names of the same networks
DINOV2_HUB_NAMES = {
    "dinov2_vits14": "vit_small_patch14_dinov2",
    "dinov2_vitb14": "vit_base_patch14_dinov2",
    "dinov2_vitl14": "vit_large_patch14_dinov2",
    "dinov2_vitg14": "vit_giant_patch14_dinov2",
}


def is_dinov2(backbone: str) -> bool:
    """Whether ``backbone`` names a DINOv2 ViT (timm ``*_dinov2`` or the hub's ``dinov2_vit*14``)."""
    return "dinov2" in backbone.lower()


def timm_dinov2_name(backbone: str) -> str:
    """timm's name of a DINOv2 backbone given by its timm or torch.hub name."""
    return DINOV2_HUB_NAMES.get(backbone.lower(), backbone)


#: the authors' DINOv2 training size (their train.py; 320 for ResNets, the config default)
DINOV2_TRAIN_SIZE = 224


def default_test_transform(backbone: str) -> TestTransform:
    """The authors' evaluation size for ``backbone``: 322 × 322 for DINOv2 (23 × 23 patches of
    14 px), 384 × 384 for a ResNet (24 × 24 tokens at stride 16); other backbones (``tinycnn``):
    no resize. ImageNet normalisation in every case."""
    if is_dinov2(backbone):
        return TestTransform(resize="square", size=322)
    if backbone.lower().startswith(("resnet", "resnext")):
        return TestTransform(resize="square", size=384)
    return TestTransform()


#: "boq" (the authors' RandAugment pipeline) besides vprkit's presets and mappings.
BoqAugmentation = Annotated[str | AugmentationConfig, augmentation_validator("boq"), AUGMENTATION_SERIALIZER]


class BoQTrainingConfig(VprkitConfig):
    """Multi-similarity training over batches of places (docs/methods/boq.md).

    vprkit's datasets carry no place identifiers (GSV-Cities does): a *place* is a UTM cell of
    ``place_cell_m`` metres × a heading bin of ``place_heading_deg`` degrees with at least
    ``img_per_place`` training images. The places of one batch come from one of the
    ``place_spacing²`` interleaved sub-grids of cells, so any two of them are at least
    ``(place_spacing − 1) · place_cell_m`` metres apart (GSV-Cities keeps 100 m between places).
    """

    epochs: int = Field(40, ge=1, description="Epochs (authors: 40).")
    iterations_per_epoch: int | None = Field(
        None, ge=1, description="Optimizer steps per epoch; None = one pass over the places (places // batch_size)."
    )
    batch_size: int = Field(128, ge=2, description="Places per batch (authors: 128).")
    img_per_place: int = Field(4, ge=2, description="Images drawn per place (authors: 4).")
    lr: float = Field(1e-4, gt=0, description="AdamW learning rate (authors: 1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay (authors: 1e-4).")
    warmup_epochs: int = Field(10, ge=0, description="Linear warm-up of the lr over this many epochs (authors: 10).")
    milestones: list[int] = Field(
        default_factory=lambda: [10, 20],
        description="Epochs at which the lr is multiplied by lr_gamma (authors: 10, 20).",
    )
    lr_gamma: float = Field(0.1, gt=0, le=1, description="lr factor at each milestone (authors: 0.1).")
    ms_alpha: float = Field(1.0, gt=0, description="Multi-similarity weight of positive pairs α (authors: 1).")
    ms_beta: float = Field(50.0, gt=0, description="Multi-similarity weight of negative pairs β (authors: 50).")
    ms_base: float = Field(0.0, description="Multi-similarity similarity offset λ (authors: 0).")
    miner_epsilon: float = Field(0.1, ge=0, description="Multi-similarity miner margin ε (authors: 0.1).")
    place_cell_m: float = Field(10.0, gt=0, description="Side of the UTM cell of a place (metres).")
    place_heading_deg: float | None = Field(
        30.0, gt=0, le=360, description="Width of a place's heading bin (degrees); None = headings ignored."
    )
    place_spacing: int = Field(
        11, ge=1, description="Places of a batch share (cell mod place_spacing): ≥ (place_spacing − 1) cells apart."
    )
    augmentation: BoqAugmentation = Field(
        "boq", description="'boq': bicubic resize + RandAugment(3 ops, magnitude 15), the authors' GSV-Cities one."
    )
    image_size: int = Field(
        320,
        ge=8,
        description="Training images are resized to this square (authors: 320 ResNet, 224 DINOv2: "
        "the retriever config sets 224 for a DINOv2 backbone unless given).",
    )
    amp: bool = Field(True, description="float16 autocast + GradScaler on CUDA (authors: 16-mixed).")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda:1'...")
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes.")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (None = torch's default).")
    seed: int = Field(0, description="Seed of weight init, place sampling and augmentation.")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms (slower on GPU).")
    checkpoint_every: int = Field(
        0, ge=0, description="Also checkpoint every K steps inside an epoch (0 = epoch ends)."
    )
    validate_every: int = Field(
        1, ge=0, description="Validate every K epochs (0 = never); best epoch by val LR@1 (= R@1)."
    )
    val_max_queries: int | None = Field(None, ge=1, description="Validate on at most this many queries.")

    @model_validator(mode="after")
    def _milestones_are_epochs(self) -> BoQTrainingConfig:
        if any(m < 0 for m in self.milestones):
            raise ValueError(f"milestones must be epochs (≥ 0), got {list(self.milestones)}")
        return self


class BoQRetrieverConfig(VprkitConfig):
    """Backbone feature map → 3×3 conv → LayerNorm → BoQ blocks → concatenated queries → row-wise
    linear → flatten → L2 (``proj_channels × row_dim`` dimensions)."""

    backbone: str = Field(
        "resnet50",
        description="timm ResNet (cut after layer3), a DINOv2 ViT (vit_base_patch14_dinov2 or dinov2_vitb14), "
        "'tinycnn' or another timm model (paper: ResNet-50 and DINOv2 ViT-B/14).",
    )
    pretrained: bool = Field(
        False, description="ImageNet / DINOv2 weights from timm (paper: yes; off by default: offline)."
    )
    freeze: Literal["paper", "none"] = Field(
        "paper", description="ResNet: 'paper' trains layer3 only (authors' unfreeze_n_blocks=1); 'none' trains all."
    )
    crop_layer4: bool = Field(True, description="ResNet: drop layer4, keep the stride-16 layer3 map (authors: yes).")
    trainable_blocks: int = Field(2, ge=0, description="DINOv2: last blocks trained, the others frozen (authors: 2).")
    vit_depth: int | None = Field(None, ge=1, description="DINOv2: number of blocks (None = the named model's).")
    vit_embed_dim: int | None = Field(None, ge=1, description="DINOv2: width (None = the named model's).")
    vit_num_heads: int | None = Field(None, ge=1, description="DINOv2: attention heads (None = the named model's).")
    proj_channels: int = Field(
        512, ge=1, description="Channels after the 3×3 input convolution (authors: 512 ResNet, 384 DINOv2)."
    )
    num_queries: int = Field(64, ge=1, description="Learnable queries per BoQ block (authors: 64).")
    num_layers: int = Field(2, ge=1, description="BoQ blocks in cascade (authors: 2).")
    row_dim: int = Field(
        32, ge=1, description="Rows of the row-wise projection; descriptor = proj_channels × row_dim (authors: 32)."
    )
    num_heads: int | None = Field(
        None, ge=1, description="Attention heads of the BoQ blocks (None = proj_channels // 64, the authors' rule)."
    )
    test_transform: TestTransform = Field(
        default_factory=TestTransform,
        description="Test preprocessing; when not given: 384×384 for ResNets, 322×322 for DINOv2 (authors' eval), "
        "else no resize; ImageNet normalisation.",
    )
    training: BoQTrainingConfig = Field(default_factory=BoQTrainingConfig, description="The training schedule.")

    @model_validator(mode="before")
    @classmethod
    def _authors_sizes(cls, data: Any) -> Any:
        # the evaluation and training sizes depend on the backbone: filled in only when not given
        if not isinstance(data, dict):
            return data
        backbone = str(data.get("backbone", cls.model_fields["backbone"].default))
        if "test_transform" not in data:
            data = {**data, "test_transform": default_test_transform(backbone)}
        training = data.get("training", {})
        if is_dinov2(backbone) and isinstance(training, dict) and "image_size" not in training:
            data = {**data, "training": {**training, "image_size": DINOV2_TRAIN_SIZE}}
        return data

    @property
    def heads(self) -> int:
        """Attention heads of the BoQ blocks (the authors' ``proj_channels // 64`` unless set)."""
        return self.num_heads or max(1, self.proj_channels // 64)

    @property
    def descriptor_dim(self) -> int:
        """``proj_channels × row_dim``."""
        return self.proj_channels * self.row_dim

    @model_validator(mode="after")
    def _check_sizes(self) -> BoQRetrieverConfig:
        if self.proj_channels % self.heads:
            raise ValueError(
                f"proj_channels={self.proj_channels} is not divisible by the {self.heads} attention heads; "
                "set num_heads to a divisor"
            )
        if is_dinov2(self.backbone):
            sizes = {"training.image_size": self.training.image_size}
            if self.test_transform.resize == "square":
                sizes["test_transform.size"] = int(self.test_transform.size or 0)
            wrong = {k: v for k, v in sizes.items() if v % 14}
            if wrong:
                raise ValueError(f"a DINOv2 backbone takes sides that are multiples of 14 pixels, not {wrong}")
        return self
