"""``train_model``: the library function behind ``vprkit train classifier|retriever NAME``.

Resolves the method's config (defaults ← YAML file ← ``--set`` overrides), creates the method
through the registry and calls the trainer its spec names (``ModelSpec.trainer``) as
``trainer(model, TrainRequest(dataset, out_dir, resume=..., progress=...))``. The output
directory becomes part of a map bundle: the model files (weights, ``config.yaml``, partition,
``manifest.json``) plus ``training/`` (checkpoints and history, needed only to resume).
:func:`fit` trains a model object already made (no lock, no checks of ``out_dir``).

Nothing is lost and nothing changes silently (docs/guarantees.md):

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

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from vprkit.config import config_to_dict, load_config, save_config
from vprkit.contracts import Progress, TrainedModel, TrainRequest
from vprkit.errors import ConfigError, DataError
from vprkit.registry import get_spec, list_methods
from vprkit.specs import ModelSpec

__all__ = ["LOCK_NAME", "RESUMABLE", "TRAINABLE_KINDS", "fit", "resolve_training_config", "train_model"]

M = TypeVar("M", bound=TrainedModel)

log = logging.getLogger("vprkit.training")

TRAINABLE_KINDS = ("classifier", "retriever")
#: the lock file in ``--out`` that serialises trainings into one folder
LOCK_NAME = ".train.lock"
#: the options a ``--resume`` may change: the length of the run, and what only evaluates or runs it
RESUMABLE = tuple(
    f"training.{k}"
    for k in (
        "epochs",
        "validate_every",
        "val_max_queries",
        "num_workers",
        "num_threads",
        "device",
        "checkpoint_every",
        "deterministic",
        "amp",
    )
)
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
    raise DataError(
        f"nothing to resume in {str(out)!r}: no training checkpoint {str(last)!r}; train without "
        "--resume (with --overwrite if --out is not empty)"
    )


def _check_resume_config(kind: str, name: str, config: Any, out: Path) -> None:
    """Refuse a ``--resume`` whose resolved ``config`` differs from the run's saved config in an
    option the run depends on (one line listing every such dotted key, old → new value)."""
    saved, last = out / "training" / "config.yaml", out / "training" / "last.pt"
    if not saved.is_file():
        raise ConfigError(
            f"cannot resume {str(out)!r}: {str(saved)!r} (the run's config) is missing; start a new run "
            "with --overwrite"
        )
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
        raise ConfigError(
            f"cannot resume {str(out)!r} from its start checkpoint ({origin}): {diffs} differ from "
            f"{str(saved)!r}; a start checkpoint allows changes of {allowed} only (set model options "
            "when importing: vprkit models import --set)"
        )
    raise ConfigError(
        f"cannot resume {str(out)!r}: {diffs} differ from the run's config {str(saved)!r}; only "
        f"{', '.join(RESUMABLE)} may change on resume (train into another --out, or start over with "
        "--overwrite)"
    )


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
        raise ConfigError(
            f"another `vprkit train` is writing to {str(out)!r} (lock {str(path)!r}); wait for it to "
            "finish or choose another --out"
        ) from None
    except OSError as exc:  # a read-only or foreign folder
        raise DataError(
            f"cannot write in --out {str(out)!r} ({exc.strerror or exc}); choose a writable folder"
        ) from exc
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
    raise ConfigError(
        f"--out {str(out)!r} is not empty: it holds {what}; continue its run with --resume, replace it "
        "with --overwrite, or choose another folder"
    )


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


def model_spec(model: TrainedModel) -> ModelSpec:
    """The registered classifier or retriever spec whose factory made ``model`` (by its ``name``)."""
    found: list[ModelSpec] = []
    for kind in TRAINABLE_KINDS:
        if model.name in list_methods(kind):
            spec = get_spec(kind, model.name)
            assert isinstance(spec, ModelSpec)
            found.append(spec)
    own = [s for s in found if isinstance(f := s.load_factory(), type) and isinstance(model, f)]
    if own or len(found) == 1:
        return (own or found)[0]
    raise ConfigError(f"no registered classifier or retriever made this {type(model).__name__} (name {model.name!r})")


def fit(
    model: M,
    dataset: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    allow_new_data: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[], None] | None = None,
) -> M:
    """Train ``model`` (made by ``create_classifier`` / ``create_retriever``) on the dataset root
    ``dataset`` with the trainer its spec names; saves it to ``out_dir`` and returns it.

    Training state goes to ``out_dir/training/`` (``last.pt`` for ``resume``); ``resume`` refuses a
    checkpoint trained on another training set unless ``allow_new_data``; ``on_start()`` runs once
    the trainer's resume checks passed. Unlike :func:`train_model` nothing checks or locks ``out_dir``.
    """
    request = TrainRequest(
        dataset=Path(dataset),
        out_dir=Path(out_dir),
        resume=resume,
        allow_new_data=allow_new_data,
        progress=progress,
        on_start=on_start,
    )
    return model_spec(model).load_trainer()(model, request)


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
    progress: Progress | None = None,
) -> TrainedModel:
    """Train method ``name`` on the dataset root ``dataset``; returns the trained model object.

    ``out_dir`` must be empty (or new) unless ``resume`` or ``overwrite``. ``resume=True``
    continues the run in ``out_dir`` from ``out_dir/training/last.pt`` with the config saved there
    (``overrides`` may only change :data:`RESUMABLE`; a start checkpoint any ``training.*``
    option); ``allow_new_data=True`` lets it continue on another training set. ``overwrite=True``
    replaces the run in ``out_dir`` once every check passed. While it runs ``out_dir/.train.lock``
    is held, so a second training into the same folder is refused (:class:`ConfigError`).
    ``progress`` gets the training loop's reports (default: log lines). A method whose spec names
    no trainer is refused (:class:`ConfigError`) before anything is written.
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
    spec = get_spec(kind, name)
    assert isinstance(spec, ModelSpec)
    trainer = spec.load_trainer()
    from vprkit.registry import create

    model = create(kind, name, config)
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

        request = TrainRequest(
            dataset=Path(dataset),
            out_dir=out,
            resume=resume,
            allow_new_data=allow_new_data,
            progress=progress,
            on_start=start if main else None,
        )
        return trainer(model, request)
    finally:
        if lock is not None:
            lock.release()
