"""``TrainingLoop``: the one training loop under every trainer; a trainer is a *step strategy* on it.

The loop owns what every method's training shares:

- process settings asked for by the config (``deterministic``, ``num_threads``), restored after;
- resume from ``run_dir/last.pt``: the strategy's config invariants (a *start* checkpoint, written
  by ``vprkit models import``, is exempt), the training set's fingerprint
  (:func:`~vprkit.training.checkpoint.check_training_data`), a clear error when the weights do not
  fit, the RNG states, ``initialised_from`` of a start checkpoint;
- the epoch loop over *units* (an optimizer step of the group trainers, a mining chunk of the
  triplet trainer), with a checkpoint every ``N`` units and at every epoch end (rank 0);
- validation every ``validate_every`` epochs (rank 0), the best epoch by ``metric`` (the last one
  without validation) in ``best.safetensors``, ``history.json``;
- progress through one :class:`~vprkit.contracts.Progress`: ``update("epoch 3 (group 1)", done,
  total, loss=…, images_per_s=…)`` after every optimizer step, ``note(summary)`` at an epoch end.

A strategy (a subclass: :class:`~vprkit.training.engine.GroupTrainer`,
:class:`~vprkit.training.joint.JointTrainer`, ``vprkit_netvlad.trainer.TripletTrainer``) supplies
the checkpoint format name, the resume invariants, the name of its position within an epoch
(``unit_key``), its modules and optimizers (:meth:`~TrainingLoop._modules`,
:meth:`~TrainingLoop._checkpoint_entries`, :meth:`~TrainingLoop._load_entries`), how an epoch is
split into units (:meth:`~TrainingLoop._plan_epoch`), one unit's work
(:meth:`~TrainingLoop._train_unit`, which books each optimizer step with
:meth:`~TrainingLoop._stepped`) and the epoch's record (:meth:`~TrainingLoop._epoch_record`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
import torch.distributed as dist
from torch import nn

from vprkit.contracts import LogProgress, Progress
from vprkit.data.image_list import ImageList
from vprkit.errors import ConfigError
from vprkit.fileio import atomic_write_json
from vprkit.models.artifact import load_weights, save_weights
from vprkit.runtime import resolve_device
from vprkit.training.checkpoint import (
    capture_rng,
    check_training_data,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)

__all__ = [
    "EpochPlan",
    "LoopConfig",
    "SingleNetLoop",
    "TrainingLoop",
    "epoch_summary",
    "initial_state",
    "resolve_device",
    "unit_callback",
]

log = logging.getLogger("vprkit.training")


def initial_state(unit_key: str, *, epoch: int = 0, **extra: Any) -> dict[str, Any]:
    """The loop state of a run that has not started (or, with ``epoch``, of a *start* checkpoint):
    position ``(epoch, unit_key)``, the epoch's running loss, the best epoch, the history, plus the
    strategy's own ``extra`` entries."""
    return {
        "epoch": int(epoch),
        unit_key: 0,
        "loss_sum": 0.0,
        "loss_count": 0,
        "best_metric": -math.inf,
        "best_epoch": -1,
        **extra,
        "history": [],
    }


def unit_callback(doc: str) -> property:
    """A strategy's own name for :attr:`TrainingLoop.on_unit` (``on_iteration``, ``on_chunk``),
    readable and settable after construction."""

    def read(self: TrainingLoop) -> Callable[[int, int], None] | None:
        return self.on_unit

    def write(self: TrainingLoop, callback: Callable[[int, int], None] | None) -> None:
        self.on_unit = callback

    return property(read, write, doc=doc)


def epoch_summary(record: dict[str, Any]) -> str:
    """One line for an epoch's record: ``epoch 3: group 1, loss 0.3124, lr 1e-05, LR@1 61.2``."""
    shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "epoch")
    return f"epoch {record.get('epoch')}: {shown}"


class LoopConfig(Protocol):
    """What the loop reads of a schedule (:class:`~vprkit.training.config.TrainingConfig`, the
    triplet trainer's config); ``deterministic`` is optional."""

    epochs: int
    validate_every: int
    device: str
    amp: bool
    num_threads: int | None

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EpochPlan:
    """How a strategy splits one epoch.

    Attributes:
        label: the progress step's name (``"epoch 3 (group 1)"``).
        units: units in the whole epoch (the checkpoint cadence counts them).
        steps: optimizer steps in the whole epoch (the progress total; an estimate is fine).
        work: one item per unit still to do, from the resumed position on; each goes to
            :meth:`TrainingLoop._train_unit`.
    """

    label: str
    units: int
    steps: int
    work: Iterable[Any]


