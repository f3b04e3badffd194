"""``JointTrainer``: the group trainer with one group and a method-defined loss over all heads.

The classification baselines (PlaNet, HGE, CPlaNet, MvMF) train every head on every step with a
loss that is not one cross-entropy over one group (sum of per-level CEs, mixture likelihood...).
``JointTrainer`` is :class:`~vprkit.training.engine.GroupTrainer` (checkpoints, exact resume,
plateau schedule, validation, DDP) with one change, its loss: the batch carries the training
*rows* of the images, and the "head" is a loss module ``loss(descriptors (B, d), rows (B,)) -> ()``
that looks the targets up itself (class of every level, UTM position...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vprkit.training.data import GroupData, ImageDataset, group_data_from_labels
from vprkit.training.engine import GroupTrainer
from vprkit.training.joint_config import JointTrainingConfig

__all__ = ["JointTrainer", "RowImageDataset", "gather_rows", "sampling_group"]


def gather_rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[rows]`` for a per-training-row table kept in host memory (41M rows at SF-XL scale:
    not worth a copy on the GPU), moved to the device of ``rows``."""
    return table[rows.cpu()].to(rows.device, non_blocking=True)


class RowImageDataset(ImageDataset):
    """Like :class:`ImageDataset` but yields ``(image, row)``: the loss module maps rows to targets."""

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        tensor, _ = super().__getitem__(item)
        return tensor, int(item[0])


def sampling_group(labels: np.ndarray, num_classes: int, sampling: str) -> GroupData:
    """The one "group" the sampler draws from: per-class CSR (``"class"``: a random class, then a
    random image of it) or all kept images as one class (``"image"``: uniform over images).
    ``labels (n,)`` int64 class per training row, −1 = dropped (never sampled)."""
    labels = np.asarray(labels, dtype=np.int64)
    if sampling == "class":
        return group_data_from_labels(labels, num_classes)
    if sampling == "image":
        return group_data_from_labels(np.where(labels >= 0, 0, -1), 1)
    raise ValueError(f"sampling must be 'class' or 'image', got {sampling!r}")


class JointTrainer(GroupTrainer):
    """Train ``net`` + ``loss_module`` (which owns the heads) on rows drawn from ``group``.

    Args:
        net: descriptor network (images → ``(B, d)``).
        loss_module: ``loss_module(descriptors, rows) -> scalar`` loss; its parameters (the heads)
            get one Adam at ``head_lr``. Its state dict is saved under ``heads.0.*``.
        group: the sampler's classes (:func:`sampling_group`).
        dataset: a :class:`RowImageDataset` over the training images.
        config: the schedule (a :class:`~vprkit.training.joint_config.JointTrainingConfig`).
        run_dir: where ``last.pt``, ``best.safetensors`` and ``history.json`` go.
        **kwargs: ``validate``, ``metric``, ``progress``, ``on_iteration``, ``data_fingerprint``,
            ``allow_new_data``, ``on_start`` as :class:`GroupTrainer`.
    """

    def __init__(
        self,
        net: nn.Module,
        loss_module: nn.Module,
        group: GroupData,
        dataset: RowImageDataset,
        config: JointTrainingConfig,
        run_dir: str | Path,
        **kwargs: Any,
    ):
        super().__init__(net, nn.ModuleList([loss_module]), [group], dataset, config, run_dir, **kwargs)

    def _epoch_label(self, epoch: int, group: int) -> str:
        return f"epoch {epoch}"  # every head trains on every step

    def _loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return output.float()  # the loss module's value (targets are the rows it looked up)
