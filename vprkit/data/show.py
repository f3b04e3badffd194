"""``vprkit datasets show``: a PNG map of where a dataset's images are.

Each split is drawn in its own colour (train light grey, databases blue, queries red/orange), in
UTM metres relative to the south-west corner of all points. Splits with more than
``max_points`` images are drawn from an evenly spaced subset (deterministic), stated in the legend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.data.standard import list_splits, load_split
from vprkit.errors import DataError
from vprkit.fileio import atomic_path

__all__ = ["load_all_splits", "plot_positions"]

_STYLE = {"train": ("#bbbbbb", 2, 0.5), "database": ("#1f5fbf", 5, 0.8), "queries": ("#d62728", 10, 0.9)}


def load_all_splits(root: str | Path, **kwargs: Any) -> dict[str, ImageList]:
    """Every split of a dataset root (or the folder itself as split ``"."``), with positions."""
    root = Path(root)
    splits = list_splits(root) if root.is_dir() else []
    if not splits:
        from vprkit.data.standard import read_folder

        return {".": read_folder(root, **kwargs)}
    return {s: load_split(root, s, **kwargs) for s in splits}


def _style(split: str) -> tuple[str, int, float]:
    leaf = split.rsplit("/", 1)[-1]
    key = "queries" if leaf.startswith("queries") else ("database" if leaf == "database" else "train")
    colour, size, alpha = _STYLE[key]
    if key == "queries" and split.startswith("val"):
        colour = "#ff7f0e"
    elif key == "database" and split.startswith("val"):
        colour = "#2ca02c"
    return colour, size, alpha


def plot_positions(splits: dict[str, ImageList], png: str | Path, *, title: str = "", max_points: int = 200_000) -> Path:
    """Write a map of every split's positions to ``png`` (atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    located = {k: v for k, v in splits.items() if len(v) and np.isfinite(v.east).any()}
    if not located:
        raise DataError("nothing to draw: no split has positions")
    allxy = np.concatenate([v.utm[np.isfinite(v.east)] for v in located.values()])
    origin = allxy.min(axis=0)
    fig, ax = plt.subplots(figsize=(8, 8), dpi=120)
    order = sorted(located, key=lambda s: ("queries" in s, "database" in s, s))  # train below, queries on top
    for split in order:
        images = located[split]
        xy = images.utm[np.isfinite(images.east)] - origin
        label = f"{split} ({len(images):,})"
        if len(xy) > max_points:
            xy = xy[np.linspace(0, len(xy) - 1, max_points).astype(int)]
            label += f", {max_points:,} drawn"
        colour, size, alpha = _style(split)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c=colour, alpha=alpha, linewidths=0, label=label)
    any_list = next(iter(located.values()))
    zone = f" (UTM zone {any_list.zone_number}{any_list.zone_letter})" if any_list.zone_number else ""
    ax.set_xlabel(f"east − {origin[0]:.0f} [m]{zone}")
    ax.set_ylabel(f"north − {origin[1]:.0f} [m]")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=2, fontsize=8, framealpha=0.9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(png)
