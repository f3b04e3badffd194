"""Integer grid cells of points and their counts: the common core of D&C and CosPlace partitions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.errors import DataError

__all__ = ["GridCells", "count_grid_cells", "unique_rows"]


def unique_rows(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lexicographically sorted unique rows of an int64 ``(n, k)`` array, each row's index into
    them and the counts; rows are packed into one int64 key first (much faster than ``axis=0``)."""
    cells = np.asarray(cells, dtype=np.int64)
    if not len(cells):
        return cells.reshape(0, cells.shape[1]), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = cells.min(axis=0)
    span = cells.max(axis=0) - low + 1
    if float(np.prod(span.astype(np.float64))) >= 2.0**62:
        raise DataError("points span too large an area for a grid partition (are they all in one UTM zone?)")
    packed = np.zeros(len(cells), dtype=np.int64)
    for col in range(cells.shape[1]):
        packed = packed * span[col] + (cells[:, col] - low[col])
    keys, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    out = np.empty((len(keys), cells.shape[1]), dtype=np.int64)
    rest = keys
    for col in range(cells.shape[1] - 1, -1, -1):
        out[:, col] = rest % span[col] + low[col]
        rest = rest // span[col]
    return out, inverse.reshape(-1), counts.astype(np.int64)


@dataclass(frozen=True)
class GridCells:
    """Cells kept after the minimum-count rule.

    Attributes:
        cells: ``(C, k)`` int64 kept cells, sorted lexicographically (class c = row c).
        labels: ``(n,)`` int64 class of each point, −1 when its cell was dropped.
        counts: ``(C,)`` int64 points per kept cell.
        dropped: points in cells with fewer than ``min_count`` points.
    """

    cells: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    dropped: int


def count_grid_cells(cells: np.ndarray, min_count: int) -> GridCells:
    """Keep the cells of ``cells`` ``(n, k)`` holding at least ``min_count`` points."""
    uniq, inverse, counts = unique_rows(cells)
    keep = counts >= min_count
    new_index = np.cumsum(keep) - 1
    labels = np.where(keep[inverse], new_index[inverse], -1).astype(np.int64)
    return GridCells(cells=uniq[keep], labels=labels, counts=counts[keep], dropped=int((labels < 0).sum()))
