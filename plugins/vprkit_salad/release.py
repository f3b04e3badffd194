"""Importing the SALAD authors' checkpoints (serizba/salad @ e593005).

Facts of their format (no code reused): ``dino_salad.ckpt`` (the torch.hub entry ``dinov2_salad``
downloads it from the v1.0.0 GitHub release; ``eval.py`` loads the same file with
``load_state_dict(torch.load(...))``) is the plain state dict of their ``VPRModel``, a Lightning
module with two parts:

- ``backbone.model.*``: the facebookresearch/dinov2 torch.hub ViT (``cls_token``, ``pos_embed``,
  ``mask_token``, ``patch_embed.proj``, ``blocks.<i>.*``, ``norm``), mapped by
  :func:`vprkit.models.dinov2.dinov2_hub_to_timm`;
- ``aggregator.*``: ``score.{0,3}`` and ``cluster_features.{0,3}`` (1×1 convolutions; 1 and 2 are
  dropout and ReLU), ``token_features.{0,2}`` (linears), ``dust_bin`` (a scalar): vprkit's
  :class:`~vprkit_salad.salad.SALADAggregation` uses the same names.

A training checkpoint of their Lightning trainer holds the same keys under ``state_dict``. The
architecture is read off the shapes: the ViT's width and depth (ViT-S/B/L/g 14 by name; another
size, a small test ViT, keeps ``backbone`` and sets ``vit_depth`` / ``vit_embed_dim``, its heads
``width / 64`` as in every DINOv2 unless ``--set vit_num_heads=…``), ``num_clusters`` (m),
``cluster_dim`` (l), ``token_dim`` (g), ``hidden_dim``. Test transform: 322 × 322, the authors'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.dinov2 import DINOV2_HUB_NAMES, dinov2_hub_to_timm
from vprkit.models.official import read_state_file, strip_module_prefix
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_salad.config import SALADRetrieverConfig

__all__ = ["import_salad", "salad_architecture", "salad_to_vprkit", "unwrap_state"]

BACKBONE_PREFIX = "backbone.model."
AGGREGATOR_PREFIX = "aggregator."
# DINOv2 (width, depth) → timm name
_DINOV2 = {
    (384, 12): "vit_small_patch14_dinov2",
    (768, 12): "vit_base_patch14_dinov2",
    (1024, 24): "vit_large_patch14_dinov2",
    (1536, 40): "vit_giant_patch14_dinov2",
}
_HEAD_WIDTH = 64  # every DINOv2 ViT's attention heads are 64 wide
_AGGREGATOR_KEY = re.compile(r"(?:score\.[03]|cluster_features\.[03]|token_features\.[02])\.(?:weight|bias)|dust_bin")


def unwrap_state(data: Any, where: str) -> dict[str, torch.Tensor]:
    """The ``VPRModel`` state dict of a release file or a Lightning checkpoint (``state_dict``),
    without DataParallel's ``module.`` prefix."""
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping):
        raise DataError(f"{where!r} is not a SALAD state dict (a {type(data).__name__})")
    state = strip_module_prefix(data)
    if f"{AGGREGATOR_PREFIX}dust_bin" not in state or f"{BACKBONE_PREFIX}cls_token" not in state:
        raise DataError(
            f"{where!r} is not a SALAD state dict: no aggregator.dust_bin and backbone.model.cls_token "
            f"(keys: {sorted(state)[:4]} ...)"
        )
    return state


