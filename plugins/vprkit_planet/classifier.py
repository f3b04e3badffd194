"""PlaNet (Weyand et al. 2016; docs/methods/planet.md): adaptive S2 cells, one linear softmax head.

Loss: cross-entropy over the cells. Inference: cells ranked by their log-probability
(``log_softmax`` of the logits); the coordinate of a cell is the partition's class coordinate
(mean UTM of the cell's training images by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vprkit.models.joint_classifier import JointHeadClassifier, gather_rows
from vprkit_planet.classifier_config import PlaNetClassifierConfig

__all__ = ["CellCrossEntropy", "PlaNetClassifier"]


class CellCrossEntropy(nn.Module):
    """Cross-entropy of one linear head against the cell of every training row."""

    def __init__(self, heads: nn.ModuleList, train_labels):
        super().__init__()
        self.heads = heads
        self.row_class = torch.as_tensor(train_labels, dtype=torch.long)  # (n,) host memory

    def forward(self, descriptors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.heads[0](descriptors).float(), gather_rows(self.row_class, rows))


class PlaNetClassifier(JointHeadClassifier):
    """PlaNet over the ``s2`` partition (the spec's partitioner): one linear head over the cells."""

    name = "planet"
    config_cls = PlaNetClassifierConfig

    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` log-probabilities of the cells."""
        return F.log_softmax(self.heads[0](descriptors).float(), dim=1)

    def loss_module(self, images) -> nn.Module:
        return CellCrossEntropy(self.heads, self.partition.train_labels)
