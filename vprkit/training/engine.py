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
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vprkit.errors import ConfigError
from vprkit.fileio import atomic_path, atomic_write_json
from vprkit.training.checkpoint import (
    capture_rng,
    check_training_data,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from vprkit.training.config import TrainingConfig
from vprkit.training.data import GroupData, ImageDataset, sample_epoch
from vprkit.training.progress import LogReporter, Reporter

__all__ = ["CHECKPOINT_FORMAT", "GroupTrainer", "load_weights", "resolve_device", "save_weights", "start_checkpoint"]

log = logging.getLogger("vprkit.training")

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
        "format": CHECKPOINT_FORMAT, "start": origin or True,
        "state": {"epoch": int(epoch), "iteration": 0, "loss_sum": 0.0, "loss_count": 0, "best_metric": -math.inf,
                  "best_epoch": -1, "stopped": False, "history": []},
        "config": config.model_dump(mode="json"), "net": net, "heads": heads,
        "backbone_opt": backbone_opt, "head_opts": head_opts, "scheduler": None, "scaler": None, "rng": None,
    }


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → the local CUDA device when present (``LOCAL_RANK`` under torchrun), else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0")) if dist.is_initialized() else 0
            return torch.device("cuda", local % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(name)


def save_weights(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Write a flat tensor dict as safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp))
    return Path(path)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


class _GroupStep(nn.Module):
    """Network + one head, so that DDP sees one module whose parameters are all used."""

    def __init__(self, net: nn.Module, head: nn.Module):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(images), labels)


