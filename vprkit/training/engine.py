"""``GroupTrainer``: one group per epoch, a persistent Adam per group head, exact resume, DDP.

Each epoch ``e`` trains the head of group ``e mod G`` together with the shared network, on
``iterations_per_epoch × batch_size`` images drawn by :func:`~vprkit.training.data.sample_epoch`.
The backbone has one Adam (optionally ReduceLROnPlateau on the epoch's training loss, stopping
when its lr falls below ``min_lr``); every head has its own Adam whose state persists across the
epochs it is not trained in.

Resume: ``run_dir/last.pt`` (written atomically at every epoch end and every ``checkpoint_every``
iterations) holds the network, heads, all optimizers, scheduler, AMP scaler, epoch, iteration
within the epoch, running loss, best metric, history, the python/NumPy/torch RNG states and the
training set's fingerprint (a resume on another set is refused unless ``allow_new_data``). The
sampler and the augmentations are pure functions of (seed, epoch, rank, sample), so a resumed run
continues with exactly the batches the interrupted one would have seen.

DDP: when ``torch.distributed`` is initialised (``torchrun``), each epoch wraps (network, current
head) in ``DistributedDataParallel``; every rank draws its own samples; rank 0 validates and
writes checkpoints.

The loop itself (process settings, resume, checkpoints, validation, best epoch, history, progress)
is :class:`~vprkit.training.loop.TrainingLoop`; ``GroupTrainer`` is its strategy for one group per
epoch: a unit is one optimizer step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vprkit.contracts import Progress
from vprkit.errors import ConfigError
from vprkit.training.config import TrainingConfig
from vprkit.training.data import GroupData, ImageDataset, sample_epoch
from vprkit.training.loop import EpochPlan, TrainingLoop, initial_state, unit_callback

__all__ = ["CHECKPOINT_FORMAT", "GroupTrainer", "start_checkpoint"]

# changing these between an interrupted run and its resume would silently change the run
_RESUME_INVARIANTS = ("iterations_per_epoch", "batch_size", "seed", "groups_trained", "augmentation", "image_size")
CHECKPOINT_FORMAT = "vprkit-train-1"


def start_checkpoint(
    config: TrainingConfig,
    net: dict[str, torch.Tensor],
    heads: dict[str, torch.Tensor] | None = None,
    *,
    backbone_opt: dict[str, Any] | None = None,
    head_opts: list[dict[str, Any]] | None = None,
    epoch: int = 0,
    origin: str = "",
) -> dict[str, Any]:
    """A ``last.pt`` that starts (or continues) a run from given weights, e.g. an imported release.

    ``heads=None`` keeps the heads the trainer builds for the dataset (CosPlace releases carry no
    heads); ``None`` optimizer states keep fresh optimizers. Such a *start* checkpoint holds no
    RNG state and no iteration within an epoch, so the resume invariants do not apply to it.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "start": origin or True,
        "state": initial_state("iteration", epoch=epoch, stopped=False),
        "config": config.model_dump(mode="json"),
        "net": net,
        "heads": heads,
        "backbone_opt": backbone_opt,
        "head_opts": head_opts,
        "scheduler": None,
        "scaler": None,
        "rng": None,
    }


class _GroupStep(nn.Module):
    """Network + one head, so that DDP sees one module whose parameters are all used."""

    def __init__(self, net: nn.Module, head: nn.Module):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(images), labels)


