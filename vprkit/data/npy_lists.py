"""The GSV-Cities family's ``.npy`` evaluation lists (Pitts30k/250k, MSLS val, Nordland, SPED...).

Files, for a list name ``<ds>`` (e.g. ``pitts30k_test``, ``msls_val``)::

    <ds>_dbImages.npy   (n_db,)  str   database image paths, relative to the image root
    <ds>_qImages.npy    (n_q,)   str   query image paths
    <ds>_gt.npy         (n_q,)   object array of int arrays: positives per query (database rows)

MSLS's variant names the positives ``<ds>_pIdx.npy`` and adds ``<ds>_qIdx.npy`` (int rows of
``qImages`` that are actual queries; ``pIdx`` is aligned with them).

The lists carry no coordinates: the returned image lists have NaN positions (zone 0) unless the
paths are standard '@' names, and the positives come from the file. The per-query positives are a
ragged *object* array, i.e. a pickle; it is read with a restricted unpickler that only rebuilds
NumPy arrays, so a hostile file cannot run code.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.filenames import parse_filenames
from vprkit.data.image_list import ImageList
from vprkit.data.positives import Positives
from vprkit.data.standard import image_list_from_paths
from vprkit.errors import DataError

__all__ = ["NpyEvalSet", "load_npy_array", "read_npy_lists"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only NumPy arrays are allowed)")


def load_npy_array(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` file; object arrays (ragged lists) go through a NumPy-only unpickler."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(fh)
            if not dtype.hasobject:
                return np.load(path, allow_pickle=False)
            arr = _ArraysOnly(fh).load()
    except (ValueError, OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy array: {exc}") from exc
    arr = np.asarray(arr, dtype=object)
    if arr.shape != shape:
        raise DataError(f"{path}: header says shape {shape}, content has {arr.shape}")
    return arr


@dataclass(frozen=True)
class NpyEvalSet:
    """A database/queries pair with ground-truth positives.

    Attributes:
        database: image list (paths relative to the image root; NaN positions unless the
            names are standard '@' names).
        queries: image list, as ``database``.
        positives: per-query database rows (CSR), as given by the ``gt``/``pIdx`` file.
    """

    name: str
    database: ImageList
    queries: ImageList
    positives: Positives


def _as_list(root: Path, paths: np.ndarray, source: Path) -> ImageList:
    paths = np.asarray(paths).astype(str)
    if len(paths) == 0:
        raise DataError(f"{source} lists no images")
    parsed = parse_filenames(paths, errors="report")
    if parsed.ok.all():  # standard names: use their coordinates
        return image_list_from_paths(root, paths.tolist())
    nan = np.full(len(paths), np.nan)
    return ImageList(
        root=root,
        paths=paths,
        east=nan,
        north=nan.copy(),
        zone_number=0,
        zone_letter="",
        lat=nan.copy(),
        lon=nan.copy(),
        heading=nan.copy(),
    )


def read_npy_lists(list_dir: str | Path, name: str, image_root: str | Path) -> NpyEvalSet:
    """Read ``<list_dir>/<name>_{dbImages,qImages,gt|pIdx[,qIdx]}.npy``.

    Args:
        list_dir: folder holding the ``.npy`` files.
        name: list name such as ``"pitts30k_test"`` or ``"msls_val"``.
        image_root: folder the listed image paths are relative to.
    """
    d = Path(list_dir)
    root = Path(image_root)
    db_file, q_file = d / f"{name}_dbImages.npy", d / f"{name}_qImages.npy"
    gt_file = d / f"{name}_gt.npy"
    if not gt_file.is_file() and (d / f"{name}_pIdx.npy").is_file():
        gt_file = d / f"{name}_pIdx.npy"
    for f in (db_file, q_file, gt_file):
        if not f.is_file():
            raise DataError(
                f"{f} does not exist (expected {name}_dbImages.npy, {name}_qImages.npy and {name}_gt.npy or {name}_pIdx.npy in {d})"
            )
    db_paths = load_npy_array(db_file)
    q_paths = load_npy_array(q_file)
    q_idx_file = d / f"{name}_qIdx.npy"
    if q_idx_file.is_file():
        q_idx = load_npy_array(q_idx_file).astype(np.int64)
        if len(q_idx) and (q_idx.min() < 0 or q_idx.max() >= len(q_paths)):
            raise DataError(f"{q_idx_file} indexes rows outside {q_file} (0..{len(q_paths) - 1})")
        q_paths = q_paths[q_idx]
    gt = load_npy_array(gt_file)
    if len(gt) != len(q_paths):
        raise DataError(f"{gt_file} has {len(gt)} entries but there are {len(q_paths)} queries")
    lists = [np.asarray(g, dtype=np.int64).ravel() for g in gt]
    counts = np.array([len(g) for g in lists], dtype=np.int64)
    indices = np.concatenate(lists) if lists else np.empty(0, np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(db_paths)):
        raise DataError(f"{gt_file} names database rows outside 0..{len(db_paths) - 1}")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    positives = Positives(offsets, indices, np.full(len(indices), np.nan), float("nan"))
    return NpyEvalSet(name, _as_list(root, db_paths, db_file), _as_list(root, q_paths, q_file), positives)
