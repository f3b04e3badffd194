"""CPlaNet (Seo et al. 2018; docs/methods/cplanet.md): one softmax head per geoclass set on a shared network.

Loss: unweighted sum of the sets' cross-entropies (a training image's geoclass in set k is its
region's ``partition.hierarchy[r, k]``). Inference: NormalizedSum (Seo et al., ECCV 2018, eq. 3,
:func:`vprkit_cplanet.scoring.normalized_sum`) scores the combinatorial regions, the partition's
classes: atoms with identical geoclass tuples are already one region (one class), so tied atoms
are grouped before the top-k. A region's coordinate is the mean UTM of its training images (eq. 4).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vprkit.models.joint_classifier import JointHeadClassifier, LevelCrossEntropy, linear_heads
from vprkit_cplanet.classifier_config import CPlaNetClassifierConfig
from vprkit_cplanet.scoring import normalized_sum

__all__ = ["CPlaNetClassifier"]

log = logging.getLogger("vprkit.cplanet")


class CPlaNetClassifier(JointHeadClassifier):
    """CPlaNet over the ``cplanet`` partition (the spec's partitioner); predictions rank its
    combinatorial regions."""

    name = "cplanet"
    config_cls = CPlaNetClassifierConfig

    def make_heads(self, partition, dim: int) -> nn.ModuleList:
        return linear_heads(dim, [child.num_classes for child in partition.children.values()])

    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, R)`` NormalizedSum scores of the regions (each set contributes a total of 1)."""
        probs = [F.softmax(head(descriptors).float(), dim=1) for head in self.heads]
        return normalized_sum(probs, self.partition)

    def loss_module(self, images) -> nn.Module:
        """Σ over geoclass sets of the cross-entropy of the set's head against the row's geoclass."""
        assert self.partition.hierarchy is not None  # (R, K): every region's geoclass per set
        return LevelCrossEntropy(self.heads, self.partition.train_labels, self.partition.hierarchy)

    def partition_features(self, images) -> np.ndarray | None:
        """Visual features for the partition's edges: the untrained network's descriptors of the
        training images (``visual_features: backbone``), or None (geographic edges only)."""
        from vprkit.models.extract import extract_descriptors
        from vprkit.training.loop import resolve_device

        if self.config.visual_features != "backbone":
            return None
        tcfg = self.config.training
        torch.manual_seed(tcfg.seed)
        self.net = self.build_net()
        device = resolve_device(tcfg.device)
        threads = torch.get_num_threads()
        if tcfg.num_threads:  # the training's thread budget applies to this pass too
            torch.set_num_threads(tcfg.num_threads)
        try:
            features = extract_descriptors(
                self.net.to(device), images, self.transform, device=device, batch_size=tcfg.batch_size
            )
        finally:
            torch.set_num_threads(threads)
        log.info(
            "cplanet: %d×%d partition features from the %s backbone",
            *features.shape,
            "pretrained" if self.config.pretrained else "randomly initialised",
        )
        return features