class GroupTrainer(TrainingLoop):
    """Train ``net`` (images → descriptors) with ``heads[g]`` on ``groups[g]``, one group per epoch.

    Args:
        net: the descriptor network.
        heads: one head per group (``heads[g](descriptors, labels) -> logits``).
        groups: per group, its training images as CSR classes.
        dataset: the training images with the training augmentation.
        config: the schedule.
        run_dir: where ``last.pt``, ``best.safetensors`` and ``history.json`` go.
        validate: ``validate() -> {metric: value}`` on the current weights (rank 0 only).
        metric: the validation key that selects the best epoch (higher is better); without
            validation the last epoch is the best.
        progress: where the loop reports (default: logging): ``update("epoch 3 (group 1)", done,
            total, loss=…, images_per_s=…)`` per step, ``note(summary)`` per epoch.
        on_iteration: ``f(epoch, iteration)`` after every optimizer step (tests inject crashes).
        data_fingerprint: the training set's :meth:`~vprkit.data.image_list.ImageList.fingerprint`
            (default: computed from ``dataset.images``). It is stored in every checkpoint, and
            :meth:`fit` ``(resume=True)`` refuses a checkpoint trained on another set (a *start*
            checkpoint, which has none, continues on any data).
        allow_new_data: resume on another training set anyway (``--allow-new-data``); the
            checkpoints written from then on carry the new set's fingerprint.
        on_start: called (rank 0) once :meth:`fit` passed its resume checks, before the first
            step: ``vprkit train`` writes the run's config there, so a refused resume changes nothing.
    """

    cfg: TrainingConfig
    checkpoint_format = CHECKPOINT_FORMAT
    resume_invariants = _RESUME_INVARIANTS
    unit_key = "iteration"

    def __init__(
        self,
        net: nn.Module,
        heads: nn.ModuleList,
        groups: list[GroupData],
        dataset: ImageDataset,
        config: TrainingConfig,
        run_dir: str | Path,
        *,
        validate: Callable[[], dict[str, float]] | None = None,
        metric: str = "LR@1",
        progress: Progress | None = None,
        on_iteration: Callable[[int, int], None] | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        on_start: Callable[[], None] | None = None,
    ):
        if len(heads) != len(groups):
            raise ConfigError(f"{len(heads)} heads for {len(groups)} groups")
        super().__init__(
            config,
            run_dir,
            images=getattr(dataset, "images", None),
            data_fingerprint=data_fingerprint,
            allow_new_data=allow_new_data,
            validate=validate,
            metric=metric,
            progress=progress,
            on_start=on_start,
            on_unit=on_iteration,
        )
        self.groups = groups
        self.n_trained = min(config.groups_trained or len(groups), len(groups))
        self.dataset = dataset
        self.net = net.to(self.device)
        self.heads = heads.to(self.device)
        self.backbone_opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.backbone_lr)
        self.head_opts = [torch.optim.Adam(h.parameters(), lr=config.head_lr) for h in heads]
        self.scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.backbone_opt, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
            )
            if config.plateau_patience is not None
            else None
        )
        self._step: nn.Module  # (network, this epoch's head), DDP-wrapped under torchrun
        self._head_opt: torch.optim.Optimizer

    on_iteration = unit_callback("``f(epoch, iteration)`` after every optimizer step")

    # ------------------------------------------------------------------------------ strategy
    def _fresh_state(self) -> dict[str, Any]:
        return initial_state("iteration", stopped=False)

    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net, "heads": self.heads}

    def _checkpoint_entries(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "heads": self.heads.state_dict(),
            "backbone_opt": self.backbone_opt.state_dict(),
            "head_opts": [o.state_dict() for o in self.head_opts],
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
        }

    def _load_entries(self, ckpt: dict[str, Any]) -> None:
        self.net.load_state_dict(ckpt["net"])
        if ckpt["heads"] is not None:
            self.heads.load_state_dict(ckpt["heads"])
        if ckpt["backbone_opt"] is not None:
            self.backbone_opt.load_state_dict(ckpt["backbone_opt"])
        for opt, sd in zip(self.head_opts, ckpt["head_opts"] or [], strict=False):
            opt.load_state_dict(sd)
        if self.scheduler is not None and ckpt["scheduler"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])

    def _units_per_checkpoint(self) -> int:
        return self.cfg.checkpoint_every

    def _loader(self, group: GroupData, epoch: int, start: int) -> DataLoader:
        b = self.cfg.batch_size
        s = sample_epoch(group, self.cfg.iterations_per_epoch * b, self.cfg.seed, epoch, self.rank)
        items = list(
            zip(
                s.rows[start * b :].tolist(), s.labels[start * b :].tolist(), s.seeds[start * b :].tolist(), strict=True
            )
        )
        # a private generator: creating the iterator must not consume the global torch RNG
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        return DataLoader(
            self.dataset,
            batch_size=b,
            sampler=items,
            num_workers=self.cfg.num_workers,
            drop_last=False,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            persistent_workers=False,
        )

    def _epoch_label(self, epoch: int, group: int) -> str:
        return f"epoch {epoch} (group {group})"

    def _plan_epoch(self, epoch: int, start: int) -> EpochPlan:
        g = epoch % self.n_trained
        self._head_opt = self.head_opts[g]
        self._step = _GroupStep(self.net, self.heads[g])
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._step = nn.parallel.DistributedDataParallel(self._step, device_ids=ids)
        self._step.train()
        total = self.cfg.iterations_per_epoch
        return EpochPlan(self._epoch_label(epoch, g), total, total, self._loader(self.groups[g], epoch, start))

    def _loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The step's loss from the head's output: cross-entropy of the logits on the labels."""
        return F.cross_entropy(output.float(), targets)

    def _train_unit(self, epoch: int, unit: int, work: Any) -> None:
        images, targets = work
        images = images.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            output = self._step(images, targets)
        loss = self._loss(output, targets)
        self.backbone_opt.zero_grad(set_to_none=True)
        self._head_opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.backbone_opt)
        self.scaler.step(self._head_opt)
        self.scaler.update()
        self._stepped(float(loss.detach()), len(images))

    def _epoch_record(self, epoch: int, loss: float) -> dict[str, Any]:
        record: dict[str, Any] = {
            "epoch": epoch,
            "group": epoch % self.n_trained,
            "loss": loss,
            "lr": self.backbone_opt.param_groups[0]["lr"],
            "images_per_s": self._images_per_s,
        }
        if self.scheduler is not None:
            self.scheduler.step(loss)
            if self.backbone_opt.param_groups[0]["lr"] < self.cfg.min_lr:
                self.state["stopped"] = True
        return record
