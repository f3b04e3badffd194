"""The steps every method's trainer shares, written once: data splits, partition → per-group CSR
classes, DDP setup, validation, the training summary, saving the model.

A method's trainer is a function ``train_xxx(model, request: TrainRequest) -> model`` named by its
spec (``ModelSpec.trainer``); ``vprkit train`` calls it (:func:`vprkit.training.api.train_model`).
It reads like the method's recipe because :class:`TrainingRun` does the rest::

    def train_dnc(model, request):
        tcfg = model.config.training
        run = TrainingRun.start(request, tcfg)                         # train split, fingerprint, val
        partition = fit_partition(spec_partitioner(model), model.config.partition, run.images)
        torch.manual_seed(tcfg.seed)
        model.build(partition)
        groups, _ = partition_groups(partition)
        trainer = run.group_trainer(model.net, model.heads, groups, tcfg, run.classifier_validation(model))
        return run.train(model, trainer)                               # fit, best epoch, summary, save
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from vprkit.contracts import TrainRequest
from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError, DataError
from vprkit.training.data import GroupData, group_data_from_labels

if TYPE_CHECKING:
    from pydantic import BaseModel
    from torch import nn

    from vprkit.models.interfaces import TrainedClassifier
    from vprkit.models.trained import TrainedModelBase
    from vprkit.partition import Partition
    from vprkit.training.engine import GroupTrainer
    from vprkit.training.loop import TrainingLoop

    M = TypeVar("M", bound=TrainedModelBase)

__all__ = [
    "TrainingRun",
    "fit_partition",
    "init_distributed",
    "is_main_process",
    "load_train_split",
    "load_val_splits",
    "partition_groups",
    "spec_partitioner",
]

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


def spec_partitioner(model: TrainedClassifier) -> str:
    """The partitioner the spec of classifier ``model`` names (``ClassifierSpec.partitioner``)."""
    from vprkit.registry import get_classifier_spec

    name = get_classifier_spec(model.name).partitioner
    if not name:
        raise ConfigError(
            f"classifier {model.name!r}: its spec names no partitioner to train on (ClassifierSpec.partitioner)"
        )
    return name


def fit_partition(
    partitioner: str, config: BaseModel, images: ImageList, features: np.ndarray | None = None
) -> Partition:
    """Fit partitioner ``partitioner`` (registry name) with ``config`` on the training images
    (and ``(n, f)`` per-image ``features``, for a partitioner that uses them)."""
    from vprkit.registry import create_partitioner

    zone = (images.zone_number, images.zone_letter) if images.zone_number else None
    part = create_partitioner(partitioner, config).fit(
        images.east, images.north, images.heading, features, utm_zone=zone
    )
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


@dataclass
class TrainingRun:
    """One training run of a method: the request, the train split (and its fingerprint, which the
    trainers store in their checkpoints), the val splits (None: no validation), the trainer."""

    request: TrainRequest
    config: Any  # the training schedule (``model.config.training``)
    images: ImageList
    fingerprint: str
    val: tuple[ImageList, ImageList] | None
    trainer: TrainingLoop = field(default=None, init=False)  # type: ignore[assignment]  # set by group_trainer / train

    @classmethod
    def start(
        cls, request: TrainRequest, config: Any, *, distributed: bool = True, owner: str = "this method"
    ) -> TrainingRun:
        """Join the process group when launched by ``torchrun`` (``distributed=False``: refuse
        one, naming ``owner``), read the train split and its fingerprint, and the val splits when
        the schedule validates (``validate_every``)."""
        if distributed:
            init_distributed()
        elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(
                f"{owner} trains in a single process (its training is not distributed); "
                "launch `vprkit train` without torchrun"
            )
        images = load_train_split(request.dataset)
        fp = images.fingerprint()  # checked against the checkpoint on resume, recorded in the card
        return cls(request, config, images, fp, load_val_splits(request.dataset) if config.validate_every else None)

    @property
    def run_dir(self) -> Path:
        """``out_dir/training``: checkpoints, best weights, history."""
        return Path(self.request.out_dir) / "training"

    @property
    def device(self) -> torch.device:
        """Where the trainer runs (once it exists)."""
        return self.trainer.device

    def trainer_options(self, validate: Callable[[], dict[str, float]] | None) -> dict[str, Any]:
        """The keyword arguments every trainer takes from the run."""
        return {
            "validate": validate,
            "progress": self.request.progress,
            "data_fingerprint": self.fingerprint,
            "allow_new_data": self.request.allow_new_data,
            "on_start": self.request.on_start,
        }

    # ------------------------------------------------------------------------------ validation
    def _val_queries(self) -> ImageList:
        from vprkit.training.validation import subsample_queries

        assert self.val is not None
        return subsample_queries(self.val[1], self.config.val_max_queries, self.config.seed)

    def classifier_validation(self, model: TrainedClassifier) -> Callable[[], dict[str, float]] | None:
        """``validate() -> {"LR@N": %}`` of ``model``'s top-20 classes on (a subsample of) the val
        queries, or None without val splits."""
        if self.val is None:
            return None

        def validate() -> dict[str, float]:
            from vprkit.evaluation import localization_recall
            from vprkit.models.extract import extract_descriptors

            queries = self._val_queries()
            desc = extract_descriptors(model.net, queries, model.transform, device=self.device)
            model.device = self.device
            pred = model.classify_descriptors(torch.from_numpy(desc), 20)
            return {f"LR@{n}": v for n, v in localization_recall(pred.coords, queries.utm).items()}

        return validate

    def retriever_validation(
        self, net: nn.Module, transform: Callable[[Any], torch.Tensor]
    ) -> Callable[[], dict[str, float]] | None:
        """``validate() -> {"LR@N": %}`` of exhaustive retrieval with ``net`` (val database against
        a subsample of the val queries; LR@N = R@N), or None without val splits."""
        if self.val is None:
            return None
        database = self.val[0]

        def validate() -> dict[str, float]:
            from vprkit.models.extract import extract_descriptors
            from vprkit.training.validation import retrieval_lr

            queries = self._val_queries()
            db = extract_descriptors(net, database, transform, device=self.device)
            q = extract_descriptors(net, queries, transform, device=self.device)
            return retrieval_lr(db, database.utm, q, queries.utm)

        return validate

    # ------------------------------------------------------------------------------ trainers
    def group_trainer(
        self,
        net: nn.Module,
        heads: nn.ModuleList,
        groups: list[GroupData],
        config: Any,
        validate: Callable[[], dict[str, float]] | None,
    ) -> GroupTrainer:
        """A :class:`~vprkit.training.engine.GroupTrainer` on the train split (the schedule's
        augmentation), best epoch by val LR@1."""
        from vprkit.training.augment import train_transform
        from vprkit.training.data import ImageDataset
        from vprkit.training.engine import GroupTrainer

        data = ImageDataset(self.images, train_transform(config.augmentation, config.image_size))
        return GroupTrainer(
            net, heads, groups, data, config, self.run_dir, metric="LR@1", **self.trainer_options(validate)
        )

    def train(
        self, model: M, trainer: TrainingLoop, *, after_best: Callable[[], None] | None = None, **record: Any
    ) -> M:
        """Fit ``trainer`` (resuming if asked), then on rank 0: load the best epoch, run
        ``after_best()`` (fitting that needs the trained network), record the training summary
        (``record`` entries after the training set's) and save ``model`` to ``out_dir``."""
        self.trainer = trainer
        state = trainer.fit(resume=self.request.resume)
        if is_main_process():
            trainer.load_best()
            model.to(trainer.device)
            if after_best is not None:
                after_best()
            model.training_summary = {
                "dataset": str(self.request.dataset),
                "train_images": len(self.images),
                "train_fingerprint": self.fingerprint,
                **record,
                "best_epoch": state["best_epoch"],
                "epochs_done": state["epoch"],
                "history": state["history"],
                **({"initialised_from": state["initialised_from"]} if "initialised_from" in state else {}),
            }
            model.to("cpu").save(self.request.out_dir)
        return model
