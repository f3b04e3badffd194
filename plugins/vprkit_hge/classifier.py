"""HGE (Müller-Budack et al. 2018; docs/methods/hge.md): one softmax head per level of three nested S2
partitions on a shared network.

Loss: unweighted sum of the coarse, medium and fine cross-entropies; a training image's coarse
and medium labels are the ancestors of its fine cell (``partition.hierarchy``, from cell ids).
Inference: score of fine cell j = Σ_levels log_softmax_l[ancestor_l(j)] (the log of the product
of the levels' probabilities; raw logits are never multiplied); fine cells are ranked by it and
their coordinate is the mean UTM of their training images (the partition's class coordinate).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vprkit.models.joint_classifier import JointHeadClassifier, LevelCrossEntropy, linear_heads
from vprkit_hge.classifier_config import HgeClassifierConfig

__all__ = ["HgeClassifier", "hierarchical_scores", "level_columns"]


def level_columns(partition) -> np.ndarray:
    """``(C_fine, L)`` int64: class of each fine cell at every level, coarsest first, fine last
    (= ``arange``); the heads are built in the same order."""
    fine = np.arange(partition.num_classes, dtype=np.int64)[:, None]
    return np.concatenate([np.asarray(partition.hierarchy, dtype=np.int64), fine], axis=1)


def hierarchical_scores(level_logits: list[torch.Tensor], columns: torch.Tensor) -> torch.Tensor:
    """``(B, C_fine)`` Σ_l log_softmax(level_logits[l])[:, columns[:, l]] (float32)."""
    terms = [F.log_softmax(logits.float(), dim=1)[:, columns[:, level]] for level, logits in enumerate(level_logits)]
    total = terms[0]
    for term in terms[1:]:  # coarsest first, in this order: the sum is bit-identical run to run
        total = total + term
    return total


class HgeClassifier(JointHeadClassifier):
    """HGE over the ``hge`` partition (the spec's partitioner); predictions rank its fine cells."""

    name = "hge"
    config_cls = HgeClassifierConfig

    def make_heads(self, partition, dim: int) -> nn.ModuleList:
        sizes = [child.num_classes for child in partition.children.values()] + [partition.num_classes]
        return linear_heads(dim, sizes)

    def prepare(self, partition) -> None:
        self.columns = torch.from_numpy(level_columns(partition))

    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, C_fine)`` hierarchical log-probabilities."""
        self.columns = self.columns.to(descriptors.device)
        return hierarchical_scores([head(descriptors) for head in self.heads], self.columns)

    def loss_module(self, images) -> nn.Module:
        """Σ over levels of the cross-entropy of the level's head against the row's cell at that level."""
        return LevelCrossEntropy(self.heads, self.partition.train_labels, level_columns(self.partition))
