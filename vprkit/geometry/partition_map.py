"""A map of a partition's cells coloured by group (D&C paper Fig. 2 / Fig. 4), matplotlib Agg.

Grid partitions (D&C, CosPlace) draw every class as its square, coloured by group; single-group
partitions (S2, HGE, CPlaNet) draw each cell coloured by class with a 20-colour palette spread
so that neighbouring classes rarely share a colour. Dropped training images are grey dots. With
very many cells only the training images are drawn (coloured as their class), which keeps the
figure fast at SF-XL scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vprkit.fileio import atomic_path
from vprkit.geometry import s2
from vprkit.geometry.locate import GridLocator, S2Locator
from vprkit.geometry.utm import latlon_to_utm

if TYPE_CHECKING:
    from vprkit.partition import Partition

__all__ = ["plot_partition"]

MAX_POLYGONS = 20000
MAX_POINTS = 30000


def _class_colours(partition: Partition) -> np.ndarray:
    """RGBA ``(C, 4)``: by group when there are several groups, else by class (hashed palette)."""
    from matplotlib import colormaps

    if partition.num_groups > 1:
        palette = colormaps["tab10" if partition.num_groups <= 10 else "tab20"]
        return palette(partition.group_of_class % palette.N)
    palette = colormaps["tab20"]
    return palette((np.arange(partition.num_classes) * 7) % 20)


def _polygons(partition: Partition) -> tuple[np.ndarray, np.ndarray]:
    """Cell outlines ``(P, 4, 2)`` in UTM metres and the class of each polygon."""
    loc = partition.locator
    if isinstance(loc, GridLocator):
        m = loc.cell_size
        corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
        base = loc.cells[:, :2].astype(np.float64) * m
        return base[:, None, :] + corners[None] * m, np.arange(len(base))
    assert isinstance(loc, S2Locator)
    keep = loc.cell_to_class >= 0
    corners = s2.cell_corners_latlon(loc.cell_ids[keep])
    east, north, _ = latlon_to_utm(corners[..., 0].ravel(), corners[..., 1].ravel(), loc.zone)
    return np.stack([east, north], axis=1).reshape(-1, 4, 2), loc.cell_to_class[keep]


def plot_partition(
    partition: Partition, east: np.ndarray, north: np.ndarray, path: str | Path, title: str | None = None
) -> Path:
    """Write a PNG map of ``partition`` over its training points (UTM metres); returns the path."""
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas on save

    colours = _class_colours(partition)
    labels = partition.train_labels
    fig = Figure(figsize=(7, 7), dpi=100)
    ax = fig.subplots()
    dropped = labels < 0
    stride = max(1, len(east) // MAX_POINTS)
    if dropped.any():
        ax.scatter(east[dropped][::stride], north[dropped][::stride], s=1, c="0.75", linewidths=0, label="dropped")
    n_poly = (
        len(partition.locator.cells) if isinstance(partition.locator, GridLocator) else len(partition.locator.cell_ids)
    )
    if 0 < n_poly <= MAX_POLYGONS:
        polys, poly_class = _polygons(partition)
        # matplotlib's stub wants a Sequence; a (P, 4, 2) array is the fast path PolyCollection documents
        collection = PolyCollection(
            polys,  # type: ignore[arg-type]
            facecolors=colours[poly_class],
            edgecolors="white",
            linewidths=0.3,
            alpha=0.85,
        )
        ax.add_collection(collection)
    kept = np.flatnonzero(~dropped)[::stride]
    ax.scatter(east[kept], north[kept], s=0.5, c=colours[labels[kept]] * [0.6, 0.6, 0.6, 1], linewidths=0)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("UTM east (m)")
    ax.set_ylabel("UTM north (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(
        title
        or f"{partition.method}: {partition.num_classes} classes in {partition.num_groups} group(s), "
        f"{partition.dropped} images dropped",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path
