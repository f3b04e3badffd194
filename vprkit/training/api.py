"""``train_model``: the library function behind ``vprkit train classifier|retriever NAME``.

Resolves the method's config (defaults ← YAML file ← ``--set`` overrides), creates the method
through the registry and calls its ``fit(dataset, out_dir, resume=..., reporter=...)``. The output
directory becomes part of a map bundle: the model files (weights, ``config.yaml``, partition,
``manifest.json``) plus ``training/`` (checkpoints and history, needed only to resume).

Nothing is lost and nothing changes silently (DESIGN.md "Guarantees"):

* ``out_dir/.train.lock`` (held for the whole run) refuses a second training into the same folder;
* a non-empty ``out_dir`` is refused unless ``resume`` (continue its run) or ``overwrite`` (replace
  it; the old model files and ``training/`` are removed only once every check passed);
* ``resume`` compares the new resolved config with ``training/config.yaml`` before anything is
  written: only ``training.epochs`` and the evaluation/runtime options in :data:`RESUMABLE` may
  differ (a *start* checkpoint, written by ``vprkit models import``, also allows every other
  ``training.*`` option); ``training/config.yaml`` is (re)written only after these checks;
* the trainers store the training set's fingerprint in their checkpoints and refuse to resume on
  another one unless ``allow_new_data``.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from vprkit.config import config_to_dict, load_config, save_config
from vprkit.errors import ConfigError, DataError
from vprkit.registry import get_spec

__all__ = ["LOCK_NAME", "RESUMABLE", "TRAINABLE_KINDS", "resolve_training_config", "train_model"]

log = logging.getLogger("vprkit.training")

TRAINABLE_KINDS = ("classifier", "retriever")
#: the lock file in ``--out`` that serialises trainings into one folder
LOCK_NAME = ".train.lock"
#: the options a ``--resume`` may change: the length of the run, and what only evaluates or runs it
RESUMABLE = tuple(f"training.{k}" for k in ("epochs", "validate_every", "val_max_queries", "num_workers",
                                             "num_threads", "device", "checkpoint_every", "deterministic", "amp"))
# what write_model_dir writes; manifest.json first: a folder without it is an interrupted save
_MODEL_FILES = ("manifest.json", "weights.safetensors", "config.yaml", "partition.npz")


def resolve_training_config(kind: str, name: str, config_file: str | Path | None = None, overrides: Iterable[str] = ()):
    """The validated config of method ``name`` of ``kind``."""
    if kind not in TRAINABLE_KINDS:
        raise ConfigError(f"cannot train a {kind!r}; trainable kinds: {TRAINABLE_KINDS}")
    spec = get_spec(kind, name)
    return load_config(spec.config, config_file, list(overrides), owner=f"{kind} {name!r}")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _nothing_to_resume(out: Path, last: Path) -> NoReturn:
    raise DataError(f"nothing to resume in {str(out)!r}: no training checkpoint {str(last)!r}; train without "
                    "--resume (with --overwrite if --out is not empty)")


def _check_resume_config(kind: str, name: str, config: Any, out: Path) -> None:
    """Refuse a ``--resume`` whose resolved ``config`` differs from the run's saved config in an
    option the run depends on (one line listing every such dotted key, old → new value)."""
    saved, last = out / "training" / "config.yaml", out / "training" / "last.pt"
    if not saved.is_file():
        raise ConfigError(f"cannot resume {str(out)!r}: {str(saved)!r} (the run's config) is missing; start a new run "
                          "with --overwrite")
    from vprkit.training.checkpoint import load_checkpoint

    # mmap: only the small fields are looked at, the weights stay on disk
    ckpt = load_checkpoint(last, mmap=True)
    start = ckpt.get("start")
    # the saved file through the current class: options added since then compare at their defaults
    old = _flatten(config_to_dict(load_config(get_spec(kind, name).config, saved, owner=str(saved))))
    new = _flatten(config_to_dict(config))
    if start:
        # a release's schedule is not this run's: only the model options must stay those of the
        # import; without heads in the checkpoint the heads are built for this run's partition
        free = ("training.", "partition.") if ckpt.get("heads") is None else ("training.",)
        changed = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and not k.startswith(free)]
    else:
        changed = [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and k not in RESUMABLE]
    if not changed:
        return
    diffs = ", ".join(f"{k} ({old.get(k)!r} → {new.get(k)!r})" for k in changed)
    if start:
        allowed = " and ".join(f"{p}*" for p in free)
        origin = start if isinstance(start, str) else "an imported release"
        raise ConfigError(f"cannot resume {str(out)!r} from its start checkpoint ({origin}): {diffs} differ from "
                          f"{str(saved)!r}; a start checkpoint allows changes of {allowed} only (set model options "
                          "when importing: vprkit models import --set)")
    raise ConfigError(f"cannot resume {str(out)!r}: {diffs} differ from the run's config {str(saved)!r}; only "
                      f"{', '.join(RESUMABLE)} may change on resume (train into another --out, or start over with "
                      "--overwrite)")


def _lock(out: Path):
    """Hold ``out/.train.lock`` (no waiting): a second ``vprkit train`` into ``out`` is refused."""
    from filelock import FileLock, Timeout

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a folder")
    path = out / LOCK_NAME
    lock = FileLock(str(path), timeout=0)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ConfigError(f"another `vprkit train` is writing to {str(out)!r} (lock {str(path)!r}); wait for it to "
                          "finish or choose another --out") from None
    except OSError as exc:  # a read-only or foreign folder
        raise DataError(f"cannot write in --out {str(out)!r} ({exc.strerror or exc}); choose a writable folder") from exc
    return lock


def _check_out_is_free(out: Path) -> None:
    """Refuse a new run into a folder that holds anything (but a lock file)."""
    entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)
    if not entries:
        return
    last = out / "training" / "last.pt"
    if last.is_file():
        what = f"a training run ({str(last)!r})"
    elif (out / "training" / "config.yaml").is_file():
        what = "a run stopped before its first checkpoint (training/config.yaml, no last.pt: nothing to resume)"
    elif (out / "manifest.json").is_file():
        what = "a model folder (manifest.json)"
    else:
        what = f"{len(entries)} entries ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''})"
    raise ConfigError(f"--out {str(out)!r} is not empty: it holds {what}; continue its run with --resume, replace it "
                      "with --overwrite, or choose another folder")


def _clear_previous_run(out: Path) -> None:
    """``--overwrite``: remove the model files and ``training/`` of the run in ``out`` (other files stay)."""
    for name in _MODEL_FILES:
        (out / name).unlink(missing_ok=True)
    if (out / "training").is_dir():
        shutil.rmtree(out / "training")
    log.info("--overwrite: removed the previous run in %s", out)


def _launch_rank() -> int:
    """This process's rank: torch.distributed's once joined, else torchrun's ``RANK`` (the fits
    join the process group later, so ``is_main_process()`` would be true on every rank here)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def train_model(
    kind: str,
    name: str,
    dataset: str | Path,
    out_dir: str | Path,
    *,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    allow_new_data: bool = False,
    reporter: Any = None,
) -> Any:
    """Train method ``name`` on the dataset root ``dataset``; returns the trained model object.

    ``out_dir`` must be empty (or new) unless ``resume`` or ``overwrite``. ``resume=True``
    continues the run in ``out_dir`` from ``out_dir/training/last.pt`` with the config saved there
    (``overrides`` may only change :data:`RESUMABLE`; a start checkpoint any ``training.*``
    option); ``allow_new_data=True`` lets it continue on another training set. ``overwrite=True``
    replaces the run in ``out_dir`` once every check passed. While it runs ``out_dir/.train.lock``
    is held, so a second training into the same folder is refused (:class:`ConfigError`).
    """
    from vprkit.data.resolve import resolve_dataset

    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    if allow_new_data and not resume:
        raise ConfigError("--allow-new-data only applies with --resume (a new run trains on the data it is given)")
    out = Path(out_dir)
    saved, last = out / "training" / "config.yaml", out / "training" / "last.pt"
    if resume and not out.is_dir():
        _nothing_to_resume(out, last)  # before anything is created
    dataset, _ = resolve_dataset(dataset)  # a folder, or "synthcity" (generated on first use)
    if resume and saved.is_file() and config_file is None:
        config_file = saved  # the interrupted run's own config, then the overrides given now
    config = resolve_training_config(kind, name, config_file, overrides)
    from vprkit.registry import create

    model = create(kind, name, config)
    if not hasattr(model, "fit"):
        raise ConfigError(f"{kind} {name!r} cannot be trained by vprkit train (its object has no fit())")
    accepts = inspect.signature(model.fit).parameters
    fit_kwargs: dict[str, Any] = {"resume": resume, "reporter": reporter}
    if allow_new_data:
        if "allow_new_data" not in accepts:
            raise ConfigError(f"--allow-new-data: {kind} {name!r} does not support it (its fit() has no allow_new_data)")
        fit_kwargs["allow_new_data"] = True
    # Under torchrun rank 0 owns the folder (lock, checks, config); the other ranks only read it.
    main = _launch_rank() == 0
    lock = _lock(out) if main else None
    try:
        if resume and not last.is_file():  # under the lock: a run in progress is reported as such
            _nothing_to_resume(out, last)
        if resume:
            _check_resume_config(kind, name, config, out)
        elif main and not overwrite:
            _check_out_is_free(out)

        def start() -> None:
            # every check passed, the trainer's own ones included (training set, weights): only now
            # is the previous run replaced and the run's config (re)written
            if overwrite:
                _clear_previous_run(out)
            save_config(config, saved)

        if main:
            if "on_start" in accepts:
                fit_kwargs["on_start"] = start
            else:  # a fit without the hook: the checks above are all there is
                start()
        return model.fit(dataset, out, **fit_kwargs)
    finally:
        if lock is not None:
            lock.release()
