"""Importing the BoQ authors' released weights (amaralibey/Bag-of-Queries @ 1a4965e).

The releases are plain state dicts of the repository's ``VPRModel`` (``backbone`` + ``aggregator``),
one per entry of ``hubconf.py``'s ``MODEL_URLS`` (v1.0 GitHub release); a checkpoint of their
Lightning trainer holds the same keys under ``state_dict``. Layout (facts read off their code):

- ``backbone.net.<i>.*``: a torchvision ResNet as ``nn.Sequential(conv1, bn1, relu, maxpool,
  layer1, layer2, layer3[, layer4])`` (indices 0 … 6, 7 when ``layer4`` is kept);
- ``backbone.dino.*``: the facebookresearch/dinov2 torch.hub ViT (``cls_token``, ``pos_embed``,
  ``mask_token``, ``patch_embed.proj``, ``blocks.<i>.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2,
  mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``), mapped by :func:`vprkit.models.dinov2.dinov2_hub_to_timm`;
- ``aggregator.proj_c.*`` (Conv2d 3×3), ``aggregator.norm_input.*`` (LayerNorm),
  ``aggregator.boqs.<i>.{encoder.*, queries, self_attn.*, norm_q.*, cross_attn.*, norm_out.*}``
  (``encoder`` an ``nn.TransformerEncoderLayer``, the attentions ``nn.MultiheadAttention``),
  ``aggregator.fc.*`` (Linear ``L·Q → R``).

Architecture read off the keys: the ResNet by the blocks of ``layer3`` and whether they are
bottlenecks (grouped ``conv2``: ResNeXt-50 32×4d), the ViT by its width and depth, and the
aggregator's ``P``, ``Q``, ``L``, ``R`` by its shapes. The attention heads are not in the weights:
the authors' rule ``P // 64`` (8 for the ResNet release, 6 for the DINOv2 one) is used unless
``--set num_heads=…``. The test transform is the authors' (384×384 ResNet, 322×322 DINOv2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.official import read_state_file, strip_module_prefix
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_boq.config import BoQRetrieverConfig, default_test_transform, is_dinov2, timm_dinov2_name

__all__ = [
    "boq_architecture",
    "boq_config_from_state",
    "boq_to_vprkit",
    "import_boq",
    "load_boq_weights",
    "unwrap_state",
]

_RESNET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
_AGGREGATOR_TOP = {"proj_c": "input_proj", "norm_input": "input_norm", "fc": "row_proj"}
_BLOCK_PARTS = {
    "encoder": "token_encoder",
    "queries": "queries",
    "self_attn": "query_attn",
    "norm_q": "query_norm",
    "cross_attn": "cross_attn",
    "norm_out": "output_norm",
}
_BLOCK_KEY = re.compile(r"^boqs\.(\d+)\.([a-z_]+)(\.(.+))?$")
# (blocks in layer3, bottleneck) → timm name; ResNeXt-50 is told apart by its grouped conv2
_RESNETS = {
    (2, False): "resnet18",
    (6, False): "resnet34",
    (6, True): "resnet50",
    (23, True): "resnet101",
    (36, True): "resnet152",
}
# DINOv2 (width, depth) → timm name
_DINOV2 = {
    (384, 12): "vit_small_patch14_dinov2",
    (768, 12): "vit_base_patch14_dinov2",
    (1024, 24): "vit_large_patch14_dinov2",
    (1536, 40): "vit_giant_patch14_dinov2",
}
_DINO_PREFIX = "backbone.dino."


def unwrap_state(data: Any, where: str) -> dict[str, torch.Tensor]:
    """The model state dict in a release file or a Lightning checkpoint (``state_dict``), without
    DataParallel's ``module.`` prefix."""
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or "aggregator.fc.weight" not in strip_module_prefix(data):
        raise DataError(f"{where!r} is not a BoQ state dict: no aggregator.fc.weight (the row-wise projection)")
    return strip_module_prefix(data)