class GroupTrainer:
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
        reporter: progress sink (default: logging).
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
        reporter: Reporter | None = None,
        on_iteration: Callable[[int, int], None] | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        on_start: Callable[[], None] | None = None,
    ):
        if len(heads) != len(groups):
            raise ConfigError(f"{len(heads)} heads for {len(groups)} groups")
        self.cfg = config
        self.groups = groups
        self.n_trained = min(config.groups_trained or len(groups), len(groups))
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.validate = validate
        self.metric = metric
        self.reporter = reporter or LogReporter()
        self.on_iteration = on_iteration
        images = getattr(dataset, "images", None)
        self.data_source = getattr(images, "root", None)
        if data_fingerprint is None and images is not None:
            data_fingerprint = images.fingerprint()
        self.data_fingerprint = data_fingerprint
        self.allow_new_data = allow_new_data
        self.on_start = on_start
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = resolve_device(config.device)
        self.net = net.to(self.device)
        self.heads = heads.to(self.device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.backbone_opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.backbone_lr)
        self.head_opts = [torch.optim.Adam(h.parameters(), lr=config.head_lr) for h in heads]
        self.scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.backbone_opt, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
            )
            if config.plateau_patience is not None
            else None
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state: dict[str, Any] = {
            "epoch": 0, "iteration": 0, "loss_sum": 0.0, "loss_count": 0,
            "best_metric": -math.inf, "best_epoch": -1, "stopped": False, "history": [],
        }
        if self.data_fingerprint is not None:
            self.state["data_fingerprint"] = self.data_fingerprint

    # ----------------------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    def _checkpoint(self) -> None:
        if self.rank != 0:
            return
        save_checkpoint(self.checkpoint_path, {
            "format": CHECKPOINT_FORMAT,
            "state": dict(self.state),
            "config": self.cfg.model_dump(mode="json"),
            "net": self.net.state_dict(),
            "heads": self.heads.state_dict(),
            "backbone_opt": self.backbone_opt.state_dict(),
            "head_opts": [o.state_dict() for o in self.head_opts],
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.use_amp else None,
            "rng": capture_rng(),
        })

    def _resume(self) -> None:
        ckpt = load_checkpoint(self.checkpoint_path)
        saved = ckpt["config"]
        changed = [k for k in _RESUME_INVARIANTS if saved.get(k) != getattr(self.cfg, k)]
        if changed and not ckpt.get("start"):
            raise ConfigError(
                f"cannot resume {str(self.checkpoint_path)!r}: option(s) {changed} differ from the interrupted "
                f"run ({ {k: saved.get(k) for k in changed} }); only 'epochs' and evaluation options may change"
            )
        # before the weights: a changed training set also explains a size mismatch (another partition)
        check_training_data(self.checkpoint_path, ckpt["state"].get("data_fingerprint"), self.data_fingerprint,
                            self.data_source, allow_new_data=self.allow_new_data)
        try:
            self.net.load_state_dict(ckpt["net"])
            if ckpt["heads"] is not None:
                self.heads.load_state_dict(ckpt["heads"])
            if ckpt["backbone_opt"] is not None:
                self.backbone_opt.load_state_dict(ckpt["backbone_opt"])
            for opt, sd in zip(self.head_opts, ckpt["head_opts"] or []):
                opt.load_state_dict(sd)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot resume {str(self.checkpoint_path)!r}: its weights do not fit this run's model "
                              f"(another backbone, partition or training set?): {first}") from None
        if self.scheduler is not None and ckpt["scheduler"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.use_amp and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = dict(ckpt["state"])
        if self.data_fingerprint is not None:  # from now on the run belongs to this training set
            self.state["data_fingerprint"] = self.data_fingerprint
        if ckpt.get("start") and isinstance(ckpt["start"], str):
            self.state["initialised_from"] = ckpt["start"]  # kept in later checkpoints and the summary
        if ckpt["rng"] is not None:
            restore_rng(ckpt["rng"])
        log.info("resumed %s at epoch %d iteration %d", self.checkpoint_path, self.state["epoch"], self.state["iteration"])

    def _save_best(self) -> None:
        if self.rank == 0:
            state = {f"net.{k}": v for k, v in self.net.state_dict().items()}
            state.update({f"heads.{k}": v for k, v in self.heads.state_dict().items()})
            save_weights(self.best_path, state)

    # ----------------------------------------------------------------------------------- train
    def _loader(self, group: GroupData, epoch: int, start: int) -> DataLoader:
        b = self.cfg.batch_size
        s = sample_epoch(group, self.cfg.iterations_per_epoch * b, self.cfg.seed, epoch, self.rank)
        items = list(zip(s.rows[start * b:].tolist(), s.labels[start * b:].tolist(), s.seeds[start * b:].tolist()))
        # a private generator: creating the iterator must not consume the global torch RNG
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        return DataLoader(
            self.dataset, batch_size=b, sampler=items, num_workers=self.cfg.num_workers, drop_last=False,
            pin_memory=self.device.type == "cuda", generator=gen, persistent_workers=False,
        )

    def _train_epoch(self, epoch: int) -> float:
        g = epoch % self.n_trained
        head, head_opt = self.heads[g], self.head_opts[g]
        step: nn.Module = _GroupStep(self.net, head)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            step = nn.parallel.DistributedDataParallel(step, device_ids=ids)
        step.train()
        start = self.state["iteration"]
        total = self.cfg.iterations_per_epoch
        self.reporter.epoch_start(epoch, g, total, start)
        t0, seen = time.perf_counter(), 0
        for i, (images, labels) in enumerate(self._loader(self.groups[g], epoch, start), start=start):
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                logits = step(images, labels)
            loss = F.cross_entropy(logits.float(), labels)
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

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``config.epochs`` (or the lr floor); returns the final state (history, best)."""
        # process-wide torch settings asked for by the config, restored when fit returns
        previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
        if self.cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        if self.cfg.num_threads:
            torch.set_num_threads(self.cfg.num_threads)
        try:
            if resume:
                self._resume()
            if self.on_start is not None and self.rank == 0:
                self.on_start()
            while self.state["epoch"] < self.cfg.epochs and not self.state["stopped"]:
                epoch = self.state["epoch"]
                mean_loss = self._train_epoch(epoch)
                record: dict[str, Any] = {
                    "epoch": epoch, "group": epoch % self.n_trained, "loss": mean_loss,
                    "lr": self.backbone_opt.param_groups[0]["lr"], "images_per_s": self._images_per_s,
                }
                if self.scheduler is not None:
                    self.scheduler.step(mean_loss)
                    if self.backbone_opt.param_groups[0]["lr"] < self.cfg.min_lr:
                        self.state["stopped"] = True
                due = self.cfg.validate_every and (epoch + 1) % self.cfg.validate_every == 0
                if self.validate is not None and due and self.rank == 0:
                    self.net.eval()
                    self.heads.eval()
                    record.update(self.validate())
                is_best = self.metric in record and record[self.metric] > self.state["best_metric"]
                if is_best:
                    self.state["best_metric"], self.state["best_epoch"] = float(record[self.metric]), epoch
                elif self.validate is None or not self.cfg.validate_every:
                    is_best, self.state["best_epoch"] = True, epoch
                if is_best:
                    self._save_best()
                self.state["history"].append(record)
                self.state.update(epoch=epoch + 1, iteration=0, loss_sum=0.0, loss_count=0)
                self._checkpoint()
                if self.rank == 0:
                    atomic_write_json(self.run_dir / "history.json", self.state["history"])
                self.reporter.epoch_end(record)
        finally:
            self.reporter.close()
            torch.use_deterministic_algorithms(previous[0])
            torch.set_num_threads(previous[1])
        if self.rank == 0 and not self.best_path.exists():
            self._save_best()
        return dict(self.state)

    def load_best(self) -> None:
        """Load ``best.safetensors`` into the network and heads (what a trained model ships)."""
        state = load_weights(self.best_path)
        self.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        self.heads.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("heads.")})
