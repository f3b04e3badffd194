"""Training checkpoints: everything a run needs to continue bit-for-bit, written atomically.

A checkpoint is a ``torch.save`` dict of tensors, numbers, strings, lists and dicts only, so it
loads with ``torch.load(weights_only=True)``. RNG states of python, NumPy and torch are stored as
plain lists/tensors for that reason.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vprkit.errors import DataError
from vprkit.fileio import atomic_path

__all__ = ["capture_rng", "load_checkpoint", "restore_rng", "save_checkpoint"]


def capture_rng() -> dict[str, Any]:
    """RNG states of python ``random``, NumPy's global RNG, torch CPU (and CUDA when present)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
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
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no training checkpoint at {str(p)!r}: nothing to resume")
    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"cannot read training checkpoint {str(p)!r}: {exc}") from exc
