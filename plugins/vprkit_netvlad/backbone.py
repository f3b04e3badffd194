"""Backbones cut at conv4 or conv5, as NetVLAD and the VPR benchmark use them.

``conv5`` is the last convolutional map (VGG16: conv5_3 *before* its ReLU, stride 16, as NetVLAD
and its PyTorch ports cut it — :class:`~vprkit.models.backbones.VGGFeatures`; ResNet: ``layer4``,
stride 32), ``conv4`` the one before (VGG16: conv4_3 before its ReLU; ResNet: ``layer3``, the
benchmark's ``resnet18conv4``). ResNets come from timm's ``features_only`` models. ``tinycnn``
(stride 16) keeps all its stages for ``conv5`` and drops the last one for ``conv4``.

Freezing (``freeze="paper"``): VGG trains conv5 only (NetVLAD); ResNet freezes everything before
``layer3`` (the benchmark, like CosPlace); other families train everything.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from vprkit.errors import ConfigError
from vprkit.models.backbones import TINY_CNN_NAME, VGG_NAMES, TinyCNN, VGGFeatures, freeze_paper_layers

__all__ = ["CroppedBackbone", "create_cropped_backbone"]

# timm feature_info index of the stride-16 / stride-32 maps (reduction 2**index for VGG and ResNet)
_CROP_INDEX = {"conv4": 3, "conv5": 4}
_VGG_CONV5_FIRST = 24  # torchvision/timm index of conv5_1 in VGG16 ``features``


class CroppedBackbone(nn.Module):
    """A timm ``features_only`` model returning one map: ``forward_features(images) -> (B, C, h, w)``."""

    def __init__(self, body: nn.Module, channels: int):
        super().__init__()
        self.body = body
        self.num_features = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def _freeze_vgg_before_conv5(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        index = re.search(r"features[._](\d+)", name)
        if index and int(index.group(1)) < _VGG_CONV5_FIRST:
            param.requires_grad = False


def create_cropped_backbone(
    name: str, crop: str = "conv5", *, pretrained: bool = False, freeze: str = "paper"
) -> tuple[nn.Module, int]:
    """``(module with forward_features, channels C)`` of backbone ``name`` cut at ``crop``."""
    if crop not in _CROP_INDEX:
        raise ConfigError(f"crop must be one of {sorted(_CROP_INDEX)}, got {crop!r}")
    if freeze not in ("paper", "none"):
        raise ConfigError(f"backbone freeze policy must be 'paper' or 'none', got {freeze!r}")
    if name == TINY_CNN_NAME:
        if pretrained:
            raise ConfigError("backbone 'tinycnn' has no pretrained weights; set pretrained=false")
        tiny = TinyCNN() if crop == "conv5" else TinyCNN(widths=(16, 32, 64))  # conv4: without the last stage
        return tiny, int(tiny.num_features)
    if name in VGG_NAMES:
        vgg = VGGFeatures(name, pretrained=pretrained, cut=crop)
        if freeze == "paper":
            _freeze_vgg_before_conv5(vgg)
        return vgg, vgg.num_features
    import timm

    if not timm.is_model(name):
        raise ConfigError(f"unknown backbone {name!r} (not 'tinycnn' nor a timm model)")
    body = timm.create_model(name, pretrained=pretrained, features_only=True, out_indices=(_CROP_INDEX[crop],))
    # timm's feature models carry a FeatureInfo, which their nn.Module typing does not show
    channels = int(getattr(body, "feature_info").channels()[-1])  # noqa: B009
    if freeze == "paper":
        if name.lower().startswith("vgg"):
            _freeze_vgg_before_conv5(body)
        else:
            freeze_paper_layers(body, name)
    return CroppedBackbone(body, channels), channels
