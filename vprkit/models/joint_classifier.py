"""``JointHeadClassifier``: what the classification baselines (PlaNet, HGE, CPlaNet, MvMF) share.

Same descriptor network and training loop as D&C (only partition and head differ, as in the D&C
comparison): the subclass says how to build its heads (default: one linear softmax head over the
partition's classes), how to score the partition's classes at inference and which loss trains
the heads. This class does the rest: the network, joint top-k ranking; saving and loading come
from :class:`~vprkit.models.trained.TrainedModelBase`, training from
:func:`vprkit.training.joint_recipe.train_joint` (on the partitioner the spec names).

Predictions rank the classes of ``self.partition`` (the classes that ``partition.assign`` gives
database rows, so the pipeline's cell restriction works for every method); the coordinate of a
class is ``partition.class_coords``; ``confidence`` is NaN (no expert-agreement measure).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vprkit.models.descriptor import DescriptorNet, build_descriptor_net
from vprkit.models.interfaces import ClassPrediction, TrainedClassifier

if TYPE_CHECKING:
    from vprkit.data.image_list import ImageList
    from vprkit.partition import Partition

__all__ = ["JointHeadClassifier", "LevelCrossEntropy", "gather_rows", "linear_heads"]


def linear_heads(dim: int, sizes: list[int]) -> nn.ModuleList:
    """One ``nn.Linear(dim, n)`` softmax head per entry of ``sizes``."""
    return nn.ModuleList([nn.Linear(dim, int(n)) for n in sizes])


def gather_rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[rows]`` for a per-training-row table kept in host memory (41M rows at SF-XL scale:
    not worth a copy on the GPU), moved to the device of ``rows``."""
    return table[rows.cpu()].to(rows.device, non_blocking=True)


class LevelCrossEntropy(nn.Module):
    """Σ over heads ``l`` of the cross-entropy of head ``l`` against each row's class at level ``l``.

    ``row_class (n,)``: each training row's class of the partition (−1 = dropped: never sampled;
    class 0 keeps the table a valid index); ``levels (C, L)``: the class of partition class ``c``
    for head ``l`` (HGE: its cell at every level; CPlaNet: its geoclass in every set).
    """

    levels: torch.Tensor

    def __init__(self, heads: nn.ModuleList, row_class: np.ndarray, levels: np.ndarray):
        super().__init__()
        self.heads = heads
        self.row_class = torch.as_tensor(np.maximum(row_class, 0), dtype=torch.long)  # (n,) host memory
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.long), persistent=False)  # (C, L)

    def forward(self, descriptors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        targets = self.levels[gather_rows(self.row_class, rows)]
        loss = F.cross_entropy(self.heads[0](descriptors).float(), targets[:, 0])
        for level in range(1, len(self.heads)):
            loss = loss + F.cross_entropy(self.heads[level](descriptors).float(), targets[:, level])
        return loss


class JointHeadClassifier(TrainedClassifier):
    """Base of the baselines; subclasses set ``name`` and ``config_cls`` and implement
    :meth:`class_scores` and :meth:`loss_module` (and :meth:`make_heads` when one linear head over
    the partition's classes is not theirs)."""

    heads: nn.ModuleList

    # ------------------------------------------------------------------ the method's parts
    def make_heads(self, partition: Partition, dim: int) -> nn.ModuleList:
        """Fresh heads for ``partition`` on ``dim``-D descriptors: one linear softmax head over its classes."""
        return linear_heads(dim, [partition.num_classes])

    @abstractmethod
    def class_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(B, d) -> (B, C)`` scores of the partition's C classes (higher is better)."""

    @abstractmethod
    def loss_module(self, images: ImageList) -> nn.Module:
        """Training loss ``module(descriptors (B, d), rows (B,) int64) -> ()`` over the rows of the
        training ``ImageList`` ``images`` (the ones the partition was fitted on); owns ``self.heads``."""

    def initialise(self) -> None:
        """Change the fresh weights before training (e.g. start from another model); default none."""

    def sampling_labels(self) -> tuple[np.ndarray, int]:
        """``(labels (n,), num_classes)``: the classes the "class" sampler draws from."""
        return self.partition.train_labels, self.partition.num_classes

    def partition_features(self, images: ImageList) -> np.ndarray | None:
        """``(n, f)`` features of the training images for the partitioner, or None (default)."""
        return None

    # ------------------------------------------------------------------------------ building
    def build_net(self) -> DescriptorNet:
        """Fresh descriptor network (D&C's: backbone → average pool → linear C→C → L2)."""
        cfg = self.config
        return build_descriptor_net(
            cfg.backbone, "avg_whiten", out_dim=cfg.descriptor_dim, pretrained=cfg.pretrained, freeze=cfg.freeze
        )

    # ----------------------------------------------------------------------------- inference
    @torch.no_grad()
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Top-``k`` classes of the partition by :meth:`class_scores` (``k`` capped at C)."""
        self.heads.eval()
        scores = self.class_scores(descriptors.to(self.device).float())
        k = min(int(k), scores.shape[1])
        top_scores, top = scores.topk(k, dim=1)
        classes = top.cpu().numpy().astype(np.int64)
        return ClassPrediction(
            classes=classes,
            scores=top_scores.float().cpu().numpy(),
            coords=np.asarray(self.partition.class_coords, dtype=np.float64)[classes],
            confidence=np.full(len(classes), np.nan),
        )
