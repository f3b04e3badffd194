"""Adaptive S2 subdivision (PlaNet/HGE procedure; docs/partitioners/s2.md) and τ density scaling.

Each image starts in its level-``lvl_min`` cell; cells with ``count ≤ τmin`` are deleted with their
images; then, level by level, every image of a cell with ``count > τmax`` moves to its child at the
next level, until no cell exceeds τmax or ``lvl_max`` is reached; finally cells with
``count ≤ τmin`` are deleted again (children are never merged back). Vectorised: the leaves are
sorted once, then each level counts cells by run length over the still-splitting images (≤ 30 levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.errors import ConfigError
from vprkit.geometry import s2

__all__ = ["SFXL_DENSITY", "AdaptiveCells", "adaptive_s2_cells", "occupied_cell_density"]

#: Mean training images per occupied 20 m × 20 m cell on SF-XL: 5.6M processed training images
#: (Berton et al., CVPR 2022) over the ~113k D&C classes of 20 m (Trivigno et al., ICCV 2023, §4). The reference density the
#: papers' τ values were tuned at.
SFXL_DENSITY = 5.6e6 / 113e3


@dataclass(frozen=True)
class AdaptiveCells:
    """Result of :func:`adaptive_s2_cells`.

    Attributes:
        cell_ids: ``(C,)`` uint64 kept cells, sorted by id (class c = row c).
        labels: ``(n,)`` int64 class of each input leaf, −1 for dropped images.
        counts: ``(C,)`` int64 images per kept cell.
        dropped_first: images deleted by the first τmin pass (sparse level-``lvl_min`` cells).
        dropped_last: images deleted by the final τmin pass (sparse cells after splitting).
    """

    cell_ids: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    dropped_first: int
    dropped_last: int


def _runs(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique values, each row's run index and run lengths of a sorted array in O(n)."""
    n = len(sorted_ids)
    change = np.ones(n, dtype=bool)
    change[1:] = sorted_ids[1:] != sorted_ids[:-1]
    starts = np.flatnonzero(change)
    return sorted_ids[starts], np.cumsum(change) - 1, np.diff(np.append(starts, n))


def adaptive_s2_cells(
    leaf_ids: np.ndarray, tau_min: int, tau_max: int, lvl_min: int = 2, lvl_max: int = 30
) -> AdaptiveCells:
    """Adaptive S2 cells of the leaf ids ``(n,)`` uint64 of the training images.

    The leaves are sorted once; because the current cells are always disjoint leaf ranges, the
    images' cell ids stay sorted too, so every level counts cells by run length in O(n).
    """
    if not 0 <= lvl_min <= lvl_max <= s2.MAX_LEVEL:
        raise ConfigError(f"S2 levels must satisfy 0 <= lvl_min <= lvl_max <= 30, got {lvl_min}, {lvl_max}")
    if tau_min < 0 or tau_max <= tau_min:
        raise ConfigError(f"S2 thresholds must satisfy 0 <= tau_min < tau_max, got {tau_min}, {tau_max}")
    leaf_ids = np.asarray(leaf_ids, dtype=np.uint64)
    n = len(leaf_ids)
    order = np.argsort(leaf_ids, kind="stable")
    leaves = leaf_ids[order]
    cell_of = s2.parent_ids(leaves, lvl_min)

    # First τmin pass on the starting cells.
    _, run, counts = _runs(cell_of)
    alive = counts[run] > tau_min
    dropped_first = int(n - alive.sum())

    # Split every over-full cell, one level at a time, only touching images still splitting.
    active = np.flatnonzero(alive)
    level = lvl_min
    while len(active) and level < lvl_max:
        _, run, counts = _runs(cell_of[active])
        active = active[counts[run] > tau_max]
        if not len(active):
            break
        level += 1
        cell_of[active] = s2.parent_ids(leaves[active], level)

    # Final τmin pass.
    kept_rows = np.flatnonzero(alive)
    uniq, run, counts = _runs(cell_of[kept_rows])
    keep_cell = counts > tau_min
    new_index = np.cumsum(keep_cell) - 1
    sorted_labels = np.full(n, -1, dtype=np.int64)
    row_ok = keep_cell[run]
    sorted_labels[kept_rows[row_ok]] = new_index[run[row_ok]]
    labels = np.empty(n, dtype=np.int64)
    labels[order] = sorted_labels
    return AdaptiveCells(
        cell_ids=uniq[keep_cell],
        labels=labels,
        counts=counts[keep_cell].astype(np.int64),
        dropped_first=dropped_first,
        dropped_last=int(len(kept_rows) - row_ok.sum()),
    )


def occupied_cell_density(east: np.ndarray, north: np.ndarray, cell: float = 20.0) -> float:
    """Mean images per occupied ``cell`` × ``cell`` metre square: the density measure used to
    scale τ to datasets sparser or denser than SF-XL (``scale = density / SFXL_DENSITY``)."""
    if not len(east):
        return 0.0
    from vprkit.geometry.grid import unique_rows

    cells = np.stack([np.floor(east / cell), np.floor(north / cell)], axis=1).astype(np.int64)
    occupied = len(unique_rows(cells)[0])
    return float(len(east)) / occupied
