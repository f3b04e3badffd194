"""Input checks and per-class statistics over point arrays (UTM metres, degrees)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np

from vprkit.errors import DataError

__all__ = [
    "RowArrays",
    "check_headings",
    "check_points",
    "class_means",
    "class_medoids",
    "exact_class_sums",
]

RowsT = TypeVar("RowsT", bound="RowArrays")


class RowArrays:
    """Base of a dataclass whose fields are arrays with one row per item (points, camera views):
    ``len()`` is the number of rows, ``take(rows)`` the same dataclass of the rows selected."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass on the subclass

    def __len__(self) -> int:
        return len(getattr(self, dataclasses.fields(self)[0].name))

    def take(self: RowsT, rows: np.ndarray) -> RowsT:
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})


def check_points(east: np.ndarray, north: np.ndarray, what: str = "points") -> tuple[np.ndarray, np.ndarray]:
    """``east``, ``north`` as float64 ``(n,)`` arrays; mismatched shapes or NaN/inf are errors."""
    east = np.asarray(east, dtype=np.float64)
    north = np.asarray(north, dtype=np.float64)
    if east.ndim != 1 or east.shape != north.shape:
        raise DataError(f"{what}: east and north must be 1-D arrays of one length, got {east.shape} and {north.shape}")
    bad = ~(np.isfinite(east) & np.isfinite(north))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{what}: {bad.sum()} of {len(east)} points have NaN/inf UTM coordinates "
            f"(first rows {rows[:5].tolist()}); fix or remove them before partitioning"
        )
    return east, north


def check_headings(heading: np.ndarray | None, n: int, what: str = "points", method: str = "") -> np.ndarray:
    """Headings in degrees wrapped into [0, 360) ``(n,)``; missing headings are a clear error."""
    needs = f"the {method} partition needs headings" if method else "headings are required"
    if heading is None:
        raise DataError(
            f"{what}: no headings given, and {needs}; this dataset has none. "
            "Use a partitioner that ignores heading (e.g. 'dnc')."
        )
    heading = np.asarray(heading, dtype=np.float64)
    if heading.shape != (n,):
        raise DataError(f"{what}: heading has shape {heading.shape}, expected ({n},)")
    missing = ~np.isfinite(heading)
    if missing.any():
        raise DataError(
            f"{what}: {missing.sum()} of {n} images have no heading (NaN), and {needs}. "
            "Use a partitioner that ignores heading (e.g. 'dnc') or fill the heading field."
        )
    wrapped = np.mod(heading, 360.0)
    wrapped[wrapped >= 360.0] = 0.0  # np.mod(-1e-20, 360) rounds to 360.0
    return wrapped


def exact_class_sums(labels: np.ndarray, values: np.ndarray, num_classes: int, offset: float) -> np.ndarray:
    """Per-class sums ``(C,)`` of ``values - offset`` in micrometres, exact (int64).

    Values are rounded to 1 µm and split into two integer-valued float64 parts below 2**53, so
    ``np.bincount``'s float sums are exact and therefore independent of the row order (float sums
    in input order would differ in the last bits when the images are permuted).
    """
    quanta = np.round((values - offset) * 1e6).astype(np.int64)
    high, low = quanta >> 26, quanta & ((1 << 26) - 1)
    sum_high = np.bincount(labels, weights=high.astype(np.float64), minlength=num_classes)
    sum_low = np.bincount(labels, weights=low.astype(np.float64), minlength=num_classes)
    return (sum_high.astype(np.int64) << 26) + sum_low.astype(np.int64)


def class_means(labels: np.ndarray, east: np.ndarray, north: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean UTM ``(C, 2)`` of the rows of each class (µm-exact, bit-identical for any row order);
    rows with label −1 are ignored, classes without rows are NaN."""
    keep = labels >= 0
    lab, east, north = labels[keep], east[keep], north[keep]
    out = np.full((num_classes, 2), np.nan)
    if not len(lab):
        return out
    counts = np.bincount(lab, minlength=num_classes)
    has = counts > 0
    for col, values in enumerate((east, north)):
        offset = float(values.min())  # order-independent anchor keeps the µm sums small
        sums = exact_class_sums(lab, values, num_classes, offset)
        out[has, col] = offset + (sums[has] / counts[has]) / 1e6
    return out


def class_medoids(labels: np.ndarray, east: np.ndarray, north: np.ndarray, num_classes: int) -> np.ndarray:
    """Per class, the UTM ``(C, 2)`` of its training image nearest to the class mean.

    (The exact 1-medoid costs O(k²) per class; the image nearest the mean is the usual
    linear-time stand-in and is always a real training location.)
    """
    means = class_means(labels, east, north, num_classes)
    rows = np.flatnonzero(labels >= 0)
    lab = labels[rows]
    dist = np.hypot(east[rows] - means[lab, 0], north[rows] - means[lab, 1])
    order = np.lexsort((north[rows], east[rows], dist, lab))  # nearest first; ties by position, not row order
    first = np.ones(len(order), dtype=bool)
    first[1:] = lab[order][1:] != lab[order][:-1]
    best = rows[order[first]]
    out = np.full((num_classes, 2), np.nan)
    out[labels[best]] = np.stack([east[best], north[best]], axis=1)
    return out
