"""Glue shared by the method trainers: data splits, partition → per-group CSR classes, DDP setup."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from vprkit.data.image_list import ImageList
from vprkit.errors import DataError
from vprkit.training.data import GroupData, group_data_from_labels

__all__ = ["fit_partition", "init_distributed", "is_main_process", "load_train_split", "load_val_splits", "partition_groups"]

log = logging.getLogger("vprkit.training")


def load_train_split(dataset: str | Path) -> ImageList:
    """The ``train`` split of a standard-layout dataset root."""
    from vprkit.data.standard import load_split

    images = load_split(dataset, "train")
    if len(images) == 0:
        raise DataError(f"dataset {str(dataset)!r}: the train split is empty")
    return images


def load_val_splits(dataset: str | Path) -> tuple[ImageList, ImageList] | None:
    """``(val/database, val/queries)``, or None (logged) when the dataset has no val split."""
    from vprkit.data.standard import list_splits, load_split

    splits = list_splits(dataset)
    if "val/database" not in splits or "val/queries" not in splits:
        log.warning("dataset %s has no val/database + val/queries: training runs without validation", dataset)
        return None
    return load_split(dataset, "val/database"), load_split(dataset, "val/queries")


def fit_partition(partitioner: str, config, images: ImageList):
    """Fit partitioner ``partitioner`` (registry name) with ``config`` on the training images."""
    from vprkit.registry import create_partitioner

    zone = (images.zone_number, images.zone_letter) if images.zone_number else None
    part = create_partitioner(partitioner, config).fit(images.east, images.north, images.heading, utm_zone=zone)
    if part.num_classes == 0:
        raise DataError(
            f"the {partitioner} partition of {len(images)} training images has no class: every cell has fewer than "
            f"{getattr(config, 'min_images_per_class', '?')} images; lower min_images_per_class or use larger cells"
        )
    return part


def partition_groups(partition) -> tuple[list[GroupData], list[np.ndarray]]:
    """Per group: training images as CSR classes (local class index = rank of the global class
    index within the group), and the global class index of each local class."""
    group_classes = partition.groups
    empty = [g for g, c in enumerate(group_classes) if len(c) == 0]
    if empty:
        raise DataError(
            f"groups {empty} of the {partition.method} partition have no class (too few training images); "
            "use fewer groups or a lower min_images_per_class"
        )
    local = np.empty(partition.num_classes, dtype=np.int64)
    for classes in group_classes:  # one pass per group (≤ 50), vectorised inside
        local[classes] = np.arange(len(classes))
    labels = partition.train_labels
    groups = partition.train_groups
    out = []
    for g, classes in enumerate(group_classes):
        mine = np.where(groups == g, local[np.maximum(labels, 0)], -1)
        out.append(group_data_from_labels(mine, len(classes)))
    return out, group_classes


def init_distributed() -> bool:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL on CUDA,
    gloo on CPU. Returns True when distributed."""
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0
