"""Loaders for the weights the authors released (facts about their key layouts, no code reuse).

**CosPlace** (``torch.hub`` state dicts per backbone and dimension): ``backbone.<i>.*`` where
``backbone`` is torchvision ResNet ``children()[:-2]`` (0 conv1, 1 bn1, 2 relu, 3 maxpool,
4–7 layer1–4) or torchvision VGG16 ``features.children()[:-2]`` (the 13 convolutions at their
``features`` indices 0 … 28, without the last ReLU and max-pool), and ``aggregation.<i>.*`` =
(0 L2Norm, 1 GeM with ``p`` of shape ``(1,)``, 2 Flatten, 3 Linear, 4 L2Norm). It maps onto a
``DescriptorNet(backbone=<timm resnet | VGGFeatures>, aggregation="gem_fc")``: timm ResNets use
torchvision's names inside the layers, :class:`~vprkit.models.backbones.VGGFeatures` keeps the
``features`` indices.

**Divide&Classify** (``torch.save`` dict): ``model_state_dict`` with ``backbone.*`` =
torchvision EfficientNet ``features`` (``features[0]`` stem conv+BN, ``features[1..7]`` stages of
MBConv blocks whose ``block`` sequence is [expand conv+BN,] depthwise conv+BN, squeeze-excitation
``fc1``/``fc2``, projection conv+BN; ``features[8]`` head conv+BN) and ``classifier.0.*`` =
the C→C "whitening" linear layer (``classifier.1`` is an L2 norm); ``classifiers_state_dict`` =
one state dict per group (``weight (S_k, C)`` for AAMC/CosFace heads, ``linear.weight`` /
``linear.bias`` for the cross-entropy heads). Keys may carry DataParallel's ``module.`` prefix.

Files are read with :func:`read_state_file` (safetensors, or ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from vprkit.errors import DataError

__all__ = [
    "cosplace_architecture",
    "cosplace_to_vprkit",
    "dnc_to_vprkit",
    "load_cosplace_weights",
    "read_state_file",
    "strip_module_prefix",
    "torchvision_efficientnet_to_timm",
]

V = TypeVar("V")  # what a state dict's keys map to (renaming keys keeps the values)

_RESNET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
_COSPLACE_AGG = {"1.p": "1.p", "3.weight": "2.weight", "3.bias": "2.bias"}


def read_state_file(path: str | Path) -> Any:
    """Load a weights file safely: ``.safetensors`` via safetensors, anything else via
    ``torch.load(weights_only=True)``, which builds only tensors and plain containers and runs no
    pickled code. Also allowed, because the authors' training checkpoints hold them and rebuilding
    them runs nothing: ``argparse.Namespace`` (their arguments) and NumPy scalars (their recalls).
    Errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"weights file {str(p)!r} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        with torch.serialization.safe_globals(_checkpoint_globals()):
            return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with objects weights_only refuses...
        raise DataError(f"cannot read weights file {str(p)!r}: {_load_failure(exc)}") from exc


def _checkpoint_globals() -> list[Any]:
    """The objects besides tensors and containers that released checkpoints pickle (see
    :func:`read_state_file`); NumPy scalars under both their NumPy 1 and NumPy 2 module names."""
    import argparse
    import importlib

    import numpy as np

    # NumPy 2 keeps it in numpy._core, NumPy 1 in numpy.core (which NumPy 2's stubs leave empty)
    scalar = importlib.import_module(
        "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
    ).scalar
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType") and n != "StringDType"]
    return [
        argparse.Namespace,
        np.dtype,
        *dtypes,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
    ]


def _load_failure(exc: Exception) -> str:
    """The one informative line of torch's weights-only refusal (which object it refused)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    refused = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    if refused:
        return f"it holds a pickled object vprkit will not build ({refused[0]})"
    return lines[0] if lines else type(exc).__name__


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix (Data)DistributedDataParallel adds to every key."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def _cosplace_is_vgg(state: Mapping[str, torch.Tensor]) -> bool:
    return "backbone.28.weight" in state and not any(k.startswith("backbone.4.") for k in state)


def cosplace_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, int]:
    """``(timm backbone name, fc_output_dim)`` of an official CosPlace state dict, read off its keys:
    VGG16 by its conv5_3 at ``backbone.28``; a ResNet by the blocks of ``layer3`` (``backbone.6``)
    and whether they are bottlenecks (``conv3``)."""
    state = strip_module_prefix(state)
    if "aggregation.3.weight" not in state:
        raise DataError("not a CosPlace state dict: no aggregation.3.weight (the final linear layer)")
    dim = int(state["aggregation.3.weight"].shape[0])
    if _cosplace_is_vgg(state):
        return "vgg16", dim
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("backbone.6.")}
    bottleneck = any(k.startswith("backbone.6.0.conv3.") for k in state)
    depth = {
        (2, False): "resnet18",
        (6, False): "resnet34",
        (6, True): "resnet50",
        (23, True): "resnet101",
        (36, True): "resnet152",
    }.get((len(blocks), bottleneck))
    if depth is None:
        raise DataError(
            f"CosPlace state dict: a backbone vprkit does not know ({len(blocks)} blocks in layer3, "
            f"{'bottleneck' if bottleneck else 'basic'}); releases are VGG16 and ResNet-18/50/101/152"
        )
    return depth, dim


def cosplace_to_vprkit(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official CosPlace ResNet or VGG16 state dict → ``DescriptorNet`` (``gem_fc``) keys."""
    state = strip_module_prefix(state)
    vgg = _cosplace_is_vgg(state)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            index, _, rest = key[len("backbone.") :].partition(".")
            if vgg:
                out[f"backbone.features.{index}.{rest}"] = value
            elif index in _RESNET_CHILDREN:
                out[f"backbone.{_RESNET_CHILDREN[index]}.{rest}"] = value
            else:
                raise DataError(
                    f"CosPlace state dict: unexpected backbone key {key!r} (releases are ResNets and VGG16)"
                )
        elif key.startswith("aggregation."):
            rest = key[len("aggregation.") :]
            if rest not in _COSPLACE_AGG:
                raise DataError(f"CosPlace state dict: unexpected aggregation key {key!r}")
            out[f"aggregation.{_COSPLACE_AGG[rest]}"] = value
        else:
            raise DataError(f"CosPlace state dict: key {key!r} is neither backbone.* nor aggregation.*")
    return out


