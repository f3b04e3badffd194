"""``TripletTrainer``: triplet-loss training with partial mining, checkpoints and exact resume.

An epoch draws ``queries_per_epoch`` queries (a permutation that is a pure function of
``(seed, epoch)``) and walks them in chunks of ``cache_refresh_rate``: mine the chunk's triplets
with the current network (:class:`~vprkit_netvlad.mining.PartialMiner`, pool drawn from
``(seed, epoch, chunk)``), then train on them ``batch_size`` queries per step, each step forwarding
``batch_size × (2 + negs_num_per_query)`` images. ``run_dir/last.pt`` is written after every chunk
(network, optimizer, scaler, position, history, RNG states, the training set's fingerprint), so an
interrupted run continues with the very triplets and augmentations it would have seen. Single
process (no DDP): mining is cheap next to the forward passes and the papers train on one GPU.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError
from vprkit.fileio import atomic_write_json
from vprkit.models.transforms import square_transform
from vprkit.training.augment import train_transform
from vprkit.training.checkpoint import (
    capture_rng,
    check_training_data,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from vprkit.training.data import ImageDataset
from vprkit.training.engine import load_weights, resolve_device, save_weights
from vprkit.training.progress import LogReporter
from vprkit.training.validation import extract_descriptors
from vprkit_netvlad.config import TripletTrainingConfig
from vprkit_netvlad.mining import PartialMiner, triplet_loss

__all__ = ["TRIPLET_CHECKPOINT_FORMAT", "TripletTrainer", "start_checkpoint"]

log = logging.getLogger("vprkit.netvlad")

_RESUME_INVARIANTS = ("queries_per_epoch", "cache_refresh_rate", "neg_samples_num", "negs_num_per_query", "batch_size",
                      "seed", "augmentation", "image_size", "positive_radius_m", "negative_radius_m",
                      "positive_max_heading_diff_deg", "margin")


TRIPLET_CHECKPOINT_FORMAT = "vprkit-triplet-1"


def start_checkpoint(config: TripletTrainingConfig, net: dict[str, torch.Tensor], origin: str) -> dict[str, Any]:
    """A ``last.pt`` that starts a triplet run from given weights (an imported release): fresh
    optimizer, no RNG state, epoch 0; the resume invariants do not apply to it."""
    return {"format": TRIPLET_CHECKPOINT_FORMAT, "start": origin,
            "state": {"epoch": 0, "chunk": 0, "loss_sum": 0.0, "loss_count": 0, "dropped": 0,
                      "best_metric": -math.inf, "best_epoch": -1, "history": []},
            "config": config.model_dump(mode="json"), "net": net, "opt": None, "scaler": None, "rng": None}


def _rng(*keys: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in keys])))


class TripletTrainer:
    """Train ``net`` (images → unit descriptors) on ``images`` with ``miner``'s triplets.

    ``validate() -> {metric: value}`` runs after every ``validate_every`` epochs; the best epoch
    (by ``LR@1``, or the last without validation) is kept in ``run_dir/best.safetensors``.
    ``data_fingerprint`` (default: ``images.fingerprint()``) is stored in every checkpoint; resuming
    one trained on another training set is refused unless ``allow_new_data`` (a *start*
    checkpoint, which has none, continues on any data). ``on_start()`` runs once :meth:`fit` passed
    its resume checks, before the first step (``vprkit train`` writes the run's config there).
    """

    def __init__(self, net: nn.Module, images: ImageList, miner: PartialMiner, config: TripletTrainingConfig,
                 run_dir: str | Path, *, validate: Callable[[], dict[str, float]] | None = None,
                 reporter: Any = None, on_chunk: Callable[[int, int], None] | None = None,
                 data_fingerprint: str | None = None, allow_new_data: bool = False,
                 on_start: Callable[[], None] | None = None):
        self.net, self.images, self.miner, self.cfg = net, images, miner, config
        self.data_fingerprint = data_fingerprint if data_fingerprint is not None else images.fingerprint()
        self.allow_new_data = allow_new_data
        self.on_start = on_start
        self.run_dir = Path(run_dir)
        self.validate = validate
        self.reporter = reporter or LogReporter()
        self.on_chunk = on_chunk
        self.device = resolve_device(config.device)
        self.net.to(self.device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.train_data = ImageDataset(images, train_transform(config.augmentation, config.image_size))
        self.cache_transform = square_transform(config.image_size)
        self.query_pool = miner.query_rows
        if len(self.query_pool) == 0:
            raise ConfigError(f"no training image has a positive within {config.positive_radius_m} m: nothing to train on")
        self.state: dict[str, Any] = {"epoch": 0, "chunk": 0, "loss_sum": 0.0, "loss_count": 0, "dropped": 0,
                                      "best_metric": -math.inf, "best_epoch": -1, "history": [],
                                      "data_fingerprint": self.data_fingerprint}

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    def _checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, {
            "format": TRIPLET_CHECKPOINT_FORMAT, "state": dict(self.state), "config": self.cfg.model_dump(mode="json"),
            "net": self.net.state_dict(), "opt": self.opt.state_dict(),
            "scaler": self.scaler.state_dict() if self.use_amp else None, "rng": capture_rng(),
        })

    def _resume(self) -> None:
        ckpt = load_checkpoint(self.checkpoint_path)
        start = ckpt.get("start")
        changed = [k for k in _RESUME_INVARIANTS if ckpt["config"].get(k) != getattr(self.cfg, k)]
        if changed and not start:
            raise ConfigError(f"cannot resume {str(self.checkpoint_path)!r}: option(s) {changed} differ from the "
                              "interrupted run; only 'epochs' and evaluation options may change")
        # before the weights and the mined positions: they index the training set
        check_training_data(self.checkpoint_path, ckpt["state"].get("data_fingerprint"), self.data_fingerprint,
                            self.images.root, allow_new_data=self.allow_new_data)
        try:
            self.net.load_state_dict(ckpt["net"])
        except RuntimeError as exc:
            raise ConfigError(f"cannot resume {str(self.checkpoint_path)!r}: its weights do not fit this run's model: "
                              f"{str(exc).strip().splitlines()[0]}") from None
        if ckpt["opt"] is not None:
            self.opt.load_state_dict(ckpt["opt"])
        if self.use_amp and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = dict(ckpt["state"])
        self.state["data_fingerprint"] = self.data_fingerprint  # from now on the run belongs to this set
        if isinstance(start, str):
            self.state["initialised_from"] = start
        if ckpt["rng"] is not None:
            restore_rng(ckpt["rng"])

    def _describe(self, rows: np.ndarray) -> np.ndarray:
        return extract_descriptors(self.net, self.images.subset(rows), self.cache_transform,
                                   batch_size=self.cfg.cache_batch_size, device=self.device)

    def _epoch_queries(self, epoch: int) -> np.ndarray:
        rng = _rng(self.cfg.seed, epoch)
        n = self.cfg.queries_per_epoch
        return self.query_pool[rng.choice(len(self.query_pool), n, replace=n > len(self.query_pool))]

    def _train_chunk(self, epoch: int, chunk: int, queries: np.ndarray) -> None:
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
            items.append(list(zip(rows.tolist(), [0] * len(rows), seed.tolist())))
        loader = DataLoader(self.train_data, batch_sampler=items, num_workers=cfg.num_workers,
                            pin_memory=self.device.type == "cuda")
        self.net.train()
        t0, seen = time.perf_counter(), 0
        for images, _ in loader:
            nq = len(images) // (2 + m)
            images = images.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                desc = self.net(images)
            desc = desc.float()
            loss = triplet_loss(desc[:nq], desc[nq:2 * nq], desc[2 * nq:].reshape(nq, m, -1), cfg.margin)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.state["loss_sum"] += float(loss.detach())
            self.state["loss_count"] += 1
            seen += len(images)
            self.reporter.step(self.state["loss_count"] - 1, float(loss.detach()),
                               seen / max(time.perf_counter() - t0, 1e-9))

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``epochs``; returns the final state (history, best epoch)."""
        previous_threads = torch.get_num_threads()
        if self.cfg.num_threads:
            torch.set_num_threads(self.cfg.num_threads)
        try:
            if resume:
                self._resume()
            if self.on_start is not None:
                self.on_start()
            chunk_size = self.cfg.cache_refresh_rate
            n_chunks = math.ceil(self.cfg.queries_per_epoch / chunk_size)
            steps = sum(math.ceil(len(q) / self.cfg.batch_size) for q in np.array_split(
                np.arange(self.cfg.queries_per_epoch), n_chunks))
            while self.state["epoch"] < self.cfg.epochs:
                epoch = self.state["epoch"]
                queries = self._epoch_queries(epoch)
                self.reporter.epoch_start(epoch, 0, steps, self.state["loss_count"])
                t0 = time.perf_counter()
                while self.state["chunk"] < n_chunks:
                    c = self.state["chunk"]
                    self._train_chunk(epoch, c, queries[c * chunk_size:(c + 1) * chunk_size])
                    self.state["chunk"] = c + 1
                    self._checkpoint()
                    if self.on_chunk is not None:
                        self.on_chunk(epoch, c)
                record: dict[str, Any] = {"epoch": epoch, "loss": self.state["loss_sum"] / max(self.state["loss_count"], 1),
                                          "dropped_queries": self.state["dropped"],
                                          "seconds": time.perf_counter() - t0}
                due = self.cfg.validate_every and (epoch + 1) % self.cfg.validate_every == 0
                if self.validate is not None and due:
                    self.net.eval()
                    record.update(self.validate())
                if "LR@1" in record and record["LR@1"] > self.state["best_metric"]:
                    self.state["best_metric"], self.state["best_epoch"] = float(record["LR@1"]), epoch
                    self._save_best()
                elif self.validate is None or not self.cfg.validate_every:
                    self.state["best_epoch"] = epoch
                    self._save_best()
                self.state["history"].append(record)
                self.state.update(epoch=epoch + 1, chunk=0, loss_sum=0.0, loss_count=0, dropped=0)
                self._checkpoint()
                atomic_write_json(self.run_dir / "history.json", self.state["history"])
                self.reporter.epoch_end(record)
        finally:
            self.reporter.close()
            torch.set_num_threads(previous_threads)
        if not self.best_path.exists():
            self._save_best()
        return dict(self.state)

    def _save_best(self) -> None:
        save_weights(self.best_path, {f"net.{k}": v for k, v in self.net.state_dict().items()})

    def load_best(self) -> None:
        state = load_weights(self.best_path)
        self.net.load_state_dict({k[4:]: v for k, v in state.items()})
