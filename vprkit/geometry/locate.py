"""Locators: map any point to the index of the class containing it (−1 outside every class).

A locator is the part of a partition that ``assign()`` needs; it is rebuilt from plain arrays when
a partition is loaded. Both are vectorised (one ``searchsorted`` per call).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.geometry.points import check_headings, check_points
from vprkit.geometry.utm import parse_zone, utm_to_latlon

__all__ = ["GridLocator", "S2Locator", "locator_from_arrays"]


class GridLocator:
    """Square UTM cells of side ``cell_size`` metres, optionally split in heading bins of ``heading_step``°.

    ``cells`` is ``(C, 2)`` (cell_e, cell_n) or ``(C, 3)`` (cell_e, cell_n, heading bin) int64 cell
    indices, sorted lexicographically; row c is class c.
    """

    kind = "grid"

    def __init__(self, cell_size: float, cells: np.ndarray, heading_step: float | None = None):
        self.cell_size = float(cell_size)
        self.heading_step = None if heading_step is None else float(heading_step)
        width = 3 if self.heading_step else 2
        self.cells = np.asarray(cells, dtype=np.int64)
        if self.cells.size == 0:
            self.cells = self.cells.reshape(0, width)
        if self.cells.ndim != 2 or self.cells.shape[1] != width:
            raise DataError(f"grid locator: cells must have {width} columns, got {self.cells.shape}")
        if len(self.cells):
            self._low = self.cells.min(axis=0)
            self._span = self.cells.max(axis=0) - self._low + 1
        else:
            self._low = np.zeros(width, dtype=np.int64)
            self._span = np.ones(width, dtype=np.int64)
        if float(np.prod(self._span.astype(np.float64))) >= 2.0**62:
            raise DataError(
                "grid locator: the cells span too large an area to index (check the UTM zone of the points)"
            )
        self._packed = self._pack(self.cells)
        if len(self._packed) > 1 and not (np.diff(self._packed) > 0).all():
            raise DataError("grid locator: cells must be unique and sorted lexicographically")

    def _pack(self, cells: np.ndarray) -> np.ndarray:
        rel = cells - self._low
        packed = rel[:, 0]
        for col in range(1, cells.shape[1]):
            packed = packed * self._span[col] + rel[:, col]
        return packed

    def cell_indices(self, east: np.ndarray, north: np.ndarray, heading: np.ndarray | None = None) -> np.ndarray:
        """Integer cell of every point ``(n, 2|3)`` int64: ``floor(east/M)``, ``floor(north/M)`` [, ``floor(h/α)``]."""
        cols = [np.floor(east / self.cell_size), np.floor(north / self.cell_size)]
        if self.heading_step:
            if heading is None:
                raise DataError("grid locator: the cells are heading-binned, so headings are required")
            cols.append(np.floor(heading / self.heading_step))
        return np.stack(cols, axis=1).astype(np.int64)

    def locate(self, east: np.ndarray, north: np.ndarray, heading: np.ndarray | None = None) -> np.ndarray:
        """Class index ``(n,)`` int64 of each point, −1 when its cell is not a class."""
        east, north = check_points(east, north)
        if self.heading_step:
            heading = check_headings(heading, len(east), method="heading-binned")
        cells = self.cell_indices(east, north, heading)
        inside = ((cells >= self._low) & (cells < self._low + self._span)).all(axis=1)
        out = np.full(len(east), -1, dtype=np.int64)
        if not len(self._packed) or not inside.any():
            return out
        packed = self._pack(cells[inside])
        pos = np.minimum(np.searchsorted(self._packed, packed), len(self._packed) - 1)
        hit = self._packed[pos] == packed
        out[np.flatnonzero(inside)[hit]] = pos[hit]
        return out

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"cells": self.cells}, {
            "kind": self.kind,
            "cell_size": self.cell_size,
            "heading_step": self.heading_step,
        }


class S2Locator:
    """Disjoint S2 cells (any levels) sorted by id; ``cell_to_class[k]`` is the class of cell k.

    Points are converted from UTM (``zone``) to lat/lon, then to leaf ids; the cell containing a
    leaf is found with one ``searchsorted`` over the cells' leaf ranges.
    """

    kind = "s2"

    def __init__(self, cell_ids: np.ndarray, cell_to_class: np.ndarray, zone: str | tuple[int, str]):
        self.cell_ids = np.asarray(cell_ids, dtype=np.uint64)
        self.cell_to_class = np.asarray(cell_to_class, dtype=np.int64)
        parsed = parse_zone(zone)
        self.zone = (parsed.number, parsed.letter)
        if self.cell_ids.shape != self.cell_to_class.shape:
            raise DataError("S2 locator: cell_ids and cell_to_class differ in length")
        if len(self.cell_ids) > 1 and not (self.cell_ids[1:] >= self.cell_ids[:-1]).all():
            order = np.argsort(self.cell_ids, kind="stable")
            self.cell_ids, self.cell_to_class = self.cell_ids[order], self.cell_to_class[order]
        self._lo = s2.id_range_min(self.cell_ids)
        self._hi = s2.id_range_max(self.cell_ids)
        if len(self._lo) > 1 and not (self._lo[1:] > self._hi[:-1]).all():
            raise DataError("S2 locator: cells overlap (a cell and its ancestor are both classes)")

    def leaf_ids(self, east: np.ndarray, north: np.ndarray) -> np.ndarray:
        lat, lon = utm_to_latlon(east, north, self.zone)
        return s2.latlon_to_leaf_ids(lat, lon)

    def locate_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """Class index ``(n,)`` of each leaf id, −1 outside every cell."""
        out = np.full(len(leaves), -1, dtype=np.int64)
        if not len(self.cell_ids):
            return out
        pos = np.searchsorted(self._lo, leaves, side="right") - 1
        ok = pos >= 0
        ok[ok] = leaves[ok] <= self._hi[pos[ok]]
        out[ok] = self.cell_to_class[pos[ok]]
        return out

    def locate(self, east: np.ndarray, north: np.ndarray, heading: np.ndarray | None = None) -> np.ndarray:
        """Class index ``(n,)`` int64 of each UTM point (heading ignored), −1 outside."""
        east, north = check_points(east, north)
        return self.locate_leaves(self.leaf_ids(east, north))

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {"cell_ids": self.cell_ids, "cell_to_class": self.cell_to_class}
        return arrays, {"kind": self.kind, "zone": f"{self.zone[0]}{self.zone[1]}"}


def locator_from_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GridLocator | S2Locator:
    """Rebuild a locator saved with ``to_arrays``."""
    if meta["kind"] == "grid":
        return GridLocator(meta["cell_size"], arrays["cells"], meta.get("heading_step"))
    if meta["kind"] == "s2":
        return S2Locator(arrays["cell_ids"], arrays["cell_to_class"], meta["zone"])
    raise DataError(f"unknown locator kind {meta['kind']!r} in saved partition")
