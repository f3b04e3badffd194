"""Training checkpoints: everything a run needs to continue bit-for-bit, written atomically.

A checkpoint is a ``torch.save`` dict of tensors, numbers, strings, lists and dicts only, so it
loads with ``torch.load(weights_only=True)``. RNG states of python, NumPy and torch are stored as
plain lists/tensors for that reason.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from vprkit.errors import DataError
from vprkit.models.artifact import atomic_torch_save

__all__ = ["capture_rng", "check_training_data", "load_checkpoint", "restore_rng", "save_checkpoint"]

log = logging.getLogger("vprkit.training")


def capture_rng() -> dict[str, Any]:
    """RNG states of python ``random``, NumPy's global RNG, torch CPU (and CUDA when present)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = cast(
        tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True)
    )
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename)."""
    return atomic_torch_save(path, state)


def load_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); errors name the file.

    ``mmap=True`` maps the tensors instead of reading them: what a caller that only looks at the
    small fields (``start``, ``config``, ``state``) wants for a multi-GB checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no training checkpoint at {str(p)!r}: nothing to resume")
    try:
        try:
            return torch.load(str(p), map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError:
            if not mmap:
                raise
            # only zip-format files (every torch.save since 1.6) can be mapped: read a legacy one whole
            return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"cannot read training checkpoint {str(p)!r}: {exc}") from exc


def check_training_data(
    path: str | Path, saved: str | None, current: str | None, source: object, *, allow_new_data: bool = False
) -> None:
    """Refuse to resume checkpoint ``path`` on another training set than the one it was trained on.

    ``saved`` is the training set's fingerprint stored in the checkpoint's ``state`` (``None`` in a
    *start* checkpoint written by ``vprkit models import``, which may continue on any data, and in
    checkpoints older than the field); ``current`` the fingerprint of the run's training set
    (:meth:`vprkit.data.image_list.ImageList.fingerprint`), ``source`` its folder, named in the
    message. ``allow_new_data=True`` (``--allow-new-data``) accepts the change with a warning.
    """
    if saved is None and current is not None:
        log.info(
            "%s records no training set (a start checkpoint, or older than the record): continuing on %s", path, source
        )
    if saved is None or current is None or saved == current:
        return
    if not allow_new_data:
        raise DataError(
            f"cannot resume {str(path)!r}: it was trained on another training set (fingerprint {saved[:12]}, "
            f"now {current[:12]} for {str(source)!r}); resume on the original data, or pass --allow-new-data "
            "(allow_new_data=True) to continue on this one"
        )
    log.warning(
        "resuming %s on a new training set %s (fingerprint %s, was %s): --allow-new-data",
        path,
        source,
        current[:12],
        saved[:12],
    )
