"""CPlaNet (Seo et al. 2018; METHODS.md §7): one softmax head per geoclass set on a shared network.

Loss: unweighted sum of the sets' cross-entropies (a training image's geoclass in set k is its
region's ``partition.hierarchy[r, k]``). Inference: NormalizedSum (paper 003 eq. 3,
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

from vprkit.models.joint_classifier import JointHeadClassifier, linear_heads
from vprkit.training.joint import gather_rows
from vprkit_cplanet.classifier_config import CPlaNetClassifierConfig
from vprkit_cplanet.scoring import normalized_sum

__all__ = ["CPlaNetClassifier", "GeoclassCrossEntropy"]

log = logging.getLogger("vprkit.cplanet")


class GeoclassCrossEntropy(nn.Module):
    """Σ over geoclass sets of the cross-entropy of the set's head against the row's geoclass."""

    def __init__(self, heads: nn.ModuleList, train_labels: np.ndarray, hierarchy: np.ndarray):
        super().__init__()
        self.heads = heads
        # dropped rows (−1) are never sampled; region 0 keeps the table a valid index
        self.row_region = torch.as_tensor(np.maximum(train_labels, 0), dtype=torch.long)  # (n,) host memory
        self.register_buffer("hierarchy", torch.as_tensor(hierarchy, dtype=torch.long), persistent=False)  # (R, K)

    def forward(self, descriptors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        targets = self.hierarchy[gather_rows(self.row_region, rows)]
        return sum(F.cross_entropy(head(descriptors).float(), targets[:, k]) for k, head in enumerate(self.heads))


class CPlaNetClassifier(JointHeadClassifier):
    """CPlaNet over the ``cplanet`` partition; predictions rank its combinatorial regions."""

    name = "cplanet"
    partitioner = "cplanet"
    config_cls = CPlaNetClassifierConfig

    def make_heads(self, partition, dim: int) -> nn.ModuleList:
        return linear_heads(dim, [child.num_classes for child in partition.children.values()])

    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, R)`` NormalizedSum scores of the regions (each set contributes a total of 1)."""
        probs = [F.softmax(head(descriptors).float(), dim=1) for head in self.heads]
        return normalized_sum(probs, self.partition)

    def loss_module(self, images) -> nn.Module:
        return GeoclassCrossEntropy(self.heads, self.partition.train_labels, self.partition.hierarchy)

    def fit_partition(self, images):
        """Geoclass sets of the training images, with visual edges from the untrained network's
        descriptors (``visual_features: backbone``) or geographic edges only."""
        from vprkit.registry import create_partitioner
        from vprkit.training.engine import resolve_device
        from vprkit.training.validation import extract_descriptors

        features = None
        if self.config.visual_features == "backbone":
            tcfg = self.config.training
            torch.manual_seed(tcfg.seed)
            self.build_network()
            device = resolve_device(tcfg.device)
            threads = torch.get_num_threads()
            if tcfg.num_threads:  # the training's thread budget applies to this pass too
                torch.set_num_threads(tcfg.num_threads)
            try:
                features = extract_descriptors(self.net.to(device), images, self.transform, device=device,
                                               batch_size=tcfg.batch_size)
            finally:
                torch.set_num_threads(threads)
            log.info("cplanet: %d×%d partition features from the %s backbone", *features.shape,
                     "pretrained" if self.config.pretrained else "randomly initialised")
        zone = (images.zone_number, images.zone_letter) if images.zone_number else None
        return create_partitioner("cplanet", self.config.partition).fit(
            images.east, images.north, images.heading, features, utm_zone=zone)