class TrainingLoop:
    """The shared loop; subclasses are the step strategies (see the module docstring).

    Args:
        config: the schedule (``epochs``, ``validate_every``, ``device``, ``amp``, ``num_threads``,
            optionally ``deterministic``); stored as ``cfg``, and in every checkpoint.
        run_dir: where ``last.pt``, ``best.safetensors`` and ``history.json`` go.
        images: the training set (its folder is named when a resume on another set is refused).
        data_fingerprint: the training set's fingerprint (default: ``images.fingerprint()``),
            stored in every checkpoint; a resume on another set is refused unless ``allow_new_data``.
        validate: ``validate() -> {metric: value}`` on the current weights (rank 0 only).
        metric: the validation key that selects the best epoch (higher is better); without
            validation the last epoch is the best.
        progress: where the loop reports (default: logging).
        on_start: called (rank 0) once :meth:`fit` passed its resume checks, before the first step.
        on_unit: ``f(epoch, unit)`` after every unit (tests inject crashes).
    """

    #: ``format`` of the checkpoints this strategy writes
    checkpoint_format: ClassVar[str]
    #: config options that may not change between an interrupted run and its resume
    resume_invariants: ClassVar[tuple[str, ...]]
    #: the state key of the position within an epoch (units done)
    unit_key: ClassVar[str] = "iteration"
    #: also checkpoint after the epoch's last unit (before validation), not only at the epoch end
    checkpoint_last_unit: ClassVar[bool] = False
    #: state entries counted over an epoch, reset to these values at every epoch end
    epoch_counters: ClassVar[dict[str, Any]] = {}
    #: whether the strategy runs under ``torch.distributed`` (rank 0 validates and writes)
    supports_ddp: ClassVar[bool] = True

    def __init__(
        self,
        config: LoopConfig,
        run_dir: str | Path,
        *,
        images: ImageList | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        validate: Callable[[], dict[str, float]] | None = None,
        metric: str = "LR@1",
        progress: Progress | None = None,
        on_start: Callable[[], None] | None = None,
        on_unit: Callable[[int, int], None] | None = None,
    ):
        self.cfg = config
        self.run_dir = Path(run_dir)
        self.validate = validate
        self.metric = metric
        self.progress: Progress = progress if progress is not None else LogProgress("vprkit.training")
        self.on_unit = on_unit
        if data_fingerprint is None and images is not None:
            data_fingerprint = images.fingerprint()
        self.data_fingerprint = data_fingerprint
        self.data_source = images.root if images is not None else None
        self.allow_new_data = allow_new_data
        self.on_start = on_start
        self.distributed = self.supports_ddp and dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = resolve_device(config.device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state: dict[str, Any] = self._fresh_state()
        if self.data_fingerprint is not None:
            self.state["data_fingerprint"] = self.data_fingerprint
        self._label, self._steps, self._t0, self._seen = "", 0, time.perf_counter(), 0
        self._epoch_seconds, self._images_per_s = 0.0, float("nan")

    # ------------------------------------------------------------------------- the strategy's part
    def _fresh_state(self) -> dict[str, Any]:
        return initial_state(self.unit_key, **self.epoch_counters)

    def _modules(self) -> dict[str, nn.Module]:
        """The trained modules by name: saved in ``best.safetensors`` as ``<name>.<key>``, put in
        eval mode for validation."""
        raise NotImplementedError

    def _checkpoint_entries(self) -> dict[str, Any]:
        """The checkpoint's model and optimizer entries (the loop adds format, state, config,
        AMP scaler and RNG states)."""
        raise NotImplementedError

    def _load_entries(self, ckpt: dict[str, Any]) -> None:
        """Load :meth:`_checkpoint_entries` back (``RuntimeError``/``ValueError``/``KeyError``:
        the weights do not fit this run's model)."""
        raise NotImplementedError

    def _plan_epoch(self, epoch: int, start: int) -> EpochPlan:
        """Prepare epoch ``epoch`` (its data, the modules in train mode) from unit ``start`` on."""
        raise NotImplementedError

    def _train_unit(self, epoch: int, unit: int, work: Any) -> None:
        """One unit's work; every optimizer step calls :meth:`_stepped`."""
        raise NotImplementedError

    def _epoch_record(self, epoch: int, loss: float) -> dict[str, Any]:
        """The epoch's history record before validation (``loss``: its mean training loss); may
        also act on it (a plateau schedule sets ``state["stopped"]``)."""
        raise NotImplementedError

    def _units_per_checkpoint(self) -> int:
        """Checkpoint every this many units inside an epoch (0: at epoch ends only)."""
        return 0

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
        save_checkpoint(
            self.checkpoint_path,
            {
                "format": self.checkpoint_format,
                "state": dict(self.state),
                "config": self.cfg.model_dump(mode="json"),
                **self._checkpoint_entries(),
                "scaler": self.scaler.state_dict() if self.use_amp else None,
                "rng": capture_rng(),
            },
        )

    def _resume(self) -> None:
        path = self.checkpoint_path
        ckpt = load_checkpoint(path)
        start = ckpt.get("start")
        saved = ckpt["config"]
        current = self.cfg.model_dump(mode="json")  # the saved config is JSON: compare like with like
        changed = [k for k in self.resume_invariants if saved.get(k) != current.get(k)]
        if changed and not start:
            raise ConfigError(
                f"cannot resume {str(path)!r}: option(s) {changed} differ from the interrupted "
                f"run ({ {k: saved.get(k) for k in changed} }); only 'epochs' and evaluation options may change"
            )
        # before the weights: a changed training set also explains a size mismatch (another partition)
        check_training_data(
            path,
            ckpt["state"].get("data_fingerprint"),
            self.data_fingerprint,
            self.data_source,
            allow_new_data=self.allow_new_data,
        )
        try:
            self._load_entries(ckpt)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"cannot resume {str(path)!r}: its weights do not fit this run's model "
                f"(another backbone, partition or training set?): {first}"
            ) from None
        if self.use_amp and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = dict(ckpt["state"])
        if self.data_fingerprint is not None:  # from now on the run belongs to this training set
            self.state["data_fingerprint"] = self.data_fingerprint
        if start and isinstance(start, str):
            self.state["initialised_from"] = start  # kept in later checkpoints and the summary
        if ckpt["rng"] is not None:
            restore_rng(ckpt["rng"])
        log.info("resumed %s at epoch %d %s %d", path, self.state["epoch"], self.unit_key, self.state[self.unit_key])

    def _save_best(self) -> None:
        if self.rank == 0:
            state: dict[str, torch.Tensor] = {}
            for name, module in self._modules().items():
                state.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
            save_weights(self.best_path, state)

    def load_best(self) -> None:
        """Load ``best.safetensors`` into the trained modules (what a trained model ships)."""
        state = load_weights(self.best_path)
        for name, module in self._modules().items():
            n = len(name) + 1
            module.load_state_dict({k[n:]: v for k, v in state.items() if k.startswith(f"{name}.")})

    # ----------------------------------------------------------------------------------- train
    def _stepped(self, loss: float, images: int) -> None:
        """Book one optimizer step of ``images`` images (this process) at ``loss``, and report it."""
        self.state["loss_sum"] += loss
        self.state["loss_count"] += 1
        self._seen += images
        rate = self._seen * self.world / max(time.perf_counter() - self._t0, 1e-9)
        self.progress.update(self._label, self.state["loss_count"], self._steps, loss=loss, images_per_s=rate)

    def _train_epoch(self, epoch: int) -> float:
        """Run the epoch's remaining units; returns its mean training loss (over all ranks)."""
        start = self.state[self.unit_key]
        plan = self._plan_epoch(epoch, start)
        self._label, self._steps = plan.label, plan.steps
        self.progress.update(plan.label, self.state["loss_count"], plan.steps)
        every = self._units_per_checkpoint()
        self._t0, self._seen = time.perf_counter(), 0
        for unit, work in enumerate(plan.work, start=start):
            self._train_unit(epoch, unit, work)
            self.state[self.unit_key] = unit + 1
            if every and (unit + 1) % every == 0 and (unit + 1 < plan.units or self.checkpoint_last_unit):
                self._checkpoint()
            if self.on_unit is not None:
                self.on_unit(epoch, unit)
        elapsed = time.perf_counter() - self._t0
        self._epoch_seconds = elapsed
        self._images_per_s = self._seen * self.world / elapsed if elapsed > 0 else float("nan")
        loss_sum = torch.tensor([self.state["loss_sum"], float(self.state["loss_count"])], dtype=torch.float64)
        if self.distributed:
            loss_sum = loss_sum.to(self.device)
            dist.all_reduce(loss_sum)
        return float(loss_sum[0] / max(float(loss_sum[1]), 1.0))

    def _end_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        """Validate (when due), keep the best epoch, record the history, checkpoint."""
        due = self.cfg.validate_every and (epoch + 1) % self.cfg.validate_every == 0
        if self.validate is not None and due and self.rank == 0:
            for module in self._modules().values():
                module.eval()
            record.update(self.validate())
        is_best = self.metric in record and record[self.metric] > self.state["best_metric"]
        if is_best:
            self.state["best_metric"], self.state["best_epoch"] = float(record[self.metric]), epoch
        elif self.validate is None or not self.cfg.validate_every:
            is_best, self.state["best_epoch"] = True, epoch
        if is_best:
            self._save_best()
        self.state["history"].append(record)
        self.state.update(
            {"epoch": epoch + 1, self.unit_key: 0, "loss_sum": 0.0, "loss_count": 0, **self.epoch_counters}
        )
        self._checkpoint()
        if self.rank == 0:
            atomic_write_json(self.run_dir / "history.json", self.state["history"])
        self.progress.note(epoch_summary(record))

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``config.epochs`` (or a strategy's stop); returns the final state (history, best)."""
        # process-wide torch settings asked for by the config, restored when fit returns
        previous = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.get_num_threads(),
        )
        if getattr(self.cfg, "deterministic", False):
            torch.use_deterministic_algorithms(True)
        if self.cfg.num_threads:
            torch.set_num_threads(self.cfg.num_threads)
        try:
            if resume:
                self._resume()
            if self.on_start is not None and self.rank == 0:
                self.on_start()
            while self.state["epoch"] < self.cfg.epochs and not self.state.get("stopped"):
                epoch = self.state["epoch"]
                self._end_epoch(epoch, self._epoch_record(epoch, self._train_epoch(epoch)))
        finally:
            torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
            torch.set_num_threads(previous[2])
        if self.rank == 0 and not self.best_path.exists():
            self._save_best()
        return dict(self.state)


