"""The NetVLAD and GeM retrievers (docs/methods/netvlad.md): cropped backbone → NetVLAD or GeM, triplet-trained.

``NetVLADRetriever``: backbone cut at conv4/conv5 → NetVLAD (K = 64, k-means init) → PCA-whitening
(fitted after training, the paper's) or a trained FC, or nothing → L2.
``GeMRetriever``: the same backbone → L2 → GeM (p = 3) → FC → L2.
Both train with the triplet margin loss and partial mining (:mod:`vprkit_netvlad.train`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import cast

from torch import nn

from vprkit.models.descriptor import DescriptorNet
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.pooling import L2Norm, gem_fc_aggregation
from vprkit_netvlad.backbone import create_cropped_backbone
from vprkit_netvlad.config import GeMRetrieverConfig, NetVLADRetrieverConfig
from vprkit_netvlad.netvlad import NetVLAD, PCAWhitening

__all__ = ["GeMRetriever", "NetVLADRetriever"]


class _TripletRetriever(TrainedRetriever):
    """Shared network: the backbone cut at ``crop`` → the method's aggregation (weights seeded by
    ``training.seed``)."""

    config: NetVLADRetrieverConfig | GeMRetrieverConfig

    def build_net(self) -> DescriptorNet:
        cfg = self.config
        backbone, channels = create_cropped_backbone(
            cfg.backbone, cfg.crop, pretrained=cfg.pretrained, freeze=cfg.freeze
        )
        aggregation, dim = self._aggregation(channels)
        return DescriptorNet(backbone, aggregation, dim)

    @abstractmethod
    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        """``(aggregation module, descriptor dimension)`` on ``channels``-channel feature maps."""


class NetVLADRetriever(_TripletRetriever):
    """NetVLAD retriever. ``NetVLADRetriever(config)`` has fresh weights; its trainer
    (:func:`vprkit_netvlad.train.train_netvlad`) initialises the clusters by k-means, trains with
    triplets, then fits the PCA-whitening."""

    name = "netvlad"
    config_cls = NetVLADRetrieverConfig
    config: NetVLADRetrieverConfig

    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        cfg = self.config
        vlad = NetVLAD(channels, cfg.clusters)
        if cfg.reduction == "none":
            return nn.Sequential(vlad), vlad.dim
        if cfg.reduction == "fc":
            return nn.Sequential(vlad, nn.Linear(vlad.dim, cfg.out_dim), L2Norm()), cfg.out_dim
        return nn.Sequential(vlad, PCAWhitening(vlad.dim, cfg.out_dim)), cfg.out_dim

    @property
    def netvlad(self) -> NetVLAD:
        return cast(NetVLAD, cast(nn.Sequential, self.net.aggregation)[0])


class GeMRetriever(_TripletRetriever):
    """GeM retriever (same backbone, L2 → GeM → FC → L2), trained like NetVLAD."""

    name = "gem"
    config_cls = GeMRetrieverConfig
    config: GeMRetrieverConfig

    def _aggregation(self, channels: int) -> tuple[nn.Module, int]:
        return gem_fc_aggregation(channels, self.config.fc_output_dim), self.config.fc_output_dim
