"""``JointTrainer``: the group trainer with one group and a method-defined loss over all heads.

The classification baselines (PlaNet, HGE, CPlaNet, MvMF) train every head on every step with a
loss that is not one cross-entropy over one group (sum of per-level CEs, mixture likelihood...).
``JointTrainer`` reuses :class:`~vprkit.training.engine.GroupTrainer` (checkpoints, exact resume,
plateau schedule, validation, DDP) and changes only the step: the batch carries the training
*rows* of the images, and the "head" is a loss module ``loss(descriptors (B, d), rows (B,)) -> ()``
that looks the targets up itself (class of every level, UTM position...).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from vprkit.training.data import GroupData, ImageDataset, group_data_from_labels
from vprkit.training.engine import GroupTrainer

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
        **kwargs: ``validate``, ``metric``, ``reporter``, ``on_iteration``, ``data_fingerprint``,
            ``allow_new_data``, ``on_start`` as :class:`GroupTrainer`.
    """

    def __init__(self, net: nn.Module, loss_module: nn.Module, group: GroupData, dataset: RowImageDataset, config,
                 run_dir, **kwargs):
        super().__init__(net, nn.ModuleList([loss_module]), [group], dataset, config, run_dir, **kwargs)

    def _train_epoch(self, epoch: int) -> float:
        # GroupTrainer's epoch with the loss module's value instead of cross-entropy on the labels
        import torch.distributed as dist

        from vprkit.training.engine import _GroupStep

        head, head_opt = self.heads[0], self.head_opts[0]
        step: nn.Module = _GroupStep(self.net, head)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            step = nn.parallel.DistributedDataParallel(step, device_ids=ids)
        step.train()
        start = self.state["iteration"]
        total = self.cfg.iterations_per_epoch
        self.reporter.epoch_start(epoch, 0, total, start)
        t0, seen = time.perf_counter(), 0
        for i, (images, rows) in enumerate(self._loader(self.groups[0], epoch, start), start=start):
            images = images.to(self.device, non_blocking=True)
            rows = rows.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                loss = step(images, rows).float()
            self.backbone_opt.zero_grad(set_to_none=True)
            head_opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.backbone_opt)
            self.scaler.step(head_opt)
            self.scaler.update()
            value = float(loss.detach())
            self.state["loss_sum"] += value
            self.state["loss_count"] += 1
            self.state["iteration"] = i + 1
            seen += len(images)
            self.reporter.step(i, value, seen * self.world / max(time.perf_counter() - t0, 1e-9))
            if self.cfg.checkpoint_every and (i + 1) % self.cfg.checkpoint_every == 0 and i + 1 < total:
                self._checkpoint()
            if self.on_iteration is not None:
                self.on_iteration(epoch, i)
        elapsed = time.perf_counter() - t0
        self._images_per_s = seen * self.world / elapsed if elapsed > 0 else float("nan")
        loss_sum = torch.tensor([self.state["loss_sum"], float(self.state["loss_count"])], dtype=torch.float64)
        if self.distributed:
            loss_sum = loss_sum.to(self.device)
            dist.all_reduce(loss_sum)
        return float(loss_sum[0] / max(float(loss_sum[1]), 1.0))
