"""``DescriptorNet``: backbone + aggregation, the network every classifier and retriever trains.

``images (B, 3, H, W) float32, ImageNet-normalised -> descriptors (B, D) float32, L2-normalised``.
State-dict keys are ``backbone.*`` (timm names) and ``aggregation.*`` (see :mod:`.pooling`).
"""

from __future__ import annotations

import torch
from torch import nn

from vprkit.errors import ConfigError
from vprkit.models.backbones import create_backbone
from vprkit.models.pooling import avg_whiten_aggregation, gem_fc_aggregation

__all__ = ["AGGREGATIONS", "DescriptorNet", "build_descriptor_net"]

AGGREGATIONS = ("avg_whiten", "gem_fc")


class DescriptorNet(nn.Module):
    """Backbone feature map ``(B, C, h, w)`` → aggregation → ``(B, D)`` unit vectors."""

    def __init__(self, backbone: nn.Module, aggregation: nn.Module, dim: int):
        super().__init__()
        self.backbone = backbone
        self.aggregation = aggregation
        self.dim = dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # every backbone (timm's, TinyCNN, VGGFeatures) has forward_features; nn.Module's typing does not know it
        features = getattr(self.backbone, "forward_features")  # noqa: B009
        return self.aggregation(features(images))


def build_descriptor_net(
    backbone: str,
    aggregation: str,
    *,
    out_dim: int | None = None,
    pretrained: bool = False,
    freeze: str = "paper",
) -> DescriptorNet:
    """Build a :class:`DescriptorNet`.

    Args:
        backbone: ``"tinycnn"`` or a timm name.
        aggregation: ``"avg_whiten"`` (D&C: average pool → linear C→D → L2) or ``"gem_fc"``
            (CosPlace: L2 → GeM → linear C→D → L2).
        out_dim: descriptor dimension ``D``; ``None`` = backbone channels ``C`` (D&C's choice).
        pretrained: timm ImageNet weights (downloads); freeze: ``"paper"`` or ``"none"``.
    """
    body, channels = create_backbone(backbone, pretrained=pretrained, freeze=freeze)
    dim = int(out_dim or channels)
    if aggregation == "avg_whiten":
        agg = avg_whiten_aggregation(channels, dim)
    elif aggregation == "gem_fc":
        agg = gem_fc_aggregation(channels, dim)
    else:
        raise ConfigError(f"unknown aggregation {aggregation!r}; choose one of {AGGREGATIONS}")
    return DescriptorNet(body, agg, dim)
