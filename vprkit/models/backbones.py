"""Backbones through timm, with the papers' freezing policies, plus a tiny CNN for CPU training.

Every backbone is an ``nn.Module`` with ``forward_features(images) -> (B, C, h, w)`` (timm's
convention); :func:`create_backbone` returns it with ``C``. Weights are random unless
``pretrained=True`` is asked for (timm then downloads ImageNet weights: the only network access).

Freezing policies (``freeze="paper"``), taken from the official code of each paper:

- EfficientNet (D&C): torchvision's ``features[0:5]`` are frozen, i.e. timm's ``conv_stem``,
  ``bn1`` and ``blocks[0:4]`` (the stages with 16, 24, 40 and 80 output channels for B0).
- ResNet (CosPlace): everything before ``layer3`` (``conv1``, ``bn1``, ``layer1``, ``layer2``).
- VGG (CosPlace): all but the last five modules of the cut ``features`` (conv5_1 … conv5_3 train).
- ``tinycnn`` and other families: nothing frozen.

VGG is cut as CosPlace cuts it: ``features`` without its last ReLU and max-pool, so the map is
conv5_3 before its ReLU, stride 16 (:class:`VGGFeatures`; keys ``features.<i>.*`` with
torchvision's indices).

Frozen means ``requires_grad = False``; batch-norm statistics still update in train mode, as in
the official code.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from vprkit.errors import ConfigError

__all__ = [
    "TINY_CNN_NAME",
    "VGG_NAMES",
    "TinyCNN",
    "VGGFeatures",
    "create_backbone",
    "freeze_paper_layers",
    "trainable_parameter_count",
]

TINY_CNN_NAME = "tinycnn"


def _conv_bn_relu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class TinyCNN(nn.Module):
    """A 0.29M-parameter plain CNN for small images (64×64 synthcity views) trained on CPU.

    Four stride-2 stages (16, 32, 64, 128 channels), two 3×3 conv-BN-ReLU layers per stage after
    the stem: ``(B, 3, H, W) -> (B, 128, H/16, W/16)``.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn_relu(3, widths[0], 2))
        stages = []
        for cin, cout in itertools.pairwise(widths):
            stages.append(nn.Sequential(*_conv_bn_relu(cin, cout, 2), *_conv_bn_relu(cout, cout, 1)))
        self.stages = nn.Sequential(*stages)
        self.num_features = widths[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


# VGG convolution widths per stage ("M" = 2×2 max-pool), Simonyan & Zisserman configurations A/B/D/E
_VGG_LAYERS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


VGG_NAMES = tuple(_VGG_LAYERS)


def _vgg_features(name: str) -> nn.Sequential:
    """torchvision/timm's ``features`` of VGG ``name`` (same indices), without the classifier."""
    layers: list[nn.Module] = []
    channels = 3
    for width in _VGG_LAYERS[name]:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(width), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(width)
    return nn.Sequential(*layers)


class VGGFeatures(nn.Module):
    """A VGG's convolutional ``features`` cut after the last convolution of a block, before its
    ReLU (CosPlace's and NetVLAD's cut): ``cut="conv5"`` (VGG16: conv5_3, ``(B, 512, H/16, W/16)``)
    or ``"conv4"`` (conv4_3, ``(B, 512, H/8, W/8)``). Keys keep torchvision's ``features`` indices."""

    def __init__(self, name: str, pretrained: bool = False, cut: str = "conv5"):
        super().__init__()
        features = _vgg_features(name)
        if pretrained:  # timm's ImageNet weights use the same features indices
            import timm

            features.load_state_dict(timm.create_model(name, pretrained=True).get_submodule("features").state_dict())
        pools = [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
        block = {"conv4": 3, "conv5": 4}.get(cut)
        if block is None:
            raise ConfigError(f"VGG cut must be 'conv4' or 'conv5', got {cut!r}")
        self.features = nn.Sequential(*list(features.children())[: pools[block] - 1])  # drop the ReLU and pool
        self.num_features = 512

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def _freeze(modules: list[nn.Module]) -> None:
    for module in modules:
        for param in module.parameters():
            param.requires_grad = False


def freeze_paper_layers(model: nn.Module, name: str) -> None:
    """Apply the paper's freezing policy for backbone ``name`` (see the module docstring)."""
    family = name.lower()
    if family.startswith(("efficientnet", "tf_efficientnet")):
        blocks = list(model.get_submodule("blocks").children())
        _freeze([model.get_submodule("conv_stem"), model.get_submodule("bn1"), *blocks[:4]])
    elif family.startswith(("resnet", "resnext")):
        _freeze([model.get_submodule(n) for n in ("conv1", "bn1", "layer1", "layer2")])
    elif isinstance(model, VGGFeatures):
        _freeze(list(model.features)[:-5])


def create_backbone(name: str, *, pretrained: bool = False, freeze: str = "paper") -> tuple[nn.Module, int]:
    """Build backbone ``name`` and return ``(module, channels)``.

    Args:
        name: ``"tinycnn"``, ``"vgg11"`` … ``"vgg19"`` (:class:`VGGFeatures`, CosPlace's cut) or any
            other timm model name (``"efficientnet_b0"``, ``"resnet18"``...).
        pretrained: load timm's ImageNet weights (downloads; off by default, vprkit is offline).
        freeze: ``"paper"`` (the policy above) or ``"none"``.
    """
    if freeze not in ("paper", "none"):
        raise ConfigError(f"backbone freeze policy must be 'paper' or 'none', got {freeze!r}")
    if name == TINY_CNN_NAME:
        if pretrained:
            raise ConfigError("backbone 'tinycnn' has no pretrained weights; set pretrained=false")
        model: nn.Module = TinyCNN()
    else:
        import timm

        if not timm.is_model(name):
            close = timm.list_models(f"*{name.split('_')[0]}*")[:5]
            raise ConfigError(f"unknown backbone {name!r} (not 'tinycnn' nor a timm model); similar: {close}")
        if name in VGG_NAMES:
            model = VGGFeatures(name, pretrained=pretrained)
        else:
            model = timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="")
    if freeze == "paper":
        freeze_paper_layers(model, name)
    # an int attribute of timm's models (typed as a bare nn.Module), TinyCNN and VGGFeatures
    return model, int(getattr(model, "num_features"))  # noqa: B009


def trainable_parameter_count(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
