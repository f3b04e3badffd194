"""Training data: classes of one group as CSR arrays, the group sampler, the image dataset.

The sampler is a pure function of ``(seed, epoch, rank)``: it draws ``iterations × batch``
``(row, label, augmentation seed)`` triples at once (vectorised), so a resumed run regenerates
the epoch and skips what was done, and DDP ranks draw disjoint streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from vprkit.data.image_list import ImageList
from vprkit.data.images import open_image
from vprkit.errors import DataError

__all__ = ["EpochSamples", "GroupData", "ImageDataset", "group_data_from_labels", "sample_epoch"]


@dataclass(frozen=True)
class GroupData:
    """The training images of one group, sorted by class.

    Attributes:
        rows: ``(n,)`` int64 rows of the training ``ImageList``, grouped by class.
        offsets: ``(n_classes + 1,)`` int64 CSR offsets: class ``j`` owns ``rows[offsets[j]:offsets[j+1]]``.
    """

    rows: np.ndarray
    offsets: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.offsets) - 1


def group_data_from_labels(labels: np.ndarray, n_classes: int) -> GroupData:
    """CSR classes from per-image labels ``(N,)`` int (class index within the group, −1 = not in
    this group). Every class must own at least one image."""
    labels = np.asarray(labels, dtype=np.int64)
    keep = np.flatnonzero(labels >= 0)
    order = keep[np.argsort(labels[keep], kind="stable")]
    counts = np.bincount(labels[keep], minlength=n_classes)
    if len(counts) > n_classes:
        raise DataError(f"labels reach class {len(counts) - 1} but the group has {n_classes} classes")
    if n_classes and counts.min() == 0:
        raise DataError(f"class {int(np.argmin(counts))} of a group has no training image")
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return GroupData(rows=order, offsets=offsets)


@dataclass(frozen=True)
class EpochSamples:
    """``(iterations × batch,)`` arrays: image rows, class labels within the group, augmentation seeds."""

    rows: np.ndarray
    labels: np.ndarray
    seeds: np.ndarray


def sample_epoch(group: GroupData, n_samples: int, seed: int, epoch: int, rank: int = 0) -> EpochSamples:
    """Official D&C/CosPlace sampling: a uniformly random class of the group, then a uniformly
    random image of that class, ``n_samples`` times; deterministic in ``(seed, epoch, rank)``."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, rank])))
    labels = rng.integers(0, group.n_classes, size=n_samples)
    counts = np.diff(group.offsets)[labels]
    within = np.minimum((rng.random(n_samples) * counts).astype(np.int64), counts - 1)
    rows = group.rows[group.offsets[labels] + within]
    seeds = rng.integers(0, 2**62, size=n_samples)
    return EpochSamples(rows=rows, labels=labels, seeds=seeds)


class ImageDataset(Dataset):
    """Items are ``(row, label, seed)``; returns ``(image (3, S, S) float32, label int64)``.

    The transform runs under a torch RNG seeded with ``seed`` (and the global RNG is restored
    after), so augmentations do not depend on worker count, order, or interruption.
    """

    def __init__(self, images: ImageList, transform):
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def load(self, row: int) -> Image.Image:
        return open_image(self.images.root / str(self.images.paths[row]))

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        row, label, seed = item
        image = self.load(int(row))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            tensor = self.transform(image)
        return tensor, int(label)
