"""Importing NetVLAD checkpoints in the layout of Nanne/pytorch-NetVlad (@ def998e), the PyTorch
port most VPR code loads, and of the re-hosted copy its forks publish for ``torch.hub``.

Facts of that layout (no code reused): a ``torch.save`` dict whose ``state_dict`` holds
``encoder.<i>.*`` — torchvision VGG16 ``features.children()[:-2]`` (conv5_3 before its ReLU, no
last max-pool; ``encoder.module.<i>.*`` when the encoder was wrapped in ``DataParallel``) — and
``pool.centroids (K, C)`` plus ``pool.conv.weight (K, C, 1, 1)`` (``pool.conv.bias`` only with
``vladv2``). The layer L2-normalises the local features, soft-assigns them with that 1×1
convolution and a softmax over the clusters, sums the residuals to the centroids, intra-normalises,
flattens cluster-major and L2-normalises: vprkit's :class:`~vprkit_netvlad.netvlad.NetVLAD` with
``reduction: none``. Test images: ImageNet normalisation, no resize. The checkpoint also holds
``epoch``, ``recalls`` (NumPy scalars), ``best_score``, ``optimizer`` and ``parallel``.
"""

from __future__ import annotations

import torch

from vprkit.config import build_config
from vprkit.errors import DataError
from vprkit.models.official import read_state_file, strip_module_prefix
from vprkit.models.release import ImportedModel, ImportRequest
from vprkit_netvlad.config import NetVLADRetrieverConfig

__all__ = ["import_netvlad", "netvlad_to_vprkit"]


def netvlad_to_vprkit(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """pytorch-NetVlad keys → ``DescriptorNet`` keys of a vprkit NetVLAD (VGG16 conv5, no
    reduction), and the number of clusters."""
    state = {k.replace("encoder.module.", "encoder."): v for k, v in strip_module_prefix(state).items()}
    if any(k.startswith("WPCA.") for k in state):
        raise DataError(
            "this checkpoint has a WPCA layer (a Patch-NetVLAD release); vprkit imports the plain "
            "pytorch-NetVlad layout (encoder + pool, 32768-D)"
        )
    if "pool.centroids" not in state or "pool.conv.weight" not in state:
        raise DataError(
            f"not a pytorch-NetVlad state dict: no pool.centroids / pool.conv.weight (keys: {sorted(state)[:4]} ...)"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("encoder."):
            out[f"backbone.features.{key[len('encoder.') :]}"] = value
        elif key not in ("pool.centroids", "pool.conv.weight", "pool.conv.bias"):
            raise DataError(f"pytorch-NetVlad state dict: unexpected key {key!r}")
    weight = state["pool.conv.weight"]
    out["aggregation.0.centroids"] = state["pool.centroids"]
    out["aggregation.0.assign.weight"] = weight
    # vladv1 (the default) has no bias: a zero bias is the same soft assignment
    out["aggregation.0.assign.bias"] = state.get("pool.conv.bias", torch.zeros(weight.shape[0], dtype=weight.dtype))
    if "backbone.features.28.weight" not in out or "backbone.features.30.weight" in out:
        raise DataError("the encoder is not VGG16 cut at conv5_3 (AlexNet and other encoders are not supported)")
    return out, int(weight.shape[0])


def import_netvlad(request: ImportRequest) -> ImportedModel:
    """A pytorch-NetVlad checkpoint → a :class:`~vprkit_netvlad.retriever.NetVLADRetriever`
    (32768-D, no reduction), with a start checkpoint for fine-tuning by ``train --resume``."""
    from vprkit_netvlad.retriever import NetVLADRetriever
    from vprkit_netvlad.trainer import start_checkpoint

    data = read_state_file(request.weights)
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise DataError(f"{str(request.weights)!r} is not a NetVLAD checkpoint (a dict with state_dict)")
    mapped, clusters = netvlad_to_vprkit(state)
    values = {
        "backbone": "vgg16",
        "crop": "conv5",
        "clusters": clusters,
        "reduction": "none",
        "pretrained": False,
        "test_transform": {"resize": "none"},
    }
    config = build_config(NetVLADRetrieverConfig, values, request.overrides, owner="retriever 'netvlad' (import)")
    if (config.backbone, config.crop, config.reduction, config.clusters) != ("vgg16", "conv5", "none", clusters):
        raise DataError(
            "a pytorch-NetVlad checkpoint is VGG16 at conv5 with no reduction and "
            f"{clusters} clusters; those options cannot be overridden"
        )
    model = NetVLADRetriever(config)
    missing, unexpected = model.net.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise DataError(f"NetVLAD weights do not fit: missing {missing[:4]}, unexpected {unexpected[:4]}")
    epoch = data.get("epoch") if isinstance(data, dict) else None
    model.training_summary = {"release": request.provenance(epoch=epoch, clusters=clusters)}
    start = start_checkpoint(
        config.training, model.net.state_dict(), origin=f"NetVLAD checkpoint {request.weights.name}"
    )
    return ImportedModel(model, start)
