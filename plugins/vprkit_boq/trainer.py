"""``PlaceBatchTrainer``: multi-similarity training over batches of places, checkpoints, exact resume.

An epoch is ``iterations_per_epoch`` optimizer steps (default: one pass over the places); step
``t`` of epoch ``e`` takes a batch of ``P`` places × ``K`` images
(:func:`~vprkit_boq.places.sample_place_batches`, a pure function of ``(seed, epoch)``), describes
them with the network in train mode, mines the batch's pairs and applies the multi-similarity loss
(:mod:`vprkit_boq.losses`). AdamW; the learning rate is a pure function of the step (linear
warm-up over ``warmup_epochs``, then × ``lr_gamma`` at every milestone epoch: the authors'
schedule), so a resumed run needs no scheduler state. ``run_dir/last.pt`` holds the network,
the optimizer, the AMP scaler, the position and the RNG states. Single process (the authors train
on one GPU).

The loop itself (resume, checkpoints, validation, best epoch, history, progress) is
:class:`~vprkit.training.loop.TrainingLoop`; a unit is one optimizer step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from vprkit.contracts import Progress
from vprkit.data.image_list import ImageList
from vprkit.models.transforms import normalize
from vprkit.training.augment import train_transform
from vprkit.training.data import ImageDataset
from vprkit.training.loop import EpochPlan, SingleNetLoop, initial_state, unit_callback
from vprkit_boq.config import BoQTrainingConfig
from vprkit_boq.losses import mine_multi_similarity, multi_similarity_loss
from vprkit_boq.places import Places, sample_place_batches

__all__ = ["MS_CHECKPOINT_FORMAT", "PlaceBatchTrainer", "boq_train_transform", "start_checkpoint"]

MS_CHECKPOINT_FORMAT = "vprkit-boq-ms-1"

# what decides the batches, augmentations and learning rates of a step: fixed across a resume
_RESUME_INVARIANTS = (
    "iterations_per_epoch",
    "batch_size",
    "img_per_place",
    "seed",
    "augmentation",
    "image_size",
    "place_cell_m",
    "place_heading_deg",
    "place_spacing",
    "lr",
    "warmup_epochs",
    "milestones",
    "lr_gamma",
)


def boq_train_transform(image_size: int) -> T.Compose:
    """The authors' GSV-Cities augmentation: bicubic resize to ``image_size²``, RandAugment
    (3 operations of magnitude 15, bilinear), ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.RandAugment(num_ops=3, magnitude=15, interpolation=T.InterpolationMode.BILINEAR),
            T.ToTensor(),
            normalize(),
        ]
    )


def start_checkpoint(config: BoQTrainingConfig, net: dict[str, torch.Tensor], origin: str) -> dict[str, Any]:
    """A ``last.pt`` that starts a run from given weights (an imported release): fresh optimizer,
    no RNG state, epoch 0; the resume invariants do not apply to it."""
    return {
        "format": MS_CHECKPOINT_FORMAT,
        "start": origin,
        "state": initial_state("iteration"),
        "config": config.model_dump(mode="json"),
        "net": net,
        "opt": None,
        "scaler": None,
        "rng": None,
    }


def _rng(*keys: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in keys])))


class PlaceBatchTrainer(SingleNetLoop):
    """Train ``net`` (images → unit descriptors) on ``images`` grouped into ``places``.

    ``validate() -> {metric: value}`` runs every ``validate_every`` epochs; the best epoch (by
    ``LR@1``, or the last without validation) is kept in ``run_dir/best.safetensors``. The other
    arguments are :class:`~vprkit.training.loop.TrainingLoop`'s; ``on_iteration(epoch, step)``
    runs after every step.
    """

    cfg: BoQTrainingConfig
    checkpoint_format = MS_CHECKPOINT_FORMAT
    resume_invariants = _RESUME_INVARIANTS
    unit_key = "iteration"

    def __init__(
        self,
        net: nn.Module,
        images: ImageList,
        places: Places,
        config: BoQTrainingConfig,
        run_dir: str | Path,
        *,
        validate: Callable[[], dict[str, float]] | None = None,
        progress: Progress | None = None,
        on_iteration: Callable[[int, int], None] | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        on_start: Callable[[], None] | None = None,
    ):
        super().__init__(
            net,
            images,
            config,
            run_dir,
            lambda params: torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay),
            validate=validate,
            progress=progress,
            on_unit=on_iteration,
            data_fingerprint=data_fingerprint,
            allow_new_data=allow_new_data,
            on_start=on_start,
        )
        self.places = places
        augment = (
            boq_train_transform(config.image_size)
            if config.augmentation == "boq"
            else train_transform(config.augmentation, config.image_size)
        )
        self.train_data = ImageDataset(images, augment)
        self.steps_per_epoch = config.iterations_per_epoch or max(1, places.count // config.batch_size)

    on_iteration = unit_callback("``f(epoch, iteration)`` after every optimizer step")

    # ------------------------------------------------------------------------------ schedule
    def learning_rate(self, epoch: int, step: int) -> float:
        """The lr of step ``step`` of epoch ``epoch``: linear warm-up over the first
        ``warmup_epochs`` epochs (``(global step + 1) / warm-up steps``), times ``lr_gamma`` per
        milestone reached."""
        cfg = self.cfg
        scale = 1.0
        if epoch < cfg.warmup_epochs:
            done = epoch * self.steps_per_epoch + step + 1
            scale = min(1.0, done / (cfg.warmup_epochs * self.steps_per_epoch))
        decays = sum(1 for m in cfg.milestones if epoch >= m)
        return cfg.lr * scale * cfg.lr_gamma**decays

    # ------------------------------------------------------------------------------ strategy
    def _units_per_checkpoint(self) -> int:
        return self.cfg.checkpoint_every

    def _plan_epoch(self, epoch: int, start: int) -> EpochPlan:
        cfg = self.cfg
        rng = _rng(cfg.seed, epoch)
        batches = sample_place_batches(self.places, self.steps_per_epoch, cfg.batch_size, cfg.img_per_place, rng)
        items = []  # per step: (row, label, augmentation seed) of its images
        for rows, labels in batches:
            seeds = rng.integers(0, 2**62, size=len(rows))
            items.append(list(zip(rows.tolist(), labels.tolist(), seeds.tolist(), strict=True)))
        loader = DataLoader(
            self.train_data,
            batch_sampler=items[start:],
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.net.train()
        return EpochPlan(f"epoch {epoch}", self.steps_per_epoch, self.steps_per_epoch, loader)

    def _train_unit(self, epoch: int, unit: int, work: Any) -> None:
        cfg = self.cfg
        images, labels = work
        lr = self.learning_rate(epoch, unit)
        for group in self.opt.param_groups:
            group["lr"] = lr
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            desc = self.net(images)
        desc = desc.float()
        similarity = desc @ desc.T  # cosine similarities of unit descriptors
        positives, negatives = mine_multi_similarity(similarity, labels, cfg.miner_epsilon)
        loss = multi_similarity_loss(similarity, positives, negatives, cfg.ms_alpha, cfg.ms_beta, cfg.ms_base)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self._stepped(float(loss.detach()), len(images))

    def _epoch_record(self, epoch: int, loss: float) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "loss": loss,
            "lr": self.learning_rate(epoch, self.steps_per_epoch - 1),
            "images_per_s": self._images_per_s,
            "seconds": self._epoch_seconds,
        }
