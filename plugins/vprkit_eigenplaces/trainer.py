"""``EigenPlacesTrainer``: the group trainer with two heads per group, one lateral and one frontal.

Epoch ``e`` trains group ``g = e mod G``. Every iteration draws a batch for the lateral head and
one for the frontal head of ``g`` (each a random class of the view, then a random image of it),
sums ``λ_lat · CE_lat + λ_front · CE_front`` and takes one step of the backbone's Adam and of each
of the two heads' Adams — the official iteration, whose two backward passes accumulate into the
same backbone gradient. Heads are stored in the official order: head ``2g`` lateral, ``2g + 1``
frontal.

Everything else is :class:`~vprkit.training.engine.GroupTrainer`'s: the persistent per-head Adams,
checkpoints (its format, so an imported release's start checkpoint fits), exact resume (the two
views draw from their own streams of ``(seed, epoch, rank)``), DDP, validation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vprkit.training.data import GroupData, sample_epoch
from vprkit.training.engine import GroupTrainer
from vprkit.training.loop import EpochPlan, initial_state
from vprkit_eigenplaces.config import EigenPlacesTrainingConfig

__all__ = ["EigenPlacesTrainer"]


class _ViewPairStep(nn.Module):
    """Network + the lateral and frontal heads of one group, one module for DDP. The two batches
    go through the network separately (their own BatchNorm statistics, as in the official code's
    two forward passes)."""

    def __init__(self, net: nn.Module, lateral: nn.Module, frontal: nn.Module):
        super().__init__()
        self.net, self.lateral, self.frontal = net, lateral, frontal

    def forward(
        self,
        lateral_images: torch.Tensor,
        lateral_labels: torch.Tensor,
        frontal_images: torch.Tensor,
        frontal_labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, S, S)`` images and ``(B,)`` labels per view → ``(B, n_classes)`` logits per view."""
        return (
            self.lateral(self.net(lateral_images), lateral_labels),
            self.frontal(self.net(frontal_images), frontal_labels),
        )


class EigenPlacesTrainer(GroupTrainer):
    """Train ``net`` with ``heads[2g]`` (lateral) and ``heads[2g + 1]`` (frontal) on
    ``groups[2g]`` and ``groups[2g + 1]``, group ``g`` in epoch ``g mod G`` (``G`` = the pairs, or
    ``groups_trained`` of them). The arguments are :class:`~vprkit.training.engine.GroupTrainer`'s,
    with the views of every group flattened in that order."""

    cfg: EigenPlacesTrainingConfig
    # GroupTrainer's invariants are inferred as a tuple of exactly its six names; this one has two more
    resume_invariants = (*GroupTrainer.resume_invariants, "lambda_lateral", "lambda_frontal")  # type: ignore[assignment]
    # each view's mean loss over the epoch, kept in the checkpoint so a resumed epoch reports it whole
    epoch_counters: ClassVar[dict[str, Any]] = {"lateral_loss_sum": 0.0, "frontal_loss_sum": 0.0}

    def __init__(self, net: nn.Module, heads: nn.ModuleList, groups: list[GroupData], *args: Any, **kwargs: Any):
        if len(groups) % 2:
            raise ValueError(f"EigenPlaces trains views in pairs (lateral, frontal): got {len(groups)} groups")
        super().__init__(net, heads, groups, *args, **kwargs)
        pairs = len(groups) // 2
        self.n_trained = min(self.cfg.groups_trained or pairs, pairs)
        self._head_opt_pair: tuple[torch.optim.Optimizer, torch.optim.Optimizer]

    def _fresh_state(self) -> dict[str, Any]:
        return initial_state("iteration", stopped=False, **self.epoch_counters)

    def _pair_loader(self, lateral: GroupData, frontal: GroupData, epoch: int, start: int) -> DataLoader:
        """Batches of ``2 × batch_size`` items: the iteration's lateral samples, then its frontal ones."""
        b, iterations = self.cfg.batch_size, self.cfg.iterations_per_epoch
        # each view its own stream: ranks r draw streams 2r and 2r + 1, disjoint across ranks
        views = [
            sample_epoch(group, iterations * b, self.cfg.seed, epoch, 2 * self.rank + v)
            for v, group in enumerate((lateral, frontal))
        ]

        def interleave(field: str) -> list[int]:
            per_view = [getattr(s, field).reshape(iterations, b) for s in views]
            return np.concatenate(per_view, axis=1)[start:].ravel().tolist()

        items = list(zip(interleave("rows"), interleave("labels"), interleave("seeds"), strict=True))
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)  # leaves the global RNG alone
        return DataLoader(
            self.dataset,
            batch_size=2 * b,
            sampler=items,
            num_workers=self.cfg.num_workers,
            drop_last=False,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            persistent_workers=False,
        )

    def _epoch_label(self, epoch: int, group: int) -> str:
        return f"epoch {epoch} (group {group}, lateral + frontal)"

    def _plan_epoch(self, epoch: int, start: int) -> EpochPlan:
        for key, value in self.epoch_counters.items():  # a start checkpoint (an imported release) has none
            self.state.setdefault(key, value)
        g = epoch % self.n_trained
        lateral, frontal = 2 * g, 2 * g + 1
        self._head_opt_pair = (self.head_opts[lateral], self.head_opts[frontal])
        self._step = _ViewPairStep(self.net, self.heads[lateral], self.heads[frontal])
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._step = nn.parallel.DistributedDataParallel(self._step, device_ids=ids)
        self._step.train()
        total = self.cfg.iterations_per_epoch
        loader = self._pair_loader(self.groups[lateral], self.groups[frontal], epoch, start)
        return EpochPlan(self._epoch_label(epoch, g), total, total, loader)

    def _train_unit(self, epoch: int, unit: int, work: Any) -> None:
        images, targets = work
        b = len(images) // 2
        images = images.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            lateral, frontal = self._step(images[:b], targets[:b], images[b:], targets[b:])
        lateral_loss = self.cfg.lambda_lateral * F.cross_entropy(lateral.float(), targets[:b])
        frontal_loss = self.cfg.lambda_frontal * F.cross_entropy(frontal.float(), targets[b:])
        loss = lateral_loss + frontal_loss
        self.backbone_opt.zero_grad(set_to_none=True)
        for opt in self._head_opt_pair:
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.backbone_opt)
        for opt in self._head_opt_pair:
            self.scaler.step(opt)
        self.scaler.update()
        self.state["lateral_loss_sum"] += float(lateral_loss.detach())
        self.state["frontal_loss_sum"] += float(frontal_loss.detach())
        self._stepped(float(loss.detach()), len(images))

    def _epoch_record(self, epoch: int, loss: float) -> dict[str, Any]:
        steps = max(int(self.state["loss_count"]), 1)
        record = super()._epoch_record(epoch, loss)
        record["lateral_loss"] = self.state["lateral_loss_sum"] / steps
        record["frontal_loss"] = self.state["frontal_loss_sum"] / steps
        return record
