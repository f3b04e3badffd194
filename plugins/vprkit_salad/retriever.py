"""The SALAD retriever (Izquierdo & Civera, CVPR 2024; docs/methods/salad.md): DINOv2 → SALAD → 8448-D.

Test images go through the config's ``test_transform`` (the authors': 322 × 322), then, when a
side is not a multiple of DINOv2's 14-pixel patches, are resized (bilinear, antialiased) to the
nearest multiple (at least 14): synthcity's 64 × 64 views become 70 × 70. The authors always
resize to 322 × 322, so their images never need it.
"""

from __future__ import annotations

from PIL import Image
from torchvision import transforms as T

from vprkit.models.dinov2 import DINOv2Backbone
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.transforms import build_test_transform
from vprkit_salad.config import PATCH_SIZE, SALADRetrieverConfig
from vprkit_salad.salad import SALADAggregation, SALADNet

__all__ = ["PatchMultipleResize", "SALADRetriever", "salad_test_transform"]


def nearest_patch_multiple(side: int, patch: int = PATCH_SIZE) -> int:
    """The multiple of ``patch`` nearest to ``side`` pixels (at least ``patch``; halves round up)."""
    return max(patch, int(side / patch + 0.5) * patch)


class PatchMultipleResize:
    """PIL image → the same image with both sides resized to their nearest multiple of ``patch``
    (unchanged when they already are)."""

    def __init__(self, patch: int = PATCH_SIZE):
        self.patch = patch

    def __call__(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        size = (nearest_patch_multiple(width, self.patch), nearest_patch_multiple(height, self.patch))
        return image if size == image.size else image.resize(size, Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(patch={self.patch})"


def salad_test_transform(config: SALADRetrieverConfig) -> T.Compose:
    """The config's test transform with :class:`PatchMultipleResize` before the tensor conversion."""
    steps = list(build_test_transform(config.test_transform).transforms)
    at = next(i for i, step in enumerate(steps) if isinstance(step, T.ToTensor))
    return T.Compose([*steps[:at], PatchMultipleResize(), *steps[at:]])


class SALADRetriever(TrainedRetriever):
    """SALAD retriever. ``SALADRetriever(config)`` has fresh aggregation weights (seeded by
    ``training.seed``) and a random ViT unless ``pretrained``; :meth:`load` reads a saved one,
    :func:`vprkit_salad.release.import_salad` maps the authors' checkpoint onto it (training:
    :func:`vprkit_salad.train.train_salad`)."""

    name = "salad"
    config_cls = SALADRetrieverConfig
    config: SALADRetrieverConfig

    def __init__(self, config: SALADRetrieverConfig | None = None):
        super().__init__(config)
        self.transform = salad_test_transform(self.config)

    def build_net(self) -> SALADNet:
        """DINOv2 (last ``trainable_blocks`` trained, final norm on every token) → SALAD."""
        cfg = self.config
        backbone = DINOv2Backbone(
            cfg.backbone,
            pretrained=cfg.pretrained,
            trainable_blocks=cfg.trainable_blocks,
            depth=cfg.vit_depth,
            embed_dim=cfg.vit_embed_dim,
            num_heads=cfg.vit_num_heads,
            patch_norm=True,  # SALAD's backbone applies the final norm to the patch tokens too
        )
        aggregation = SALADAggregation(
            backbone.num_features,
            cfg.num_clusters,
            cfg.cluster_dim,
            cfg.token_dim,
            hidden_dim=cfg.hidden_dim,
            dropout=cfg.dropout,
            sinkhorn_iterations=cfg.sinkhorn_iterations,
            dustbin_init=cfg.dustbin_init,
        )
        return SALADNet(backbone, aggregation)