def salad_architecture(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The config fields the shapes of an authors' state dict fix (module docstring)."""
    if f"{BACKBONE_PREFIX}register_tokens" in state:
        raise DataError("SALAD state dict: a DINOv2 with registers, which the authors' SALAD never uses")
    width = int(state[f"{BACKBONE_PREFIX}cls_token"].shape[-1])
    depth = len({k.split(".")[3] for k in state if k.startswith(f"{BACKBONE_PREFIX}blocks.")})
    name = _DINOV2.get((width, depth))
    arch: dict[str, Any] = (
        {"backbone": name} if name else {"backbone": _DINOV2[768, 12], "vit_depth": depth, "vit_embed_dim": width}
    )
    try:
        score = state["aggregator.score.3.weight"]  # (m, hidden, 1, 1)
        cluster = state["aggregator.cluster_features.3.weight"]  # (l, hidden, 1, 1)
        token = state["aggregator.token_features.2.weight"]  # (g, hidden)
    except KeyError as exc:
        raise DataError(f"SALAD state dict: missing {exc.args[0]!r}") from None
    arch.update(
        num_clusters=int(score.shape[0]),
        cluster_dim=int(cluster.shape[0]),
        token_dim=int(token.shape[0]),
        hidden_dim=int(score.shape[1]),
    )
    return arch


def salad_to_vprkit(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Authors' keys → :class:`~vprkit_salad.salad.SALADNet` keys; every key is consumed or a
    :class:`~vprkit.errors.DataError` names it."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(AGGREGATOR_PREFIX):
            rest = key[len(AGGREGATOR_PREFIX) :]
            if not _AGGREGATOR_KEY.fullmatch(rest):
                raise DataError(f"SALAD state dict: unexpected aggregator key {key!r}")
            out[f"aggregation.{rest}"] = value
        elif not key.startswith(BACKBONE_PREFIX):
            raise DataError(f"SALAD state dict: key {key!r} is neither backbone.model.* nor aggregator.*")
    vit = dinov2_hub_to_timm(state, prefix=BACKBONE_PREFIX)  # raises on an unknown backbone key
    out.update({f"backbone.{k}": v for k, v in vit.items()})
    return out


def _canonical(field: str, value: Any) -> Any:
    """A config value as compared with the weights' (torch.hub backbone names → timm's)."""
    return DINOV2_HUB_NAMES.get(value, value) if field == "backbone" else value


def salad_config(state: Mapping[str, torch.Tensor], overrides: Mapping[str, Any], where: str) -> SALADRetrieverConfig:
    """The retriever config of an authors' state dict: its architecture, the user's overrides
    (which may not contradict the weights), ``pretrained`` off."""
    arch = salad_architecture(state)
    if "vit_embed_dim" in arch and "vit_num_heads" not in overrides:
        if arch["vit_embed_dim"] % _HEAD_WIDTH:
            raise DataError(
                f"{where!r}: a DINOv2 of width {arch['vit_embed_dim']} (not a multiple of {_HEAD_WIDTH}): "
                "give its attention heads with --set vit_num_heads=N"
            )
        arch["vit_num_heads"] = arch["vit_embed_dim"] // _HEAD_WIDTH
    config = build_config(
        SALADRetrieverConfig, {**arch, "pretrained": False}, dict(overrides), owner="retriever 'salad' (import)"
    )
    wrong = {
        field: (getattr(config, field), held)
        for field, held in arch.items()
        if _canonical(field, getattr(config, field)) != _canonical(field, held)
    }
    if wrong:
        raise DataError(
            f"{where!r} does not hold the SALAD model asked for: "
            + ", ".join(f"{field} {asked!r} asked, {held!r} in the weights" for field, (asked, held) in wrong.items())
        )
    return config


def import_salad(request: ImportRequest) -> ImportedModel:
    """An authors' SALAD state dict (or Lightning checkpoint) → a
    :class:`~vprkit_salad.retriever.SALADRetriever`, with a start checkpoint (the network, fresh
    CosFace heads for the dataset) for fine-tuning by ``vprkit train retriever salad --out DIR --resume``."""
    from vprkit.training.engine import start_checkpoint
    from vprkit_salad.retriever import SALADRetriever

    where = str(request.weights)
    state = unwrap_state(read_state_file(request.weights), where)
    config = salad_config(state, request.overrides, where)
    model = SALADRetriever(config)
    try:
        model.net.load_state_dict(salad_to_vprkit(state), strict=True)
    except RuntimeError as exc:  # a shape the architecture read off the keys does not explain
        raise DataError(f"{where!r}: the SALAD weights do not fit: {str(exc).splitlines()[0]}") from None
    arch = f"{config.backbone} → SALAD {config.num_clusters}×{config.cluster_dim} + {config.token_dim}"
    model.training_summary = {"release": request.provenance(architecture=arch)}
    start = start_checkpoint(config.training, model.net.state_dict(), origin=f"SALAD release {request.weights.name}")
    return ImportedModel(model, start)
