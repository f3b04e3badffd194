"""Planar geometry of UTM point sets: convex-hull area and occupancy of square cells."""

from __future__ import annotations

import numpy as np

__all__ = ["cell_counts", "convex_hull", "hull_area_m2"]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(xy: np.ndarray) -> np.ndarray:
    """Vertices ``(k, 2)`` of the convex hull of ``(n, 2)`` points, counter-clockwise.

    Points strictly inside the octagon of the 8 extreme points are discarded with NumPy first
    (Akl–Toussaint), so the monotone chain runs on the few remaining points even for millions.
    """
    pts = np.asarray(xy, dtype=np.float64)
    if len(pts) < 3:
        return np.unique(pts, axis=0)
    x, y = pts[:, 0], pts[:, 1]
    ext = pts[
        [
            np.argmin(x),
            np.argmin(x + y),
            np.argmin(y),
            np.argmax(x - y),
            np.argmax(x),
            np.argmax(x + y),
            np.argmax(y),
            np.argmin(x - y),
        ]
    ]
    ext = ext[np.r_[True, np.any(np.diff(ext, axis=0) != 0, axis=1)]]  # drop repeated vertices
    if len(ext) >= 3:
        inside = np.ones(len(pts), dtype=bool)
        for a, b in zip(ext, np.roll(ext, -1, axis=0)):
            # inside ⇔ strictly left of every (counter-clockwise) octagon edge
            inside &= (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) > 0
        pts = pts[~inside]
    pts = np.unique(pts, axis=0)  # sorted by x then y, as the monotone chain needs
    if len(pts) < 3:
        return pts
    rows = [tuple(p) for p in pts.tolist()]
    lower: list[tuple[float, float]] = []
    for p in rows:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(rows):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def hull_area_m2(xy: np.ndarray) -> float:
    """Area in m² of the convex hull of ``(n, 2)`` UTM points (0 for fewer than 3 distinct points)."""
    hull = convex_hull(xy)
    if len(hull) < 3:
        return 0.0
    x, y = hull[:, 0] - hull[0, 0], hull[:, 1] - hull[0, 1]  # shift for precision
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def cell_counts(xy: np.ndarray, cell_m: float = 20.0) -> np.ndarray:
    """Images per occupied ``cell_m``-sided square cell (D&C's M = 20 m grid), ``(n_cells,)`` int64."""
    xy = np.asarray(xy, dtype=np.float64)
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    cells = np.floor(xy / cell_m).astype(np.int64)
    cells -= cells.min(axis=0)
    key = cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1]
    _, counts = np.unique(key, return_counts=True)
    return counts