class SingleNetLoop(TrainingLoop):
    """A strategy that trains one network with one optimizer (BoQ's place batches, NetVLAD's and
    GeM's triplets): the loop's setup, the ``net`` / ``opt`` checkpoint entries and their resume,
    written once. Single process (``supports_ddp`` False).

    ``optimizer(params)`` makes the optimizer over the network's trainable parameters; ``on_unit``
    runs after every unit (the subclass names it: ``on_iteration``, ``on_chunk``); the other
    arguments are :class:`TrainingLoop`'s.
    """

    supports_ddp = False

    def __init__(
        self,
        net: nn.Module,
        images: ImageList,
        config: LoopConfig,
        run_dir: str | Path,
        optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
        *,
        validate: Callable[[], dict[str, float]] | None = None,
        progress: Progress | None = None,
        on_unit: Callable[[int, int], None] | None = None,
        data_fingerprint: str | None = None,
        allow_new_data: bool = False,
        on_start: Callable[[], None] | None = None,
    ):
        super().__init__(
            config,
            run_dir,
            images=images,
            data_fingerprint=data_fingerprint,
            allow_new_data=allow_new_data,
            validate=validate,
            metric="LR@1",
            progress=progress,
            on_start=on_start,
            on_unit=on_unit,
        )
        self.net, self.images = net.to(self.device), images
        self.opt = optimizer([p for p in net.parameters() if p.requires_grad])

    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def _checkpoint_entries(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def _load_entries(self, ckpt: dict[str, Any]) -> None:
        self.net.load_state_dict(ckpt["net"])
        if ckpt["opt"] is not None:
            self.opt.load_state_dict(ckpt["opt"])