def _resnet_name(state: Mapping[str, torch.Tensor]) -> str:
    blocks = {int(k.split(".")[3]) for k in state if k.startswith("backbone.net.6.")}
    bottleneck = "backbone.net.6.0.conv3.weight" in state
    name = _RESNETS.get((len(blocks), bottleneck))
    if name is None:
        raise DataError(
            f"BoQ state dict: a ResNet vprkit does not know ({len(blocks)} blocks in layer3, "
            f"{'bottleneck' if bottleneck else 'basic'}); the authors' are ResNet-18/34/50/101/152 and ResNeXt-50"
        )
    conv2 = state.get("backbone.net.4.0.conv2.weight")
    if name == "resnet50" and conv2 is not None and conv2.shape[1] != conv2.shape[0]:
        name = "resnext50_32x4d"  # 32 groups: conv2 sees out/32 input channels per filter
    return name


def _dinov2_architecture(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """``backbone`` of a ViT-S/B/L/g 14; another width or depth (a small test ViT) is ViT-B/14
    with ``vit_depth`` and ``vit_embed_dim`` read off the keys."""
    if f"{_DINO_PREFIX}register_tokens" in state:
        raise DataError("BoQ state dict: a DINOv2 with registers, which the authors' BoQ never uses")
    width = int(state[f"{_DINO_PREFIX}cls_token"].shape[-1])
    depth = len({int(k.split(".")[3]) for k in state if k.startswith(f"{_DINO_PREFIX}blocks.")})
    name = _DINOV2.get((width, depth))
    if name is None:
        return {"backbone": _DINOV2[768, 12], "vit_depth": depth, "vit_embed_dim": width}
    return {"backbone": name}


def boq_architecture(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The config fields an authors' state dict fixes: ``backbone`` (timm name), ``crop_layer4``
    (ResNets), ``vit_depth`` / ``vit_embed_dim`` (a DINOv2 of no released size), ``proj_channels``,
    ``num_queries``, ``num_layers``, ``row_dim``."""
    if any(k.startswith(_DINO_PREFIX) for k in state):
        arch: dict[str, Any] = _dinov2_architecture(state)
    elif any(k.startswith("backbone.net.") for k in state):
        arch = {"backbone": _resnet_name(state), "crop_layer4": not any(k.startswith("backbone.net.7.") for k in state)}
    else:
        raise DataError("BoQ state dict: the backbone is neither backbone.net.* (ResNet) nor backbone.dino.* (DINOv2)")
    proj = state["aggregator.proj_c.weight"]  # (P, C, 3, 3)
    if tuple(proj.shape[2:]) != (3, 3):
        raise DataError(f"BoQ state dict: the input projection is {tuple(proj.shape[2:])}, not the authors' 3×3")
    layers = len({int(k.split(".")[2]) for k in state if k.startswith("aggregator.boqs.")})
    queries = int(state["aggregator.boqs.0.queries"].shape[1])
    fc = state["aggregator.fc.weight"]  # (R, L·Q)
    if fc.shape[1] != layers * queries:
        raise DataError(
            f"BoQ state dict: aggregator.fc takes {fc.shape[1]} inputs, not {layers} blocks × {queries} queries"
        )
    arch.update(proj_channels=int(proj.shape[0]), num_queries=queries, num_layers=layers, row_dim=int(fc.shape[0]))
    return arch


def boq_config_from_state(
    state: Mapping[str, torch.Tensor], overrides: Mapping[str, Any] | None = None
) -> BoQRetrieverConfig:
    """The config of an authors' state dict (``pretrained`` off, the authors' test transform),
    updated by ``overrides``; refuses overrides that contradict the weights."""
    arch = boq_architecture(state)
    values: dict[str, Any] = {
        **arch,
        "pretrained": False,
        "test_transform": default_test_transform(arch["backbone"]).model_dump(),
    }
    if "vit_embed_dim" in arch:  # a DINOv2's heads are 64 wide; the weights do not say how many
        values["vit_num_heads"] = max(1, arch["vit_embed_dim"] // 64)
    config = build_config(BoQRetrieverConfig, values, dict(overrides or {}), owner="retriever 'boq' (import)")
    asked = {k: getattr(config, k) for k in arch}
    if is_dinov2(config.backbone):
        asked["backbone"] = timm_dinov2_name(config.backbone)
    if asked != arch:
        differ = ", ".join(f"{k}: {arch[k]!r} in the file, {asked[k]!r} asked" for k in arch if asked[k] != arch[k])
        raise DataError(f"the BoQ weights do not have the architecture asked for ({differ})")
    return config


def boq_to_vprkit(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Authors' ``backbone.*`` + ``aggregator.*`` keys → :class:`~vprkit.models.descriptor.DescriptorNet`
    keys (``backbone.*`` + ``aggregation.*`` of :class:`~vprkit_boq.boq.BoQAggregator`). Every key
    must map: an unknown one is an error."""
    out: dict[str, torch.Tensor] = {}
    dino: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(_DINO_PREFIX):
            dino[key] = value
        elif key.startswith("backbone.net."):
            index, _, rest = key[len("backbone.net.") :].partition(".")
            if index not in _RESNET_CHILDREN:
                raise DataError(f"BoQ state dict: unexpected ResNet key {key!r}")
            out[f"backbone.{_RESNET_CHILDREN[index]}.{rest}"] = value
        elif key.startswith("aggregator."):
            out[f"aggregation.{_aggregator_key(key[len('aggregator.') :], key)}"] = value
        else:
            raise DataError(f"BoQ state dict: key {key!r} is neither backbone.* nor aggregator.*")
    if dino:
        from vprkit.models.dinov2 import dinov2_hub_to_timm

        out.update({f"backbone.{k}": v for k, v in dinov2_hub_to_timm(dino, prefix=_DINO_PREFIX).items()})
    return out


def _aggregator_key(rest: str, key: str) -> str:
    top, _, leaf = rest.partition(".")
    if top in _AGGREGATOR_TOP:
        return f"{_AGGREGATOR_TOP[top]}.{leaf}"
    m = _BLOCK_KEY.match(rest)
    if m is None or m.group(2) not in _BLOCK_PARTS:
        raise DataError(f"BoQ state dict: unexpected aggregator key {key!r}")
    block, part, tail = m.group(1), _BLOCK_PARTS[m.group(2)], m.group(4)
    return f"blocks.{block}.{part}" + (f".{tail}" if tail else "")


def load_boq_weights(net: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load an authors' state dict into a BoQ ``DescriptorNet``: every key consumed, every weight
    filled, every shape equal (else a :class:`~vprkit.errors.DataError` naming them)."""
    mapped = boq_to_vprkit(state)
    own = net.state_dict()
    missing = sorted(own.keys() - mapped.keys())
    unexpected = sorted(mapped.keys() - own.keys())
    if missing or unexpected:
        raise DataError(f"BoQ weights do not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in mapped.items() if v.shape != own[k].shape]
    if wrong:
        raise DataError(f"BoQ weights do not fit this model (file vs model): {wrong[:5]}")
    net.load_state_dict(mapped, strict=True)


def import_boq(request: ImportRequest) -> ImportedModel:
    """An authors' BoQ release (or Lightning checkpoint) → a :class:`~vprkit_boq.retriever.BoQRetriever`,
    with a start checkpoint for fine-tuning by ``vprkit train retriever boq --out DIR --resume``."""
    from vprkit_boq.retriever import BoQRetriever
    from vprkit_boq.trainer import start_checkpoint

    state = unwrap_state(read_state_file(request.weights), str(request.weights))
    config = boq_config_from_state(state, request.overrides)
    model = BoQRetriever(config)
    load_boq_weights(model.net, state)
    arch = f"{config.backbone} → BoQ ({config.num_layers}×{config.num_queries} queries) → {config.descriptor_dim}-D"
    model.training_summary = {"release": request.provenance(architecture=arch)}
    start = start_checkpoint(config.training, model.net.state_dict(), origin=f"BoQ release {request.weights.name}")
    return ImportedModel(model, start)