_TV_STAGE = re.compile(r"^(\d+)\.(\d+)\.block\.(\d+)\.(.+)$")
_TV_DS = {
    "0.0": "conv_dw",
    "0.1": "bn1",
    "1.fc1": "se.conv_reduce",
    "1.fc2": "se.conv_expand",
    "2.0": "conv_pw",
    "2.1": "bn2",
}
_TV_IR = {
    "0.0": "conv_pw",
    "0.1": "bn1",
    "1.0": "conv_dw",
    "1.1": "bn2",
    "2.fc1": "se.conv_reduce",
    "2.fc2": "se.conv_expand",
    "3.0": "conv_pwl",
    "3.1": "bn3",
}


def torchvision_efficientnet_to_timm(features: Mapping[str, V]) -> dict[str, V]:
    """Keys of torchvision ``efficientnet_bX().features`` → timm ``efficientnet_bX`` keys (the
    values, tensors or anything else keyed like them, are kept)."""
    # a block is depthwise-separable (expand ratio 1) when its block sequence has 3 entries, not 4
    depth: dict[tuple[str, str], int] = {}
    for key in features:
        m = _TV_STAGE.match(key)
        if m:
            depth[m.group(1), m.group(2)] = max(depth.get((m.group(1), m.group(2)), 0), int(m.group(3)))
    last = str(max(int(k.split(".")[0]) for k in features))
    out: dict[str, V] = {}
    for key, value in features.items():
        m = _TV_STAGE.match(key)
        if m:
            stage, block, idx, rest = m.groups()
            table = _TV_DS if depth[stage, block] == 2 else _TV_IR
            sub, _, leaf = rest.partition(".")
            name = table.get(f"{idx}.{sub}")
            if name is None:
                raise DataError(f"EfficientNet state dict: unexpected key {key!r}")
            out[f"blocks.{int(stage) - 1}.{block}.{name}.{leaf}"] = value
            continue
        head, _, rest = key.partition(".")
        sub, _, leaf = rest.partition(".")
        if head == "0":
            out[f"{'conv_stem' if sub == '0' else 'bn1'}.{leaf}"] = value
        elif head == last:
            out[f"{'conv_head' if sub == '0' else 'bn2'}.{leaf}"] = value
        else:
            raise DataError(f"EfficientNet state dict: unexpected key {key!r}")
    return out


def dnc_to_vprkit(checkpoint: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Official D&C checkpoint → (``DescriptorNet`` state dict with timm EfficientNet +
    ``avg_whiten`` keys, list of per-group head state dicts in vprkit's head layout)."""
    if "model_state_dict" not in checkpoint or "classifiers_state_dict" not in checkpoint:
        raise DataError(
            "not a D&C checkpoint: expected keys 'model_state_dict' and 'classifiers_state_dict', "
            f"found {sorted(checkpoint)[:6]}"
        )
    model = strip_module_prefix(checkpoint["model_state_dict"])
    features = {k[len("backbone.") :]: v for k, v in model.items() if k.startswith("backbone.")}
    net = {f"backbone.{k}": v for k, v in torchvision_efficientnet_to_timm(features).items()}
    for key, value in model.items():
        if key.startswith("backbone."):
            continue
        if key in ("classifier.0.weight", "classifier.0.bias"):
            net[f"aggregation.1.{key.rsplit('.', 1)[1]}"] = value
        else:
            raise DataError(f"D&C checkpoint: unexpected model key {key!r}")
    heads = [strip_module_prefix(sd) for sd in checkpoint["classifiers_state_dict"]]
    return net, heads


def load_cosplace_weights(net: torch.nn.Module, path_or_state: str | Path | Mapping[str, torch.Tensor]) -> None:
    """Load official CosPlace weights (file or state dict) into a ``DescriptorNet`` strictly."""
    state = read_state_file(path_or_state) if isinstance(path_or_state, (str, Path)) else path_or_state
    mapped = cosplace_to_vprkit(state)
    missing, unexpected = net.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise DataError(f"CosPlace weights do not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
