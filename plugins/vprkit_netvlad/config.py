"""Configs of the NetVLAD and GeM retrievers and of their triplet training (docs/methods/netvlad.md). Import-light.

Defaults: NetVLAD (Arandjelović et al.: VGG16 cropped at conv5, K = 64, PCA-whitening to 4096-D as
in D&C Table 2) and the VPR benchmark (Berton et al., CVPR 2022) for the training (triplet margin 0.1, partial
mining: positives within 10 m, 10 hardest negatives farther than 25 m from a random pool of 1,000
database images, cache refreshed every 1,000 queries, Adam 1e-5, batch 4 queries, 5,000 queries per
epoch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform
from vprkit.training.augment_config import Augmentation, default_preset

__all__ = ["GeMRetrieverConfig", "NetVLADRetrieverConfig", "TripletTrainingConfig"]


class TripletTrainingConfig(VprkitConfig):
    """Triplet training with partial mining (Masone and Berton's tutorial slides; docs/methods/netvlad.md). The train split is both the
    query set and the database: a query's positives are the other training images within
    ``positive_radius_m``, its negatives come from images farther than ``negative_radius_m``."""

    epochs: int = Field(50, ge=1, description="Epochs (benchmark: up to 50 with early stopping on val R@5).")
    queries_per_epoch: int = Field(5000, ge=1, description="Training queries per epoch (benchmark: 5,000).")
    cache_refresh_rate: int = Field(1000, ge=1, description="Queries mined per cache refresh (benchmark: 1,000).")
    neg_samples_num: int = Field(
        1000, ge=1, description="Random database images in the negative pool (benchmark: 1,000)."
    )
    negs_num_per_query: int = Field(10, ge=1, description="Hardest negatives per query (benchmark: 10).")
    positive_radius_m: float = Field(
        10.0, gt=0, description="Training positives within this distance (metres; paper: 10)."
    )
    positive_max_heading_diff_deg: float | None = Field(
        None,
        ge=0,
        le=180,
        description="Also require positives to look within this many degrees of the query "
        "(null = the paper: distance only).",
    )
    negative_radius_m: float = Field(25.0, gt=0, description="Negatives are farther than this (metres; paper: 25).")
    margin: float = Field(0.1, ge=0, description="Triplet margin on L2 distances of unit descriptors (paper: 0.1).")
    batch_size: int = Field(
        4, ge=1, description="Queries per step; each brings 1 positive + negs_num_per_query negatives."
    )
    lr: float = Field(1e-5, gt=0, description="Adam learning rate (benchmark: 1e-5).")
    _augmentation_default = default_preset("none")
    augmentation: Augmentation = Field("none", description="Training augmentation (benchmark: none).")
    image_size: int = Field(512, ge=8, description="Training images are resized to this square (pixels).")
    cache_batch_size: int = Field(32, ge=1, description="Images per forward pass when filling the descriptor cache.")
    amp: bool = Field(True, description="float16 autocast + GradScaler on CUDA.")
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda:1'...")
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes.")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (None = torch's default).")
    seed: int = Field(0, description="Seed of weight init, k-means, query order and mining pools.")
    validate_every: int = Field(
        1, ge=0, description="Validate every K epochs (0 = never); best epoch by val LR@1 (= R@1)."
    )
    val_max_queries: int | None = Field(None, ge=1, description="Validate on at most this many queries.")


class _RetrieverConfig(VprkitConfig):
    backbone: str = Field("vgg16", description="timm backbone or 'tinycnn' (papers: VGG16).")
    crop: Literal["conv4", "conv5"] = Field(
        "conv5",
        description="Where the backbone is cut: conv5 = stride-32 features, conv4 = stride 16 (benchmark ResNets).",
    )
    pretrained: bool = Field(False, description="ImageNet weights from timm (papers: yes; off by default: offline).")
    freeze: Literal["paper", "none"] = Field(
        "paper",
        description="'paper': VGG trains conv5 only (NetVLAD), ResNet freezes before layer3; 'none' trains all.",
    )
    test_transform: TestTransform = Field(
        default_factory=lambda: TestTransform(),
        description="Test preprocessing (benchmark: no resize, ImageNet normalisation).",
    )
    training: TripletTrainingConfig = Field(default_factory=TripletTrainingConfig, description="The training schedule.")


class NetVLADRetrieverConfig(_RetrieverConfig):
    """Cropped backbone → NetVLAD (K clusters, k-means init) → intra-norm → L2 → optional PCA / FC → L2."""

    clusters: int = Field(64, ge=2, description="NetVLAD clusters K (paper: 64).")
    reduction: Literal["none", "pca", "fc"] = Field(
        "pca",
        description="'pca': PCA-whitening fitted after training (paper); 'fc': a trained linear layer; 'none': K·C-D.",
    )
    out_dim: int = Field(4096, ge=1, description="Dimension after PCA / FC (D&C Table 2: 4096).")
    pca_images: int = Field(10_000, ge=1, description="Training images whose descriptors fit the PCA.")
    kmeans_images: int = Field(500, ge=1, description="Training images sampled for the k-means initialisation.")
    kmeans_features_per_image: int = Field(100, ge=1, description="Local features sampled per image for k-means.")
    kmeans_iterations: int = Field(100, ge=1, description="faiss k-means iterations.")


class GeMRetrieverConfig(_RetrieverConfig):
    """Cropped backbone → L2 over channels → GeM (p = 3, learnable) → FC → L2 (the benchmark's GeM)."""

    fc_output_dim: int = Field(512, ge=1, description="Descriptor dimension after the FC layer.")
