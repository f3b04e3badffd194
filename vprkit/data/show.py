"""``vprkit datasets show``: a dataset's splits, query sets and protocol, and a PNG map of where
its images are.

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

__all__ = ["describe_folder", "describe_spec", "load_all_splits", "plot_positions"]

_STYLE = {"train": ("#bbbbbb", 2, 0.5), "database": ("#1f5fbf", 5, 0.8), "queries": ("#d62728", 10, 0.9)}


def load_all_splits(root: str | Path, **kwargs: Any) -> dict[str, ImageList]:
    """Every split of a dataset root (or the folder itself as split ``"."``), with positions."""
    root = Path(root)
    splits = list_splits(root) if root.is_dir() else []
    if not splits:
        from vprkit.data.standard import read_folder

        return {".": read_folder(root, **kwargs)}
    return {s: load_split(root, s, **kwargs) for s in splits}


def _protocol(spec: Any) -> dict[str, Any]:
    p = spec.protocol
    return {"radius_m": p.radius_m, "paper_query_sets": list(p.paper_query_sets), "notes": p.notes}


def describe_spec(name: str) -> dict[str, Any]:
    """What a registered dataset holds: splits with published counts, query sets, protocol."""
    from vprkit.registry import get_dataset_spec

    spec = get_dataset_spec(name)
    splits = [{"split": s, "images": None, "published": spec.expected_counts.get(s)} for s in spec.splits]
    tops = dict.fromkeys(s.split("/")[0] for s in spec.splits)
    return {
        "root": name,
        "dataset": name,
        "splits": splits,
        "query_sets": {t: spec.query_sets(t) for t in tops if spec.query_sets(t)},
        "protocol": _protocol(spec),
    }


def describe_folder(root: str | Path) -> dict[str, Any]:
    """A dataset folder's splits with image counts (listing files or folder walks, no parsing),
    its query sets and, when vprkit made or prepared it, its dataset and protocol."""
    from vprkit.data.dataset_protocol import dataset_spec_of
    from vprkit.data.standard import list_image_paths, list_query_sets, split_folder

    root = Path(root)
    spec = dataset_spec_of(root)
    names = list_splits(root)
    if not names:
        raise DataError(f"{root} has no split folders (images/train, images/test/database, images/test/queries...)")
    splits = [
        {
            "split": s,
            "images": len(list_image_paths(split_folder(root, s))),
            "published": spec.expected_counts.get(s) if spec else None,
        }
        for s in names
    ]
    tops = dict.fromkeys(s.split("/")[0] for s in names)
    return {
        "root": str(root),
        "dataset": spec.name if spec else None,
        "splits": splits,
        "query_sets": {t: list_query_sets(root, t) for t in tops if list_query_sets(root, t)},
        "protocol": _protocol(spec) if spec else None,
    }


def _style(split: str) -> tuple[str, int, float]:
    leaf = split.rsplit("/", 1)[-1]
    key = "queries" if leaf.startswith("queries") else ("database" if leaf == "database" else "train")
    colour, size, alpha = _STYLE[key]
    if key == "queries" and split.startswith("val"):
        colour = "#ff7f0e"
    elif key == "database" and split.startswith("val"):
        colour = "#2ca02c"
    return colour, size, alpha


def plot_positions(
    splits: dict[str, ImageList], png: str | Path, *, title: str = "", max_points: int = 200_000
) -> Path:
    """Write a map of every split's positions to ``png`` (atomically); returns the path."""
    from vprkit.plotting import png_figure

    located = {k: v for k, v in splits.items() if len(v) and np.isfinite(v.east).any()}
    if not located:
        raise DataError("nothing to draw: no split has positions")
    allxy = np.concatenate([v.utm[np.isfinite(v.east)] for v in located.values()])
    origin = allxy.min(axis=0)
    with png_figure(png, figsize=(8, 8), dpi=120) as fig:
        ax = fig.subplots()
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
    return Path(png)
