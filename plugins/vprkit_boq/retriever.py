"""The BoQ retriever (Ali-bey et al., CVPR 2024; docs/methods/boq.md): backbone → Bag-of-Queries
aggregator → L2-normalised ``proj_channels × row_dim`` descriptors.

Backbones, as the authors build them:

- a ResNet (timm names, torchvision's layers): ``conv1 … layer3``, ``layer4`` dropped
  (``crop_layer4``), so the map has stride 16 and 1024 channels for ResNet-50 (256 for
  ResNet-18/34); ``freeze="paper"`` trains ``layer3`` only, the authors' ``unfreeze_n_blocks=1``;
- a DINOv2 ViT (:class:`vprkit.models.dinov2.DINOv2Backbone`, patch 14; sides must be multiples
  of 14): the patch tokens of the last block *before* the final LayerNorm (``patch_norm=False``:
  the authors run the hub model's blocks and skip its norm) as a ``(B, C, H/14, W/14)`` map, the
  class token dropped; the last ``trainable_blocks`` blocks train (authors: 2);
- anything else :func:`~vprkit.models.backbones.create_backbone` builds (``tinycnn``...): its
  feature map as it is (BoQ aggregates any set of tokens).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vprkit.errors import ConfigError
from vprkit.models.backbones import create_backbone
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.interfaces import TrainedRetriever
from vprkit_boq.boq import BoQAggregator
from vprkit_boq.config import BoQRetrieverConfig, is_dinov2, timm_dinov2_name

__all__ = ["BoQRetriever", "create_boq_backbone"]


def _is_resnet(name: str) -> bool:
    return name.lower().startswith(("resnet", "resnext"))


def create_boq_backbone(config: BoQRetrieverConfig) -> tuple[nn.Module, int]:
    """``(backbone with forward_features(images) -> (B, C, h, w), C)`` for ``config`` (see the
    module docstring)."""
    name = config.backbone
    if is_dinov2(name):
        from vprkit.models.dinov2 import DINOv2Backbone

        vit = DINOv2Backbone(
            timm_dinov2_name(name),
            pretrained=config.pretrained,
            trainable_blocks=config.trainable_blocks,
            depth=config.vit_depth,
            embed_dim=config.vit_embed_dim,
            num_heads=config.vit_num_heads,
            patch_norm=False,  # the authors feed the last block's raw patch tokens to BoQ
        )
        return vit, int(vit.num_features)
    body, channels = create_backbone(name, pretrained=config.pretrained, freeze=config.freeze)
    if _is_resnet(name) and config.crop_layer4:
        # timm's forward_features runs conv1 … layer4 in turn: an identity layer4 ends it at layer3
        body.layer4 = nn.Identity()
        info = {f["module"]: int(f["num_chs"]) for f in getattr(body, "feature_info", [])}
        if "layer3" not in info:
            raise ConfigError(f"backbone {name!r}: timm reports no layer3 to cut at")
        channels = info["layer3"]
    return body, channels


class BoQRetriever(TrainedRetriever):
    """BoQ retriever. ``BoQRetriever(config)`` has fresh weights (seeded by ``training.seed``);
    :meth:`load` reads a saved one; :meth:`load_official` maps the authors' released weights onto
    it (``vprkit models import boq``); training: :func:`vprkit_boq.train.train_boq`."""

    name = "boq"
    config_cls = BoQRetrieverConfig
    config: BoQRetrieverConfig

    def build_net(self) -> DescriptorNet:
        """Backbone map → :class:`~vprkit_boq.boq.BoQAggregator` → ``(B, proj_channels · row_dim)``."""
        cfg = self.config
        backbone, channels = create_boq_backbone(cfg)
        aggregation = BoQAggregator(
            channels, cfg.proj_channels, cfg.num_queries, cfg.num_layers, cfg.row_dim, cfg.heads
        )
        return DescriptorNet(backbone, aggregation, aggregation.dim)

    @property
    def aggregator(self) -> BoQAggregator:
        """The BoQ aggregator of :attr:`net` (its ``attention_maps`` give the queries' heat maps)."""
        agg = self.net.aggregation
        assert isinstance(agg, BoQAggregator)
        return agg

    @classmethod
    def load_official(cls, weights: str | Path, **overrides: object) -> BoQRetriever:
        """A retriever with the authors' released weights (``resnet50_16384.pth``,
        ``dinov2_12288.pth``, or a checkpoint of their trainer); the architecture is read off the
        keys, ``overrides`` set other config fields (``vprkit models import boq`` does this and
        writes a model folder)."""
        from vprkit.models.official import read_state_file
        from vprkit_boq.release import boq_config_from_state, load_boq_weights, unwrap_state

        state = unwrap_state(read_state_file(weights), str(weights))
        model = cls(boq_config_from_state(state, dict(overrides)))
        load_boq_weights(model.net, state)
        return model
