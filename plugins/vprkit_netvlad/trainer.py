"""``TripletTrainer``: triplet-loss training with partial mining, checkpoints and exact resume.

An epoch draws ``queries_per_epoch`` queries (a permutation that is a pure function of
``(seed, epoch)``) and walks them in chunks of ``cache_refresh_rate``: mine the chunk's triplets
with the current network (:class:`~vprkit_netvlad.mining.PartialMiner`, pool drawn from
``(seed, epoch, chunk)``), then train on them ``batch_size`` queries per step, each step forwarding
``batch_size × (2 + negs_num_per_query)`` images. ``run_dir/last.pt`` is written after every chunk
(network, optimizer, scaler, position, history, RNG states, the training set's fingerprint), so an
interrupted run continues with the very triplets and augmentations it would have seen. Single
process (no DDP): mining is cheap next to the forward passes and the papers train on one GPU.

The loop (process settings, resume, checkpoints, validation, best epoch, history, progress) is
:class:`~vprkit.training.loop.TrainingLoop`; ``TripletTrainer`` is its strategy: a unit is a
mining chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vprkit.contracts import Progress
from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError
from vprkit.models.extract import extract_descriptors
from vprkit.models.transforms import square_transform
from vprkit.training.augment import train_transform
from vprkit.training.data import ImageDataset
from vprkit.training.loop import EpochPlan, SingleNetLoop, initial_state, unit_callback
from vprkit_netvlad.config import TripletTrainingConfig
from vprkit_netvlad.mining import PartialMiner, triplet_loss

__all__ = ["TRIPLET_CHECKPOINT_FORMAT", "TripletTrainer", "start_checkpoint"]

_RESUME_INVARIANTS = (
    "queries_per_epoch",
    "cache_refresh_rate",
    "neg_samples_num",
    "negs_num_per_query",
    "batch_size",
    "seed",
    "augmentation",
    "image_size",
    "positive_radius_m",
    "negative_radius_m",
    "positive_max_heading_diff_deg",
    "margin",
)


TRIPLET_CHECKPOINT_FORMAT = "vprkit-triplet-1"


def start_checkpoint(config: TripletTrainingConfig, net: dict[str, torch.Tensor], origin: str) -> dict[str, Any]:
    """A ``last.pt`` that starts a triplet run from given weights (an imported release): fresh
    optimizer, no RNG state, epoch 0; the resume invariants do not apply to it."""
    return {
        "format": TRIPLET_CHECKPOINT_FORMAT,
        "start": origin,
        "state": initial_state("chunk", dropped=0),
        "config": config.model_dump(mode="json"),
        "net": net,
        "opt": None,
        "scaler": None,
        "rng": None,
    }


def _rng(*keys: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in keys])))


class TripletTrainer(SingleNetLoop):
    """Train ``net`` (images → unit descriptors) on ``images`` with ``miner``'s triplets.

    ``validate() -> {metric: value}`` runs after every ``validate_every`` epochs; the best epoch
    (by ``LR@1``, or the last without validation) is kept in ``run_dir/best.safetensors``.
    ``data_fingerprint`` (default: ``images.fingerprint()``) is stored in every checkpoint; resuming
    one trained on another training set is refused unless ``allow_new_data`` (a *start*
    checkpoint, which has none, continues on any data). ``on_start()`` runs once :meth:`fit` passed
    its resume checks, before the first step (``vprkit train`` writes the run's config there).
    ``progress`` (default: logging) gets ``update("epoch 3", done, total, loss=…, images_per_s=…)``
    per step and ``note(summary)`` per epoch; ``on_chunk(epoch, chunk)`` runs after every chunk.
    """

    cfg: TripletTrainingConfig
    checkpoint_format = TRIPLET_CHECKPOINT_FORMAT
    resume_invariants = _RESUME_INVARIANTS
    unit_key = "chunk"
    checkpoint_last_unit = True  # every chunk is checkpointed: mining one is the expensive part
    epoch_counters: ClassVar[dict[str, Any]] = {"dropped": 0}  # queries without enough negatives in their pool

    def __init__(
        self,
        net: nn.Module,
        images: ImageList,
        miner: PartialMiner,
        config: TripletTrainingConfig,
        run_dir: str | Path,
        *,
        validate: Callable[[], dict[str, float]] | None = None,
        progress: Progress | None = None,
        on_chunk: Callable[[int, int], None] | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        on_start: Callable[[], None] | None = None,
    ):
        super().__init__(
            net,
            images,
            config,
            run_dir,
            lambda params: torch.optim.Adam(params, lr=config.lr),
            validate=validate,
            progress=progress,
            on_unit=on_chunk,
            data_fingerprint=data_fingerprint,
            allow_new_data=allow_new_data,
            on_start=on_start,
        )
        self.miner = miner
        self.train_data = ImageDataset(images, train_transform(config.augmentation, config.image_size))
        self.cache_transform = square_transform(config.image_size)
        self.query_pool = miner.query_rows
        if len(self.query_pool) == 0:
            raise ConfigError(
                f"no training image has a positive within {config.positive_radius_m} m: nothing to train on"
            )

    on_chunk = unit_callback("``f(epoch, chunk)`` after every mined and trained chunk")

    # ------------------------------------------------------------------------------ strategy
    def _units_per_checkpoint(self) -> int:
        return 1

    def _describe(self, rows: np.ndarray) -> np.ndarray:
        return extract_descriptors(
            self.net,
            self.images.subset(rows),
            self.cache_transform,
            batch_size=self.cfg.cache_batch_size,
            device=self.device,
        )

    def _epoch_queries(self, epoch: int) -> np.ndarray:
        rng = _rng(self.cfg.seed, epoch)
        n = self.cfg.queries_per_epoch
        return self.query_pool[rng.choice(len(self.query_pool), n, replace=n > len(self.query_pool))]

    def _plan_epoch(self, epoch: int, start: int) -> EpochPlan:
        queries, size = self._epoch_queries(epoch), self.cfg.cache_refresh_rate
        chunks = [queries[c : c + size] for c in range(0, len(queries), size)]
        steps = sum(math.ceil(len(q) / self.cfg.batch_size) for q in chunks)
        return EpochPlan(f"epoch {epoch}", len(chunks), steps, chunks[start:])

    def _train_unit(self, epoch: int, chunk: int, queries: np.ndarray) -> None:
        cfg = self.cfg
        rng = _rng(cfg.seed, epoch, chunk)
        triplets = self.miner.mine(queries, self._describe, rng)
        self.state["dropped"] += len(queries) - len(triplets)
        if len(triplets) == 0:
            return
        b, m = cfg.batch_size, self.miner.negs
        seeds = rng.integers(0, 2**62, size=(len(triplets), 2 + m))
        items = []  # per step: its queries, then their positives, then their negatives (query-major)
        for s in range(0, len(triplets), b):
            sl = slice(s, s + b)
            rows = np.concatenate([triplets.queries[sl], triplets.positives[sl], triplets.negatives[sl].ravel()])
            seed = np.concatenate([seeds[sl, 0], seeds[sl, 1], seeds[sl, 2:].ravel()])
            items.append(list(zip(rows.tolist(), [0] * len(rows), seed.tolist(), strict=True)))
        loader = DataLoader(
            self.train_data, batch_sampler=items, num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda"
        )
        self.net.train()
        for images, _ in loader:
            nq = len(images) // (2 + m)
            images = images.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                desc = self.net(images)
            desc = desc.float()
            loss = triplet_loss(desc[:nq], desc[nq : 2 * nq], desc[2 * nq :].reshape(nq, m, -1), cfg.margin)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self._stepped(float(loss.detach()), len(images))

    def _epoch_record(self, epoch: int, loss: float) -> dict[str, Any]:
        return {"epoch": epoch, "loss": loss, "dropped_queries": self.state["dropped"], "seconds": self._epoch_seconds}
