"""The D&C classifier (Trivigno et al., ICCV 2023; docs/methods/dnc.md): AAMC heads over a dnc partition.

Inference: scores of every group's head (raw ``W_k x̂`` by default, as the official code; cosine
as a switch) are concatenated and the joint top-K over all classes of all groups is the ranking.
Confidence: the spread (root-mean-square distance to their centroid, metres) of the N² groups'
own top-1 class coordinates — small when the experts agree (paper Fig. 7).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.heads import create_head
from vprkit.models.interfaces import ClassPrediction, TrainedClassifier
from vprkit_dnc.classifier_config import DncClassifierConfig
from vprkit_dnc.scoring import PackedPrototypes

if TYPE_CHECKING:
    from vprkit.partition import Partition

__all__ = ["DncClassifier", "group_spread"]

log = logging.getLogger("vprkit.dnc")


def group_spread(points: np.ndarray) -> np.ndarray:
    """``(B, G, 2)`` metres → ``(B,)`` root-mean-square distance of the G points to their centroid."""
    centred = points - points.mean(axis=1, keepdims=True)
    return np.sqrt((centred**2).sum(-1).mean(1))


class DncClassifier(TrainedClassifier):
    """D&C classifier. ``DncClassifier(config)`` is untrained; :meth:`build` gives it fresh weights
    for a partition, :meth:`load` reads a saved one (training: :func:`vprkit_dnc.train.train_dnc`)."""

    name = "dnc"
    config_cls = DncClassifierConfig
    config: DncClassifierConfig
    heads: nn.ModuleList

    def __init__(self, config: DncClassifierConfig | None = None):
        super().__init__(config)
        self.group_classes: list[np.ndarray] = []
        self._scorer: PackedPrototypes | None = None
        self._scorer_key: tuple | None = None
        self._class_ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------------------ building
    def build_net(self) -> DescriptorNet:
        """Backbone → average pooling → linear C→C ("whitening") → L2."""
        cfg = self.config
        return build_descriptor_net(
            cfg.backbone, "avg_whiten", out_dim=cfg.descriptor_dim, pretrained=cfg.pretrained, freeze=cfg.freeze
        )

    def make_heads(self, partition: Partition, dim: int) -> nn.ModuleList:
        """One head (AAMC by default) per group of ``partition``."""
        cfg = self.config
        return nn.ModuleList(
            [
                create_head(cfg.head, dim, len(c), s=cfg.s, m=cfg.m, easy_margin=cfg.easy_margin)
                for c in partition.groups
            ]
        )

    def prepare(self, partition: Partition) -> None:
        self.group_classes = partition.groups

    # ----------------------------------------------------------------------------- inference
    @property
    def scorer(self) -> PackedPrototypes:
        """The heads' prototypes packed for inference (:mod:`vprkit_dnc.scoring`), built once and
        rebuilt when the weights, ``score_mode``, ``score_precision``, ``score_shortlist`` or device change."""
        cfg = self.config
        # a tensor's version counter moves on every in-place update (optimizer step, load_state_dict, copy_)
        key = (
            cfg.score_mode,
            cfg.score_precision,
            cfg.score_shortlist,
            self.device,
            tuple((p.data_ptr(), p._version) for p in self.heads.parameters()),
        )
        if self._scorer is None or self._scorer_key != key:
            heads = list(self.heads)
            weights = [cast(torch.Tensor, h.weight) for h in heads]
            # heads with a bias (the plain softmax head) keep it in ``linear``; the margin heads have none
            bias: list[torch.Tensor] | None = (
                [cast(nn.Linear, h.linear).bias for h in heads] if all(hasattr(h, "linear") for h in heads) else None
            )
            self._scorer = PackedPrototypes(
                weights, bias=bias, mode=cfg.score_mode, precision=cfg.score_precision, shortlist=cfg.score_shortlist
            )
            self._class_ids = np.concatenate(self.group_classes)
            self._scorer_key = key
        return self._scorer

    @torch.no_grad()
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Joint top-``k`` over all groups' classes (``k`` is capped at the number of classes).

        One scan of the packed prototypes (:attr:`scorer`): exact float32 by default, the pq4
        shortlist with exact re-ranking (``score_precision: pq4``), the proven-exact bf16 scan
        (``bf16``) or the two by batch size (``auto``); the groups' own top-1 classes
        for the confidence come from the same scan.
        """
        top = self.scorer.top(descriptors, k)
        classes = self._class_ids[top.columns.cpu().numpy()]
        coords = self.partition.class_coords[classes]
        best_global = self._class_ids[top.group_best.cpu().numpy()]  # (B, G)
        confidence = group_spread(self.partition.class_coords[best_global])
        return ClassPrediction(
            classes=classes.astype(np.int64),
            scores=top.scores.cpu().numpy().astype(np.float32),
            coords=coords.astype(np.float64),
            confidence=confidence.astype(np.float64),
        )
